/// One segment of a partition: `<base offset, 20 digits>.log` with its `.index` and `.timeindex`, laid out and
/// indexed exactly as Kafka's `LogSegment` does.
///
/// Not thread-safe by itself: every mutable field is guarded by the owning `Log`'s lock. Readers take what they
/// need (file, committed size, index position) under that lock and do their I/O outside it.
final class LogSegment: @unchecked Sendable {
    let baseOffset: Int64
    let directory: String
    let fileSystem: any FileSystem
    let log: any LogFile
    let offsetIndex: OffsetIndex
    let timeIndex: TimeIndex
    /// Bytes of whole, written batches.
    private(set) var size: Int64
    /// Bytes appended since the last offset index entry (Kafka's `bytesSinceLastIndexEntry`).
    private var bytesSinceLastIndexEntry = 0
    /// The largest batch max timestamp in the segment and the last offset of the batch that had it.
    private var maxTimestampSoFar: (timestamp: Int64, offset: Int64)?
    /// `maxTimestampSoFar` came from every batch of the file (recovery or a header scan, kept up by appends),
    /// so a rescan would find the same: `recomputeMaxTimestamp` skips it.
    private var maxTimestampIsExact = false
    /// The first batch's max timestamp: what `segment.ms` counts from.
    private(set) var rollingBasedTimestamp: Int64?
    /// When the segment was created (for `segment.ms` while it is empty).
    let createdMs: Int64
    /// The suffix its files carry now: "" while live, ".deleted" once scheduled for removal.
    private(set) var suffix = ""
    /// When the indexes were last used, on the owning log's clock (see `Log.ensureIndexesLoaded`).
    var lastIndexUse: UInt64 = 0
    /// Whether the max timestamp is known (the indexes were loaded or rebuilt once): it stays known when the
    /// indexes are unloaded, so retention and the cleaner's lag check need not load them again.
    private(set) var timestampsKnown = false

    static func fileName(_ baseOffset: Int64, _ ext: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "." + ext
    }

    /// Parses `00000000000000000123.log` into 123; nil for any other name.
    static func baseOffset(fromFileName name: String, ext: String = "log") -> Int64? {
        let suffix = "." + ext
        guard name.hasSuffix(suffix) else { return nil }
        let digits = name.dropLast(suffix.count)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(digits)
    }

    func path(_ ext: String) -> String { directory + "/" + Self.fileName(baseOffset, ext) + suffix }

    private init(
        baseOffset: Int64, directory: String, fileSystem: any FileSystem, log: any LogFile, offsetIndex: OffsetIndex,
        timeIndex: TimeIndex, size: Int64, createdMs: Int64
    ) {
        self.baseOffset = baseOffset
        self.directory = directory
        self.fileSystem = fileSystem
        self.log = log
        self.offsetIndex = offsetIndex
        self.timeIndex = timeIndex
        self.size = size
        self.createdMs = createdMs
    }

    /// Creates a new, empty segment (its files must not exist; stale ones are replaced). A `suffix` (the
    /// cleaner's `.cleaned`) is appended to each file name.
    static func create(
        directory: String, baseOffset: Int64, config: LogConfig, fileSystem: any FileSystem, nowMs: Int64,
        suffix: String = ""
    ) throws(FileSystemError) -> LogSegment {
        let name = { (ext: String) in directory + "/" + fileName(baseOffset, ext) + suffix }
        let log = try fileSystem.openFile(name("log"), create: true)
        try log.truncate(to: 0)
        let index = try IndexFile<OffsetEntry>(
            newFile: try fileSystem.openFile(name("index"), create: true), maxIndexBytes: config.segmentIndexBytes)
        let time = try IndexFile<TimeEntry>(
            newFile: try fileSystem.openFile(name("timeindex"), create: true), maxIndexBytes: config.segmentIndexBytes)
        index.reset()
        time.reset()
        let segment = LogSegment(
            baseOffset: baseOffset, directory: directory, fileSystem: fileSystem, log: log,
            offsetIndex: OffsetIndex(storage: index, baseOffset: baseOffset),
            timeIndex: TimeIndex(storage: time, baseOffset: baseOffset), size: try log.size(), createdMs: nowMs)
        segment.suffix = suffix
        segment.timestampsKnown = true
        return segment
    }

