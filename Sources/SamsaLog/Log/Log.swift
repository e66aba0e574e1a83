import Logging
import Synchronization

/// One partition's log: a directory of segments, appended at the end, read by offset or timestamp.
///
/// ```swift
/// let log = try Log.open(directory: "/data/orders-0", config: LogConfig())
/// var builder = RecordBatchBuilder()
/// builder.append(timestamp: systemClock(), key: nil, value: Array("hello".utf8))
/// let batch = try builder.build()
/// let result = try batch.withUnsafeBytes { try log.append($0) }          // offsets assigned: result.firstOffset
/// if let slice = try log.read(from: result.firstOffset, maxBytes: 1 << 20).slice {
///     let bytes = try slice.readBytes()                                     // whole batches, as on disk
/// }
/// try log.close()
/// ```
///
/// Concurrency: appends are serialized by the log's lock (one writer at a time); a read holds the lock only
/// to find its segment and index position, and does its file I/O outside it, against bytes that were
/// committed (written whole) before it looked.
public final class Log: Sendable {
    public let directory: String
    public let topicPartition: TopicPartition?
    let fileSystem: any FileSystem
    let clock: Clock
    let logger: Logger
    let appendObserver: (@Sendable (Int64) -> Void)?
    let state: Mutex<State>
    /// The config's part that appends are checked against, apart from `state` (see `LogValidator.Rules`).
    private let validationRules: Mutex<LogValidator.Rules>
    /// What `open` found and did (recovery, truncations, rebuilt indexes).
    public var openReport: LogOpenReport {
        get { report.withLock { $0 } }
        set { report.withLock { $0 = newValue } }
    }
    private let report = Mutex(LogOpenReport())

    struct State {
        var config: LogConfig
        /// Sorted by base offset; the last is the active segment.
        var segments: [LogSegment]
        var logEndOffset: Int64
        var logStartOffset: Int64
        /// Offsets below this are durable (fsynced).
        var recoveryPoint: Int64
        var unflushedRecords: Int64 = 0
        var lastFlushMs: Int64
        /// Set when a write failed: further writes are refused until the log is reopened.
        var offlineReason: String?
        var closed = false
        /// Counts index uses: each segment notes the count at its last use (the least recent are unloaded first).
        var indexUseClock: UInt64 = 0
        /// The memory inactive segments' index entries may take (`Log.inactiveIndexBudgetBytes`; tests lower it).
        var inactiveIndexBudget = Log.inactiveIndexBudgetBytes
        /// Headers with assigned offsets, kept for the duration of one write.
        var headerScratch: [UInt8] = []
        /// The gathered write's parts and the segment's per-batch notes of one write, empty between writes (kept
        /// for their capacity: an append allocates no array).
        var partsScratch = GatherScratch()
        var appendedScratch: [LogSegment.AppendedBatch] = []
        /// Idempotent producers' sequences.
        var producerState: ProducerStateManager
        /// Segments renamed `.deleted` (by retention or a cleaner swap) whose files are removed once
        /// `file.delete.delay.ms` has passed (see Retention/).
        var pendingDeletions: [(segment: LogSegment, dueMs: Int64)] = []
        /// The cleaner's clean point (offsets below it were cleaned), when known (see Cleaner/).
        var firstDirtyOffset: Int64?
        /// The last cleaning of this log in this process.
        var lastCleaning: CleanerStats?
        /// The earliest delete horizon the cleaner wrote on batches that still hold tombstones: once it has passed,
        /// a cleaning can remove them even if nothing new was written.
        var earliestDeleteHorizonMs: Int64?

        var active: LogSegment { segments[segments.count - 1] }

        /// The index of the segment holding `offset` (the last whose base offset is at or below it).
        func segmentIndex(for offset: Int64) -> Int? {
            var low = 0
            var high = segments.count - 1
            var found: Int?
            while low <= high {
                let mid = (low + high) / 2
                if segments[mid].baseOffset <= offset {
                    found = mid
                    low = mid + 1
                } else {
                    high = mid - 1
                }
            }
            return found
        }

        /// The offset after the last batch of segment `i` (the next segment's base, or the log end).
        func nextOffset(ofSegment i: Int) -> Int64 {
            i + 1 < segments.count ? segments[i + 1].baseOffset : logEndOffset
        }
    }

    /// The parts array of a gathered write, kept in the state for its capacity. It holds pointers only during a
    /// write (under the lock) and is empty otherwise, so sharing it across threads is safe.
    struct GatherScratch: @unchecked Sendable {
        var parts: [UnsafeRawBufferPointer] = []
    }