    /// Opens an existing segment. Missing index files are created empty and reported in `missingIndexes`
    /// (the caller rebuilds them); existing ones are loaded lazily.
    static func open(
        directory: String, baseOffset: Int64, config: LogConfig, fileSystem: any FileSystem, nowMs: Int64
    ) throws(FileSystemError) -> (segment: LogSegment, missingIndexes: Bool) {
        let name = { (ext: String) in directory + "/" + fileName(baseOffset, ext) }
        let log = try fileSystem.openFile(name("log"), create: false)
        let missing = !fileSystem.fileExists(name("index")) || !fileSystem.fileExists(name("timeindex"))
        let index = IndexFile<OffsetEntry>(
            existingFile: try fileSystem.openFile(name("index"), create: true), maxIndexBytes: config.segmentIndexBytes)
        let time = IndexFile<TimeEntry>(
            existingFile: try fileSystem.openFile(name("timeindex"), create: true),
            maxIndexBytes: config.segmentIndexBytes)
        let segment = LogSegment(
            baseOffset: baseOffset, directory: directory, fileSystem: fileSystem, log: log,
            offsetIndex: OffsetIndex(storage: index, baseOffset: baseOffset),
            timeIndex: TimeIndex(storage: time, baseOffset: baseOffset), size: try log.size(), createdMs: nowMs)
        return (segment, missing)
    }

    var indexesLoaded: Bool { offsetIndex.storage.isLoaded && timeIndex.storage.isLoaded }

    /// Loads both indexes from their files (a no-op once loaded). `nextOffset` bounds the time index (entries at
    /// or past it belong to a truncated tail). Corrupt files throw: the caller rebuilds.
    func loadIndexes(nextOffset: Int64) throws(IndexError) {
        try offsetIndex.load(logSize: size)
        try timeIndex.load(logEndOffset: nextOffset)
        if maxTimestampSoFar == nil, let last = timeIndex.last {
            maxTimestampSoFar = last
            maxTimestampIsExact = false
        }
        timestampsKnown = true
    }

    /// Bytes of index entries held in memory.
    var indexMemoryBytes: Int {
        (offsetIndex.storage.isLoaded ? offsetIndex.storage.memoryBytes : 0)
            + (timeIndex.storage.isLoaded ? timeIndex.storage.memoryBytes : 0)
    }

    /// Writes the indexes as a rolled segment's are (final time entry, trimmed files), then drops their entries
    /// from memory; they are loaded again on next use. Only for inactive segments.
    func unloadIndexes() throws(FileSystemError) {
        guard indexesLoaded else { return }
        try onBecomeInactive()
        offsetIndex.storage.unload()
        timeIndex.storage.unload()
    }

    // MARK: Appending

    /// Where the disk blocks reserved ahead of the appends end (`reserve(through:)`); at most `size` when none are.
    private var reservedEnd: Int64 = 0

    /// Reserves the log file's blocks from the end of the data (or of the last reservation) through `end` and a
    /// step beyond, without changing the file's size (`LogFile.reserve`). A buffered write into reserved blocks
    /// skips the file system's block allocation (ext4's delayed-allocation bookkeeping, per page), which is a
    /// measured 5-8% of an append's time in the kernel (papers/evaluation.md, section 3.2). Reserving starts once
    /// the segment holds 1 MiB, so a quiet partition reserves nothing; the step is then an eighth of the segment,
    /// between 1 and 64 MiB, so a busy one holds at most an eighth of its active segment (64 MiB) beyond its data.
    /// What is left is released when the segment stops being active (`onBecomeInactive`). Kafka's `preallocate`
    /// reserves the whole segment and shows it in the file's size; here the size is always the data's, so readers,
    /// recovery and Kafka's tools see no difference.
    private func reserve(through end: Int64) {
        let start = max(reservedEnd, size)
        let step = min(max(size / 8, Self.minimumReservation), Self.maximumReservation)
        let length = max(end - start, 0) + step
        if log.reserve(length, at: start) { reservedEnd = start + length }
    }

    static let minimumReservation: Int64 = 1 << 20
    static let maximumReservation: Int64 = 64 << 20

    /// What the index maintenance needs of each appended batch.
    struct AppendedBatch {
        var lastOffset: Int64
        var maxTimestamp: Int64
        var size: Int
    }