    init(
        directory: String, topicPartition: TopicPartition?, fileSystem: any FileSystem, clock: @escaping Clock,
        logger: Logger, appendObserver: (@Sendable (Int64) -> Void)?, state: State
    ) {
        self.directory = directory
        self.topicPartition = topicPartition
        self.fileSystem = fileSystem
        self.clock = clock
        self.logger = logger
        self.appendObserver = appendObserver
        self.validationRules = Mutex(LogValidator.Rules(state.config))
        self.state = Mutex(state)
        // Recovery at open leaves the indexes it rebuilt loaded: keep only the budget's worth.
        self.state.withLock { unloadLeastRecentlyUsedIndexes(&$0) }
    }

    // MARK: Offsets and sizes

    /// The offset the next appended record will get.
    public var logEndOffset: Int64 { state.withLock { $0.logEndOffset } }
    /// The first offset still in the log.
    public var logStartOffset: Int64 { state.withLock { $0.logStartOffset } }
    /// The last offset consumers may read up to (exclusive). A single-replica log commits on write.
    public var highWatermark: Int64 { logEndOffset }
    /// Offsets below this were fsynced.
    public var recoveryPoint: Int64 { state.withLock { $0.recoveryPoint } }
    /// Bytes in all segments.
    public var size: Int64 { state.withLock { $0.segments.reduce(0) { $0 + $1.size } } }
    public var segmentCount: Int { state.withLock { $0.segments.count } }
    /// The base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { state.withLock { $0.segments.map(\.baseOffset) } }
    public var config: LogConfig { state.withLock { $0.config } }
    /// Why the log refuses writes, if it does.
    public var offlineReason: String? { state.withLock { $0.offlineReason } }

    /// Changes the log's settings; they apply from the next append, roll or retention pass.
    public func updateConfig(_ config: LogConfig) {
        state.withLock {
            $0.config = config
            validationRules.withLock { $0 = LogValidator.Rules(config) }
        }
    }

    // MARK: Append

    /// What an append did.
    public struct AppendResult: Sendable, Equatable {
        public var firstOffset: Int64
        public var lastOffset: Int64
        /// The broker's timestamp for LogAppendTime topics, -1 otherwise (as Kafka's produce response says).
        public var logAppendTime: Int64
        public var logStartOffset: Int64
        public var recordCount: Int
        public var batchCount: Int
        public var bytes: Int
        /// The batch was a retry of one already in the log: nothing was written, the offsets are the original's.
        public var isDuplicate: Bool = false
    }

    /// Appends whole batches (one or more, back to back). For `.client` appends, offsets are assigned by
    /// rewriting each header's base offset (and leader epoch), and LogAppendTime topics get the broker's time;
    /// nothing else is touched or re-encoded. The bytes are written with one gathered write.
    @discardableResult
    public func append(
        _ bytes: UnsafeRawBufferPointer, origin: AppendOrigin = .client, leaderEpoch: Int32 = 0
    ) throws(LogError) -> AppendResult {
        let batches = try validate(bytes, origin: origin)
        return try append(bytes, validated: batches, origin: origin, leaderEpoch: leaderEpoch)
    }

    /// The checks of an append (`LogValidator`), which never wait for the log's lock: they can run on any thread
    /// while another writes (`LogAppender` runs them on the submitting thread).
    func validate(_ bytes: UnsafeRawBufferPointer, origin: AppendOrigin) throws(LogError) -> ValidatedBatches {
        let rules = validationRules.withLock { $0 }
        var scratch: [UInt8] = []
        return try LogValidator.validate(bytes, origin: origin, rules: rules, scratch: &scratch)
    }

    /// One append's bytes and their checked batches (`validate`).
    struct CheckedAppend {
        var bytes: UnsafeRawBufferPointer
        var batches: ValidatedBatches
    }

    /// The write of an append whose `bytes` passed `validate`: offsets, the segment write, then the flush policy.
    func append(
        _ bytes: UnsafeRawBufferPointer, validated batches: ValidatedBatches, origin: AppendOrigin, leaderEpoch: Int32
    ) throws(LogError) -> AppendResult {
        var result: AppendResult?
        try withUnsafePointer(to: CheckedAppend(bytes: bytes, batches: batches)) { (single) throws(LogError) in
            try append(group: UnsafeBufferPointer(start: single, count: 1), origin: origin, leaderEpoch: leaderEpoch) {
                result = $1
            }
        }
        guard let result else { preconditionFailure("an append without a result") }
        return result
    }

    /// Writes several checked appends as one (group commit, for `LogAppender`): offsets in their order, one
    /// gathered write for all of them, then the flush policy; `result` gets each append's result, in order. A
    /// group of more than one holds producer appends without producer ids (an idempotent batch is checked against
    /// its producer's state alone); a write error fails them all, as it fails a single append.
    func append(
        group: UnsafeBufferPointer<CheckedAppend>, origin: AppendOrigin, leaderEpoch: Int32,
        result: (Int, AppendResult) -> Void
    ) throws(LogError) {
        let (nextOffset, flushMessages) = try state.withLock { (state) throws(LogError) -> (Int64, Int64) in
            try self.write(group, origin: origin, leaderEpoch: leaderEpoch, state: &state, result: result)
            return (state.logEndOffset, state.config.flushMessages)
        }
        appendObserver?(nextOffset)
        if flushMessages != .max {
            let due = state.withLock { $0.unflushedRecords >= flushMessages }
            if due { try flush() }
        }
    }

    private func write(
        _ appends: UnsafeBufferPointer<CheckedAppend>, origin: AppendOrigin, leaderEpoch: Int32, state: inout State,
        result: (Int, AppendResult) -> Void
    ) throws(LogError) {
        precondition(!appends.isEmpty, "an empty group")
        precondition(
            appends.count == 1 || (origin == .client && !appends.contains { $0.batches.hasProducerId }),
            "a group of appends holds producer batches without producer ids")
        guard !state.closed else { throw .closed(directory: directory) }
        if let reason = state.offlineReason { throw .offline(reason: reason) }
        let now = clock()
        let logAppendTime = state.config.messageTimestampType == .logAppendTime ? now : -1
        let firstOffset: Int64
        let lastOffset: Int64
        var batchCount = 0
        var totalBytes = 0
        for append in appends {
            batchCount += append.batches.count
            totalBytes += append.bytes.count
        }
        switch origin {
        case .client:
            firstOffset = state.logEndOffset
            var records: Int64 = 0
            for append in appends {
                for i in 0..<append.batches.count { records += Int64(append.batches[i].header.recordCount) }
            }
            lastOffset = firstOffset + records - 1
        case .raw:
            let batches = appends[0].batches
            firstOffset = batches[0].header.baseOffset
            lastOffset = batches[batches.count - 1].header.lastOffset
            var previousEnd = state.logEndOffset
            for i in 0..<batches.count {
                let batch = batches[i]
                guard batch.header.baseOffset >= previousEnd else {
                    throw .invalidRecord(
                        batch: i,
                        reason: "base offset \(batch.header.baseOffset) is below the log end offset \(previousEnd)")
                }
                previousEnd = batch.header.nextOffset
            }
        }
        if origin == .client, appends[0].batches.hasProducerId {
            let batches = appends[0].batches
            guard batches.count == 1 else {
                throw .invalidRecord(batch: 1, reason: "an idempotent producer must send one batch per partition")
            }
            if case .duplicate(let original) = try state.producerState.check(batches[0].header, batch: 0) {
                result(0, AppendResult(
                    firstOffset: original.firstOffset, lastOffset: original.lastOffset, logAppendTime: logAppendTime,
                    logStartOffset: state.logStartOffset, recordCount: Int(batches[0].header.recordCount), batchCount: 1,
                    bytes: 0, isDuplicate: true))
                return
            }
        }
        var incomingMaxTimestamp = logAppendTime
        if logAppendTime < 0 {
            incomingMaxTimestamp = .min
            for append in appends {
                for i in 0..<append.batches.count {
                    incomingMaxTimestamp = max(incomingMaxTimestamp, append.batches[i].header.maxTimestamp)
                }
            }
        }
        if state.active.shouldRoll(
            appending: totalBytes, lastOffset: lastOffset, maxTimestamp: incomingMaxTimestamp, config: state.config,
            nowMs: now)
            || (state.active.size == 0 && lastOffset - state.active.baseOffset > Int64(UInt32.max))
        {
            // (An empty segment whose base is too far below a raw append's offsets is replaced, too.)
            try roll(at: firstOffset, state: &state)
        }
        let segment = state.active
        // The scratch arrays are moved out of the state for the write (no copy) and put back emptied.
        var appended: [LogSegment.AppendedBatch] = []
        var parts: [UnsafeRawBufferPointer] = []
        swap(&appended, &state.appendedScratch)
        swap(&parts, &state.partsScratch.parts)
        defer {
            appended.removeAll(keepingCapacity: true)
            parts.removeAll(keepingCapacity: true)
            swap(&appended, &state.appendedScratch)
            swap(&parts, &state.partsScratch.parts)
        }
        do {
            switch origin {
            case .raw:
                let batches = appends[0].batches
                for i in 0..<batches.count {
                    let batch = batches[i]
                    appended.append(.init(lastOffset: batch.header.lastOffset, maxTimestamp: batch.header.maxTimestamp, size: batch.header.sizeInBytes))
                }
                parts.append(appends[0].bytes)
                try segment.append(parts: parts, batches: appended, indexIntervalBytes: state.config.indexIntervalBytes)
            case .client:
                // New headers (offsets, epoch, append time) in the scratch buffer; the records are written from
                // the callers' bytes: header_0, body_0, header_1, body_1...
                let headerSize = RecordBatch.headerSize
                state.headerScratch.removeAll(keepingCapacity: true)
                state.headerScratch.reserveCapacity(batchCount * headerSize)
                var nextOffset = firstOffset
                for append in appends {
                    let (bytes, batches) = (append.bytes, append.batches)
                    for i in 0..<batches.count {
                        let batch = batches[i]
                        let start = state.headerScratch.count
                        state.headerScratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[batch.position..<(batch.position + headerSize)]))
                        state.headerScratch.storeBigEndian(nextOffset, at: start + RecordBatch.Field.baseOffset)
                        state.headerScratch.storeBigEndian(leaderEpoch, at: start + RecordBatch.Field.partitionLeaderEpoch)
                        var maxTimestamp = batch.header.maxTimestamp
                        if logAppendTime >= 0 {
                            maxTimestamp = logAppendTime
                            let attributes = batch.header.attributes | 0x08
                            state.headerScratch.storeBigEndian(attributes, at: start + RecordBatch.Field.attributes)
                            state.headerScratch.storeBigEndian(logAppendTime, at: start + RecordBatch.Field.maxTimestamp)
                            let body = UnsafeRawBufferPointer(rebasing: bytes[(batch.position + headerSize)..<(batch.position + batch.header.sizeInBytes)])
                            let crc = state.headerScratch.withUnsafeBytes { h in
                                CRC32C.update(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: h[(start + RecordBatch.Field.attributes)..<(start + headerSize)])), body)
                            }
                            state.headerScratch.storeBigEndian(crc, at: start + RecordBatch.Field.crc)
                        }
                        let last = nextOffset + Int64(batch.header.lastOffsetDelta)
                        appended.append(.init(lastOffset: last, maxTimestamp: maxTimestamp, size: batch.header.sizeInBytes))
                        nextOffset = last + 1
                    }
                }
                let intervalBytes = state.config.indexIntervalBytes
                try state.headerScratch.withBytes { (headers) throws(FileSystemError) in
                    var h = 0
                    for append in appends {
                        let (bytes, batches) = (append.bytes, append.batches)
                        for i in 0..<batches.count {
                            let batch = batches[i]
                            parts.append(UnsafeRawBufferPointer(rebasing: headers[(h * headerSize)..<((h + 1) * headerSize)]))
                            parts.append(UnsafeRawBufferPointer(rebasing: bytes[(batch.position + headerSize)..<(batch.position + batch.header.sizeInBytes)]))
                            h += 1
                        }
                    }
                    try segment.append(parts: parts, batches: appended, indexIntervalBytes: intervalBytes)
                }
            }
        } catch {
            // The segment's size did not move, so readers never see the partial write. Take the log offline for
            // writes (as Kafka takes a failed log directory offline) and try to cut the partial bytes off.
            state.offlineReason = error.description
            try? segment.log.truncate(to: segment.size)
            logger.error("log \(directory) is offline for writes: \(error)")
            throw .io(error)
        }
        var k = 0
        var recordCount = 0
        for (n, append) in appends.enumerated() {
            let batches = append.batches
            var records = 0
            for i in 0..<batches.count {
                let (batch, written) = (batches[i], appended[k + i])
                let first = written.lastOffset - Int64(batch.header.lastOffsetDelta)
                state.producerState.update(batch.header, firstOffset: first, lastOffset: written.lastOffset, timestamp: written.maxTimestamp)
                records += Int(batch.header.recordCount)
            }
            let first = appended[k].lastOffset - Int64(batches[0].header.lastOffsetDelta)
            result(n, AppendResult(
                firstOffset: first, lastOffset: appended[k + batches.count - 1].lastOffset, logAppendTime: logAppendTime,
                logStartOffset: state.logStartOffset, recordCount: records, batchCount: batches.count,
                bytes: append.bytes.count))
            k += batches.count
            recordCount += records
        }
        state.logEndOffset = lastOffset + 1
        state.unflushedRecords += Int64(recordCount)
    }

    // MARK: Roll

    /// Starts a new segment at the log end offset (a no-op when the active segment is empty).
    public func roll() throws(LogError) {
        try state.withLock { (state) throws(LogError) in
            guard !state.closed else { throw .closed(directory: directory) }
            guard state.active.size > 0 else { return }
            try roll(at: state.logEndOffset, state: &state)
        }
    }

    private func roll(at baseOffset: Int64, state: inout State) throws(LogError) {
        let old = state.active
        do {
            try old.onBecomeInactive()
            // An empty active segment is replaced rather than kept beside the new one.
            if old.size == 0 {
                state.segments.removeLast()
                try old.markDeleted()
                try old.removeFiles()
            }
            let segment = try LogSegment.create(
                directory: directory, baseOffset: baseOffset, config: state.config, fileSystem: fileSystem, nowMs: clock())
            state.segments.append(segment)
            // (When the replaced empty segment was the only one, the log now starts where the new one does.)
            state.logStartOffset = max(state.logStartOffset, state.segments[0].baseOffset)
            // The segment just rolled keeps its entries loaded; older ones beyond the budget are dropped.
            unloadLeastRecentlyUsedIndexes(&state)
            // As Kafka: the producer state is snapshotted where the new segment starts, so recovery of that segment
            // replays only its own batches; snapshots older than the first segment are dropped.
            state.producerState.removeExpired(nowMs: clock(), expirationMs: state.config.producerIdExpirationMs)
            try state.producerState.takeSnapshot()
            try state.producerState.removeSnapshots(below: state.segments[0].baseOffset)
        } catch {
            state.offlineReason = error.description
            logger.error("log \(directory) is offline for writes: \(error)")
            throw .io(error)
        }
        logger.debug("\(directory): rolled new segment \(LogSegment.fileName(baseOffset, "log"))")
    }

    // MARK: Read

    /// What a read found.
    public struct ReadResult: Sendable {
        /// Whole batches starting with the one holding the requested offset (the last may be cut by maxBytes,
        /// as Kafka's fetch responses are); nil when there is nothing at or after the offset yet.
        public var slice: FileSlice?
        public var highWatermark: Int64
        public var logStartOffset: Int64
        public var logEndOffset: Int64
    }

    /// Reads from the batch holding `offset`, up to `maxBytes`. With `minOneBatch`, a first batch larger than
    /// `maxBytes` is returned whole so a consumer can always make progress. Offsets below the log start or past
    /// the log end are out of range; the log end itself reads nothing.
    public func read(from offset: Int64, maxBytes: Int, minOneBatch: Bool = true) throws(LogError) -> ReadResult {
        // Under the lock: which segment, where its index says to start, how far bytes are committed. At most two
        // segments: the one holding the offset and, for an offset in a gap at its end (compaction), the next.
        struct Plan {
            var file: any LogFile
            var start: Int64
            var candidate: Int64?
            var end: Int64
        }
        var first: Plan?
        var second: Plan?
        let (startOffset, endOffset) = try state.withLock { (state) throws(LogError) -> (Int64, Int64) in
            guard !state.closed else { throw .closed(directory: directory) }
            guard offset >= state.logStartOffset, offset <= state.logEndOffset else {
                throw .offsetOutOfRange(offset: offset, logStartOffset: state.logStartOffset, logEndOffset: state.logEndOffset)
            }
            if offset < state.logEndOffset, let holding = state.segmentIndex(for: offset) {
                // The offset may sit in a gap at a segment's end (compaction, or a crash that lost a rolled
                // segment's tail): the next segment with batches holds what follows. Empty segments are skipped.
                try ensureIndexesLoaded(holding, state: &state)
                let segment = state.segments[holding]
                let (start, candidate) = segment.indexedPositions(for: offset)
                if start < segment.size {
                    first = Plan(file: segment.log, start: start, candidate: candidate, end: segment.size)
                }
                var i = holding + 1
                while i < state.segments.count, first == nil || second == nil {
                    let next = state.segments[i]
                    i += 1
                    guard next.size > 0 else { continue }
                    let plan = Plan(file: next.log, start: 0, candidate: nil, end: next.size)
                    if first == nil { first = plan } else { second = plan }
                }
            }
            return (state.logStartOffset, state.logEndOffset)
        }
        for k in 0..<2 {
            guard let plan = k == 0 ? first : second else { break }
            guard
                let (header, position) = try BatchLocator.firstBatch(
                    lastOffsetAtOrAfter: offset, file: plan.file, from: plan.start, candidate: plan.candidate, end: plan.end)
            else { continue }
            let wanted = minOneBatch ? max(maxBytes, header.sizeInBytes) : maxBytes
            let length = Int(min(plan.end - position, Int64(wanted)))
            let slice = length > 0 ? FileSlice(file: plan.file, position: position, length: length) : nil
            return ReadResult(slice: slice, highWatermark: endOffset, logStartOffset: startOffset, logEndOffset: endOffset)
        }
        return ReadResult(slice: nil, highWatermark: endOffset, logStartOffset: startOffset, logEndOffset: endOffset)
    }

    /// Index entries of inactive segments a log keeps in memory, at most (beyond the most recently used
    /// segment's, which stay whatever their size): the least recently used are dropped and loaded again from their
    /// files when next needed, so a log's memory does not grow with its segment count. A segment of 1 GiB in
    /// 16 KiB batches has ~1.3 MiB of entries; 200 segments of 1 MiB, 260 KiB.
    static let inactiveIndexBudgetBytes = 1 << 20

    /// Loads segment `i`'s indexes on first use, rebuilding them from the `.log` if they are corrupt, and notes
    /// the use. Loading may unload other inactive segments' indexes (see `inactiveIndexBudgetBytes`): callers
    /// use the indexes of the segment they loaded last.
    func ensureIndexesLoaded(_ i: Int, state: inout State) throws(LogError) {
        let segment = state.segments[i]
        state.indexUseClock &+= 1
        segment.lastIndexUse = state.indexUseClock
        guard !segment.indexesLoaded else { return }
        do {
            try segment.loadIndexes(nextOffset: state.nextOffset(ofSegment: i))
        } catch {
            logger.warning("\(error); rebuilding the indexes of \(segment.path("log"))")
            _ = try segment.recover(indexIntervalBytes: state.config.indexIntervalBytes)
        }
        unloadLeastRecentlyUsedIndexes(&state)
    }

    /// Makes segment `i`'s max timestamp known, loading its indexes only if they never were.
    func ensureTimestampsKnown(_ i: Int, state: inout State) throws(LogError) {
        guard !state.segments[i].timestampsKnown else { return }
        try ensureIndexesLoaded(i, state: &state)
    }

    /// Unloads the least recently used inactive segments' indexes while those loaded take more than the budget,
    /// keeping at least the most recently used.
    private func unloadLeastRecentlyUsedIndexes(_ state: inout State) {
        var loaded: [(use: UInt64, segment: LogSegment)] = []
        var bytes = 0
        for segment in state.segments.dropLast() where segment.indexesLoaded {
            loaded.append((segment.lastIndexUse, segment))
            bytes += segment.indexMemoryBytes
        }
        let budget = state.inactiveIndexBudget
        guard bytes > budget, loaded.count > 1 else { return }
        loaded.sort { $0.use < $1.use }
        for (_, segment) in loaded.dropLast() where bytes > budget {
            let held = segment.indexMemoryBytes
            do {
                try segment.unloadIndexes()
                bytes -= held
            } catch {
                logger.warning("\(directory): indexes of \(segment.path("log")) kept in memory: \(error)")
            }
        }
    }

    // MARK: Offsets by timestamp

    /// The first offset whose record timestamp is at or after `timestamp`, with that timestamp (Kafka's
    /// ListOffsets by time); nil when every record is older.
    public func offset(forTimestamp timestamp: Int64) throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        let plan = try state.withLock { (state) throws(LogError) -> (file: any LogFile, start: Int64, end: Int64)? in
            guard !state.closed else { throw .closed(directory: directory) }
            for i in state.segments.indices {
                try ensureTimestampsKnown(i, state: &state)
                let segment = state.segments[i]
                guard segment.largestTimestamp >= timestamp else { continue }
                try ensureIndexesLoaded(i, state: &state)
                let fromTime = segment.timeIndex.lookup(timestamp)?.offset ?? segment.baseOffset
                let start = segment.indexedPosition(for: max(fromTime, state.logStartOffset))
                return (segment.log, start, segment.size)
            }
            return nil
        }
        guard let plan else { return nil }
        let floor = logStartOffset
        var scanner = BatchHeaderScanner(file: plan.file, from: plan.start, end: plan.end)
        while let (header, position) = try scanner.next() {
            guard header.maxTimestamp >= timestamp, header.lastOffset >= floor else { continue }
            // The batch holds the answer: find the first record at or after the timestamp.
            let bytes: [UInt8]
            do { bytes = try plan.file.read(count: header.sizeInBytes, at: position) } catch { throw .io(error) }
            var scratch: [UInt8] = []
            var found: (Int64, Int64)?
            do {
                try bytes.withUnsafeBytes { buffer in
                    let batch = RecordBatch(unchecked: buffer)
                    try batch.withRecords(scratch: &scratch) { iterator in
                        while let record = try iterator.next() {
                            if record.timestamp >= timestamp && record.offset >= floor {
                                found = (record.offset, record.timestamp)
                                return
                            }
                        }
                    }
                }
            } catch let error as RecordBatchError {
                throw .corruptBatch(file: plan.file.path, position: position, reason: error)
            } catch {
                preconditionFailure("\(error)")
            }
            if let found { return found }
        }
        return nil
    }

    // MARK: Truncate

    /// Removes every record at or above `offset`. Batches cannot be split, so a batch holding `offset` goes
    /// whole: the new log end offset is returned (at most `offset`).
    @discardableResult
    public func truncate(to offset: Int64) throws(LogError) -> Int64 {
        try state.withLock { (state) throws(LogError) -> Int64 in
            guard !state.closed else { throw .closed(directory: directory) }
            guard offset < state.logEndOffset else { return state.logEndOffset }
            guard offset >= state.logStartOffset else {
                throw .offsetOutOfRange(offset: offset, logStartOffset: state.logStartOffset, logEndOffset: state.logEndOffset)
            }
            // A failure part-way leaves segments, indexes and producer state out of step: no more writes.
            do throws(LogError) {
                return try truncateLocked(to: offset, state: &state)
            } catch {
                if state.offlineReason == nil {
                    state.offlineReason = error.description
                    logger.error("log \(directory) is offline for writes: \(error)")
                }
                throw error
            }
        }
    }

    private func truncateLocked(to offset: Int64, state: inout State) throws(LogError) -> Int64 {
        // Whole segments at or above the offset go (the first segment always stays).
        while state.segments.count > 1, state.active.baseOffset >= offset {
            let segment = state.segments.removeLast()
            try writing(&state) { () throws(FileSystemError) in
                try segment.markDeleted()
                try segment.removeFiles()
            }
        }
        let i = state.segments.count - 1
        try ensureIndexesLoaded(i, state: &state)
        let segment = state.segments[i]
        var scanner = BatchHeaderScanner(file: segment.log, from: segment.indexedPosition(for: offset), end: segment.size)
        var cut: (position: Int64, nextOffset: Int64)?
        while let (header, position) = try scanner.next() {
            if header.lastOffset >= offset {
                cut = (position, header.baseOffset)
                break
            }
        }
        if let cut {
            try writing(&state) { () throws(FileSystemError) in
                try segment.truncate(toPosition: cut.position, nextOffset: cut.nextOffset)
            }
            // (The batch may start past the offset, after a gap: the log still ends at most at the offset; and
            // it ends at the log start at least, when the batch that goes began below it.)
            state.logEndOffset = max(min(cut.nextOffset, offset), segment.baseOffset, state.logStartOffset)
        } else {
            // No batch at or after the offset: it is in a gap (a crash lost a rolled segment's tail). As Kafka, the
            // log ends at the offset itself (the end of the last batch could even be below the log start offset).
            state.logEndOffset = offset
        }
        try writing(&state) { () throws(FileSystemError) in
            try segment.offsetIndex.storage.preallocate()
            try segment.timeIndex.storage.preallocate()
        }
        // The cut and the removals are made durable before the log grows again: otherwise a crash could bring back
        // removed batches or segments beside the new ones that reuse their offsets.
        do throws(FileSystemError) {
            try segment.flush()
            try fileSystem.syncDirectory(directory)
        } catch {
            state.offlineReason = error.description
            cutBackAfterFailedSync(&state)
            throw .io(error)
        }
        try segment.recomputeMaxTimestamp()
        state.recoveryPoint = min(state.recoveryPoint, state.logEndOffset)
        // (Snapshots past the offset describe batches that are gone, even when the log end stays above the offset
        // at the log start.)
        let end = min(state.logEndOffset, offset)
        let producers = state.producerState
        try writing(&state) { () throws(FileSystemError) in try producers.removeSnapshots(above: end) }
        try Self.rebuildProducerState(&state)
        // Offsets written again after the cut are dirty, whatever the cleaner had done below it.
        if let clean = state.firstDirtyOffset, clean > state.logEndOffset { state.firstDirtyOffset = state.logEndOffset }
        // A log that now ends in a gap gets an empty segment at its end, so the end survives a restart (it is read
        // back from the last segment) and its offsets are not handed out again.
        if try Self.scanNextOffset(state.active) < state.logEndOffset {
            try roll(at: state.logEndOffset, state: &state)
            try writing(&state) { () throws(FileSystemError) in try fileSystem.syncDirectory(directory) }
        }
        return state.logEndOffset
    }

    /// After a failed fsync of segment data: the kernel may have dropped the pages it could not write while they
    /// still read back from the cache. The unflushed tail is cut, so that a restart without a crash cannot take
    /// bytes that are only in the cache for durable ones (and later acknowledge data behind a hole that recovery
    /// would cut at). Best effort: the log is offline already.
    private func cutBackAfterFailedSync(_ state: inout State) {
        // (Down to the recovery point even when the log start is above it: the bytes below the log start are in the
        // file too. The log end stays at the log start at least.)
        if state.recoveryPoint < state.logEndOffset { _ = try? truncateLocked(to: state.recoveryPoint, state: &state) }
    }

    /// Runs a file operation that changes the log; a failure takes the log offline for writes.
    private func writing<T>(_ state: inout State, _ body: () throws(FileSystemError) -> T) throws(LogError) -> T {
        do {
            return try body()
        } catch {
            state.offlineReason = error.description
            logger.error("log \(directory) is offline for writes: \(error)")
            throw .io(error)
        }
    }

    /// Loads the newest producer snapshot at or below the log end and replays the batch headers after it.
    static func rebuildProducerState(_ state: inout State) throws(LogError) {
        let manager = state.producerState
        let end = state.logEndOffset
        let from: Int64
        do throws(FileSystemError) {
            try manager.removeSnapshots(above: end)
            from = try manager.loadLatestSnapshot(atOrBelow: end) ?? {
                manager.reset(at: state.logStartOffset)
                return state.logStartOffset
            }()
        } catch {
            throw .io(error)
        }
        guard from < end, var i = state.segmentIndex(for: from) ?? (state.segments.isEmpty ? nil : 0) else { return }
        while i < state.segments.count {
            let segment = state.segments[i]
            var scanner = BatchHeaderScanner(file: segment.log, from: 0, end: segment.size)
            while let (header, _) = try scanner.next() {
                guard header.lastOffset >= from else { continue }
                manager.update(header, firstOffset: header.baseOffset, lastOffset: header.lastOffset, timestamp: header.maxTimestamp)
            }
            i += 1
        }
    }

    /// The offset after the last batch of `segment` (its base offset when empty), from a header scan that starts
    /// at its last index entry.
    static func scanNextOffset(_ segment: LogSegment) throws(LogError) -> Int64 {
        let start = Int64(segment.offsetIndex.storage.last.map { Int($0.position) } ?? 0)
        var scanner = BatchHeaderScanner(file: segment.log, from: start, end: segment.size)
        var next = segment.baseOffset
        while let (header, _) = try scanner.next() { next = header.nextOffset }
        return next
    }

    // MARK: Log start offset

    /// Kafka's DeleteRecords: moves the log start offset forward to `offset` (at most the high watermark), so
    /// reads below it fail with `offsetOutOfRange`. Segments wholly below the new start are removed by the next
    /// retention pass. Returns the new log start offset.
    @discardableResult
    public func deleteRecords(before offset: Int64) throws(LogError) -> Int64 {
        try state.withLock { (state) throws(LogError) -> Int64 in
            guard !state.closed else { throw .closed(directory: directory) }
            guard offset >= 0, offset <= state.logEndOffset else {
                throw .offsetOutOfRange(offset: offset, logStartOffset: state.logStartOffset, logEndOffset: state.logEndOffset)
            }
            state.logStartOffset = max(state.logStartOffset, offset)
            return state.logStartOffset
        }
    }

    // MARK: Flush and close

    /// Makes everything appended so far durable (fsync of the segments written since the last flush). A failed
    /// fsync takes the log offline: Linux forgets the dirty pages it could not write, so a later fsync would
    /// succeed without making them durable.
    public func flush() throws(LogError) {
        let (targets, upTo) = try state.withLock { (state) throws(LogError) -> ([LogSegment], Int64) in
            guard !state.closed else { throw .closed(directory: directory) }
            if let reason = state.offlineReason { throw .offline(reason: reason) }
            // From the segment holding the last flushed offset, not the next one: when a roll started a segment
            // exactly at the recovery point, the previous segment's indexes were trimmed after the last flush.
            let from = state.segmentIndex(for: max(state.recoveryPoint - 1, 0)) ?? 0
            state.unflushedRecords = 0
            return (Array(state.segments[from...]), state.logEndOffset)
        }
        do throws(FileSystemError) {
            for segment in targets {
                try segment.flush()
                if segment !== targets.last {
                    try segment.offsetIndex.storage.file.sync()
                    try segment.timeIndex.storage.file.sync()
                }
            }
            try fileSystem.syncDirectory(directory)
        } catch {
            state.withLock { state in
                state.offlineReason = error.description
                cutBackAfterFailedSync(&state)
            }
            logger.error("log \(directory) is offline for writes: \(error)")
            throw .io(error)
        }
        state.withLock { state in
            state.recoveryPoint = max(state.recoveryPoint, upTo)
            state.lastFlushMs = clock()
        }
    }

    /// Flushes when `flush.ms` has passed since the last flush and something is unflushed.
    public func flushIfDue() throws(LogError) {
        let due = state.withLock { state in
            !state.closed && state.offlineReason == nil && state.config.flushMs != .max && state.recoveryPoint < state.logEndOffset
                && clock() - state.lastFlushMs >= state.config.flushMs
        }
        if due { try flush() }
    }

    /// Flushes, writes every index and closes the log. Later calls fail with `.closed`.
    public func close() throws(LogError) {
        let alreadyClosed = state.withLock { $0.closed }
        guard !alreadyClosed else { return }
        if offlineReason == nil { try flush() }
        try state.withLock { (state) throws(LogError) in
            guard !state.closed else { return }
            state.closed = true
            do throws(FileSystemError) {
                for segment in state.segments { try segment.close() }
                if state.offlineReason == nil { try state.producerState.takeSnapshot() }
                // Segments scheduled for removal go now (open slices keep their descriptors).
                for pending in state.pendingDeletions { try pending.segment.removeFiles() }
                state.pendingDeletions.removeAll()
            } catch {
                throw .io(error)
            }
        }
    }

    public var isClosed: Bool { state.withLock { $0.closed } }
}