    /// Writes `parts` (whole batches, described in order by `batches`) at the end of the segment, then
    /// maintains the indexes by Kafka's rule: before a batch's bytes are counted, if more than
    /// `indexIntervalBytes` were appended since the last entry, index (its last offset -> its position).
    func append(
        parts: [UnsafeRawBufferPointer], batches: [AppendedBatch], indexIntervalBytes: Int
    ) throws(FileSystemError) {
        precondition(indexesLoaded, "append to a segment whose indexes are not loaded")
        var length = 0
        for part in parts { length += part.count }
        if size + Int64(length) > reservedEnd && size >= Self.minimumReservation {
            reserve(through: size + Int64(length))
        }
        try log.write(gathering: parts, at: size)
        var position = size
        for batch in batches {
            if rollingBasedTimestamp == nil && position == 0 { rollingBasedTimestamp = batch.maxTimestamp }
            index(batch, at: position, indexIntervalBytes: indexIntervalBytes)
            position += Int64(batch.size)
        }
        size = position
    }

    private func index(_ batch: AppendedBatch, at position: Int64, indexIntervalBytes: Int) {
        precondition(batch.lastOffset >= baseOffset && batch.lastOffset - baseOffset <= Int64(UInt32.max))
        if batch.maxTimestamp > (maxTimestampSoFar?.timestamp ?? -1) {
            maxTimestampSoFar = (batch.maxTimestamp, batch.lastOffset)
        }
        if bytesSinceLastIndexEntry > indexIntervalBytes && !offsetIndex.storage.isFull {
            offsetIndex.append(offset: batch.lastOffset, position: Int(position))
            if let max = maxTimestampSoFar { timeIndex.maybeAppend(timestamp: max.timestamp, offset: max.offset) }
            bytesSinceLastIndexEntry = 0
        }
        bytesSinceLastIndexEntry += batch.size
    }

    /// Whether appending `bytes` more (ending at `lastOffset`, newest timestamp `maxTimestamp`) requires a new
    /// segment first (Kafka's `shouldRoll`): the size, a full index, offsets that no longer fit the index, or
    /// `segment.ms` measured from the first batch's timestamp to the incoming one (wall clock from creation when
    /// the first batch has no timestamp).
    func shouldRoll(appending bytes: Int, lastOffset: Int64, maxTimestamp: Int64, config: LogConfig, nowMs: Int64) -> Bool {
        guard size > 0 else { return false }
        if size + Int64(bytes) > Int64(config.segmentBytes) { return true }
        if offsetIndex.storage.isFull || timeIndex.storage.isFull { return true }
        if lastOffset - baseOffset > Int64(UInt32.max) { return true }
        let waited = (rollingBasedTimestamp ?? -1) >= 0 ? maxTimestamp - rollingBasedTimestamp! : nowMs - createdMs
        return waited > config.segmentMs - config.segmentJitterMs
    }

    // MARK: Reading

    /// The position to start scanning from to find `offset`: the greatest offset index entry at or below it.
    func indexedPosition(for offset: Int64) -> Int64 {
        precondition(indexesLoaded, "read of a segment whose indexes are not loaded")
        return Int64(offsetIndex.lookup(offset).position)
    }

    /// `indexedPosition(for:)` and where the batch holding `offset` starts if the index has it (see
    /// `BatchLocator`).
    func indexedPositions(for offset: Int64) -> (start: Int64, candidate: Int64?) {
        precondition(indexesLoaded, "read of a segment whose indexes are not loaded")
        let (floor, next) = offsetIndex.positions(for: offset)
        return (Int64(floor), next.map { Int64($0) })
    }

    /// The largest timestamp in the segment (-1 when there is none).
    var largestTimestamp: Int64 { maxTimestampSoFar?.timestamp ?? -1 }
    var offsetOfLargestTimestamp: Int64? { maxTimestampSoFar?.offset }

    // MARK: Recovery

    /// What recovery found in a segment.
    struct RecoveryResult {
        /// Bytes of valid batches (the segment is truncated to this).
        var validBytes: Int64
        /// Bytes dropped from the tail.
        var truncatedBytes: Int64
        /// The offset after the last valid batch (`baseOffset` when none).
        var nextOffset: Int64
        /// Why the tail was dropped, when it was.
        var reason: LogError?
    }

    /// Rescans the whole segment: validates every batch (length, magic, CRC, offsets in range and increasing),
    /// rebuilds both indexes by the append rule, and truncates everything after the last valid batch.
    /// Memory stays bounded by `bufferSize` or the largest batch, whichever is larger; a length field is never
    /// believed beyond the bytes the file holds.
    func recover(indexIntervalBytes: Int, bufferSize: Int = 1 << 20) throws(LogError) -> RecoveryResult {
        offsetIndex.storage.reset()
        timeIndex.storage.reset()
        maxTimestampSoFar = nil
        rollingBasedTimestamp = nil
        timestampsKnown = true
        let fileSize: Int64
        do { fileSize = try log.size() } catch { throw .io(error) }
        var window = RecoveryWindow(file: log, fileSize: fileSize, bufferSize: bufferSize)
        var position: Int64 = 0
        var expectedNext = baseOffset
        var lastIndexEntry: Int64 = 0
        var failure: LogError?
        while position < fileSize {
            let result = try window.validateBatch(at: position)
            let header: RecordBatchHeader
            switch result {
            case .failure(let reason):
                failure = .corruptBatch(file: log.path, position: position, reason: reason)
            case .success(let h):
                header = h
                guard header.baseOffset >= expectedNext, header.lastOffset - baseOffset <= Int64(UInt32.max) else {
                    failure = .corruptBatch(
                        file: log.path, position: position,
                        reason: .corruptRecord(
                            index: 0, position: 0,
                            reason: "batch offsets \(header.baseOffset)...\(header.lastOffset) out of order (expected \(expectedNext) or later)"))
                    break
                }
                if header.maxTimestamp > (maxTimestampSoFar?.timestamp ?? -1) {
                    maxTimestampSoFar = (header.maxTimestamp, header.lastOffset)
                }
                if position - lastIndexEntry > Int64(indexIntervalBytes) && !offsetIndex.storage.isFull {
                    offsetIndex.append(offset: header.lastOffset, position: Int(position))
                    if let max = maxTimestampSoFar { timeIndex.maybeAppend(timestamp: max.timestamp, offset: max.offset) }
                    lastIndexEntry = position
                }
                if position == 0 { rollingBasedTimestamp = header.maxTimestamp }
                position += Int64(header.sizeInBytes)
                expectedNext = header.nextOffset
                continue
            }
            break
        }
        let truncated = fileSize - position
        if truncated > 0 {
            do { try log.truncate(to: position) } catch { throw .io(error) }
        }
        size = position
        bytesSinceLastIndexEntry = 0
        maxTimestampIsExact = true
        // As Kafka does: a recovered segment ends its time index with the largest timestamp seen, and both
        // index files are cut to their entries (the log preallocates the active segment's again).
        if let max = maxTimestampSoFar { timeIndex.maybeAppend(timestamp: max.timestamp, offset: max.offset, ignoreFull: true) }
        do throws(FileSystemError) {
            try offsetIndex.storage.rewriteTrimmed()
            try timeIndex.storage.rewriteTrimmed()
        } catch {
            throw .io(error)
        }
        return RecoveryResult(validBytes: position, truncatedBytes: truncated, nextOffset: expectedNext, reason: failure)
    }

    // MARK: Truncation, roll, close

    /// Removes every batch holding an offset at or above `offset`; returns the new next offset of the segment
    /// (at most `offset`: a batch straddling it goes whole). The caller knows the batches from a header scan.
    func truncate(toPosition position: Int64, nextOffset: Int64) throws(FileSystemError) {
        precondition(position >= 0 && position <= size)
        try log.truncate(to: position)
        size = position
        reservedEnd = 0  // the truncation released them
        offsetIndex.truncate(toOffset: nextOffset)
        timeIndex.truncate(toOffset: nextOffset)
        try offsetIndex.storage.rewrite()
        try timeIndex.storage.rewrite()
        // The max timestamp is recomputed from what remains.
        maxTimestampSoFar = timeIndex.last
        maxTimestampIsExact = false
        bytesSinceLastIndexEntry = 0
        if position == 0 { rollingBasedTimestamp = nil }
    }

    /// Recomputes the max timestamp by scanning headers (after a truncation that left the time index short); a
    /// no-op when it is already exact (just recovered: the open of a log that needed recovery).
    func recomputeMaxTimestamp() throws(LogError) {
        guard !maxTimestampIsExact else { return }
        var scanner = BatchHeaderScanner(file: log, from: 0, end: size)
        var max: (Int64, Int64)?
        while let (header, _) = try scanner.next() {
            if header.maxTimestamp > (max?.0 ?? -1) { max = (header.maxTimestamp, header.lastOffset) }
        }
        maxTimestampSoFar = max
        maxTimestampIsExact = true
    }

    /// Called when a newer segment takes over: the final time index entry, then both indexes trimmed.
    func onBecomeInactive() throws(FileSystemError) {
        if let max = maxTimestampSoFar { timeIndex.maybeAppend(timestamp: max.timestamp, offset: max.offset, ignoreFull: true) }
        try offsetIndex.storage.trim()
        try timeIndex.storage.trim()
        if reservedEnd > size {
            // Truncating to the same size releases the blocks reserved past it.
            try log.truncate(to: size)
            reservedEnd = size
        }
    }

    /// Makes the log file durable (index files are written behind and rebuilt by recovery when needed).
    func flush() throws(FileSystemError) {
        try log.sync()
    }

    /// Writes indexes and syncs everything (a clean close).
    func close() throws(FileSystemError) {
        guard indexesLoaded else { return }
        try onBecomeInactive()
        try offsetIndex.storage.file.sync()
        try timeIndex.storage.file.sync()
        try log.sync()
    }

    /// Renames the files to `<name>.deleted` (they are removed later, so open readers are never cut off). The
    /// log file goes first; `afterLog` runs between it and the indexes (crash tests stop there).
    func markDeleted(afterLog: () -> Void = {}) throws(FileSystemError) {
        guard suffix.isEmpty else { return }
        try changeSuffix(to: ".deleted", afterLog: afterLog)
    }

    /// Renames the three files from the current suffix to `newSuffix` (`.cleaned` -> `.swap` -> live, live ->
    /// `.deleted`), the log file first, then the indexes. Missing files are skipped (indexes are rebuilt).
    func changeSuffix(to newSuffix: String, afterLog: () -> Void = {}) throws(FileSystemError) {
        let old = suffix
        for ext in ["log", "index", "timeindex"] {
            let from = directory + "/" + Self.fileName(baseOffset, ext) + old
            let to = directory + "/" + Self.fileName(baseOffset, ext) + newSuffix
            if fileSystem.fileExists(from) { try fileSystem.rename(from, to: to) }
            if ext == "log" {
                suffix = newSuffix
                afterLog()
            }
        }
    }

    /// Removes the files (after `markDeleted` and the delay).
    func removeFiles() throws(FileSystemError) {
        for ext in ["log", "index", "timeindex"] { try fileSystem.removeFile(path(ext)) }
    }
}

/// A window over a segment file for recovery: reads ahead in large chunks into one buffer, allocated once (a new
/// buffer per window cost a zero-fill and fresh pages for every MiB recovered), re-reading from a batch's start
/// when the batch runs past the window. A batch larger than the buffer grows it to that batch's size.
struct RecoveryWindow {
    let file: any LogFile
    let fileSize: Int64
    let bufferSize: Int
    private var buffer: [UInt8] = []
    /// Valid bytes in `buffer`, holding the file's [start, start + count).
    private var count = 0
    private var start: Int64 = 0

    init(file: any LogFile, fileSize: Int64, bufferSize: Int) {
        self.file = file
        self.fileSize = fileSize
        self.bufferSize = bufferSize
    }

    /// Makes [position, position + count) available (count already capped at the file's end).
    private mutating func ensure(_ position: Int64, _ wanted: Int) throws(LogError) {
        if position >= start && position + Int64(wanted) <= start + Int64(count) { return }
        let want = Int(min(Int64(max(bufferSize, wanted)), fileSize - position))
        if buffer.count < want { buffer = [UInt8](repeating: 0, count: want) }
        let file = self.file
        let n = try buffer.withMutableBytes { (b) throws(LogError) -> Int in
            do throws(FileSystemError) {
                return try file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<want]), at: position)
            } catch {
                throw .io(error)
            }
        }
        start = position
        count = n
    }

    /// Validates the batch at `position`: header, length within the file, CRC. I/O errors throw; a bad batch is
    /// a `.failure` with the reason.
    mutating func validateBatch(at position: Int64) throws(LogError) -> Result<RecordBatchHeader, RecordBatchError> {
        let remaining = fileSize - position
        try ensure(position, Int(min(remaining, Int64(RecordBatch.headerSize))))
        let offset = Int(position - start)
        let size: Int
        do {
            size = try buffer.withBytes { (b) throws(RecordBatchError) in
                try RecordBatch.size(ofBatchAt: UnsafeRawBufferPointer(rebasing: b[offset..<count]), maxBatchSize: Int(Int32.max))
            }
        } catch {
            return .failure(error)
        }
        guard Int64(size) <= remaining else { return .failure(.truncated(needed: size, available: Int(remaining))) }
        try ensure(position, size)
        let at = Int(position - start)
        let available = min(at + size, count)  // a short read leaves the batch truncated
        return buffer.withUnsafeBytes { b in
            Result { () throws(RecordBatchError) in
                RecordBatchHeader(try RecordBatch(validating: UnsafeRawBufferPointer(rebasing: b[at..<available]), maxBatchSize: size))
            }
        }
    }
}
