import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a replay could not run (damage in the source is not an error: it is reported in `Replay.Damage`).
public enum ReplayError: Error, Sendable, CustomStringConvertible {
    /// The source path holds no partition directory with segments.
    case noSource(path: String, reason: String)
    /// The destination partition already holds records (a replay needs a fresh log: offsets are kept).
    case destinationNotEmpty(path: String, logEndOffset: Int64)
    /// The destination refused a chunk of batches.
    case destination(partition: String, firstOffset: Int64, reason: String)
    case log(LogError)
    case io(FileSystemError)
    /// A fixture manifest that cannot be read.
    case manifest(path: String, reason: String)

    public var description: String {
        switch self {
        case .noSource(let path, let reason): "\(path): \(reason)"
        case .destinationNotEmpty(let path, let end):
            "\(path) already holds records (log end offset \(end)); replay keeps the source's offsets and needs a fresh partition"
        case .destination(let partition, let offset, let reason): "\(partition): the destination refused the batches from offset \(offset): \(reason)"
        case .log(let error): "\(error)"
        case .io(let error): "\(error)"
        case .manifest(let path, let reason): "\(path): \(reason)"
        }
    }
}

/// Replays the batches of Kafka-format partition directories (a fixture set, a copy of a Kafka data directory)
/// into a destination, exactly as they are: same offsets, same bytes (compressed batches untouched, original
/// timestamps kept). A damaged source (torn tail, bad CRC) is replayed up to the damage, and the report says what
/// was dropped and why.
///
/// The destination is a closure taking chunks of whole batches, so one source walk serves every target: a fresh
/// Samsa log (`Replay.logDestination`, what `samsa replay` uses) or a running broker (a producer that sends each
/// chunk as it is).
///
/// ```swift
/// let report = try Replay.run(source: "fixtures/transactions", options: .init(into: "./data", verify: true))
/// print(report.records, report.recordsPerSecond)
/// ```
public enum Replay {
    // MARK: Sources

    /// One partition directory to replay: its segments in offset order.
    public struct SourcePartition: Sendable {
        public struct Segment: Sendable {
            public var baseOffset: Int64
            public var path: String
            public var size: Int64
        }

        public var directory: String
        /// From the directory name (`orders-0`); nil when the name is not `<topic>-<partition>`.
        public var topicPartition: TopicPartition?
        public var segments: [Segment]
        /// A fixture set's `manifest.json` next to the partition directory, when it describes this partition.
        public var manifestPath: String?

        public var totalBytes: Int64 { segments.reduce(0) { $0 + $1.size } }
        public var name: String { topicPartition?.directoryName ?? directory }
    }

    /// The partition directories at `path`: `path` itself when it holds segments, else its subdirectories named
    /// `<topic>-<partition>` that do (a data directory, or a fixture set's folder).
    public static func sources(at path: String, fileSystem: any FileSystem = PosixFileSystem()) throws(ReplayError) -> [SourcePartition] {
        let root = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard fileSystem.isDirectory(root) else { throw .noSource(path: path, reason: "not a directory") }
        if let partition = try partition(at: root, fileSystem: fileSystem) { return [partition] }
        let names: [String]
        do { names = try fileSystem.listDirectory(root) } catch { throw .io(error) }
        var found: [SourcePartition] = []
        for name in names.sorted() where !name.hasSuffix("-delete") && TopicPartition(directoryName: name) != nil {
            if let partition = try partition(at: root + "/" + name, fileSystem: fileSystem) { found.append(partition) }
        }
        guard !found.isEmpty else {
            throw .noSource(path: path, reason: "no partition directory (<topic>-<partition>/ with .log segments) here or below")
        }
        return found.sorted { ($0.topicPartition?.description ?? $0.directory) < ($1.topicPartition?.description ?? $1.directory) }
    }

    static func partition(at directory: String, fileSystem: any FileSystem) throws(ReplayError) -> SourcePartition? {
        guard fileSystem.isDirectory(directory) else { return nil }
        let names: [String]
        do { names = try fileSystem.listDirectory(directory) } catch { throw .io(error) }
        var segments: [SourcePartition.Segment] = []
        for name in names {
            guard let base = LogSegment.baseOffset(fromFileName: name) else { continue }
            let path = directory + "/" + name
            do {
                let size = try fileSystem.openFile(path, create: false).size()
                segments.append(.init(baseOffset: base, path: path, size: size))
            } catch {
                throw .io(error)
            }
        }
        guard !segments.isEmpty else { return nil }
        segments.sort { $0.baseOffset < $1.baseOffset }
        let name = String(directory.split(separator: "/").last ?? "")
        let tp = TopicPartition(directoryName: name)
        // A fixture set keeps its manifest beside the partition directory.
        let parent = directory.contains("/") ? String(directory[..<directory.lastIndex(of: "/")!]) : "."
        var manifestPath: String? = (parent.isEmpty ? "" : parent) + "/manifest.json"
        if let path = manifestPath, fileSystem.fileExists(path), let tp {
            let manifest = try FixtureManifest.load(path, fileSystem: fileSystem)
            if manifest.topic != tp.topic || manifest.partition != tp.partition { manifestPath = nil }
        } else {
            manifestPath = nil
        }
        return SourcePartition(directory: directory, topicPartition: tp, segments: segments, manifestPath: manifestPath)
    }

    // MARK: Walking a source

    /// Whole batches from one source segment, back to back and exactly as stored. Valid only during the call.
    public struct Chunk {
        public let partition: SourcePartition
        public let bytes: UnsafeRawBufferPointer
        public let batchCount: Int
        public let recordCount: Int
        /// The first batch's base offset and the last batch's last offset.
        public let firstOffset: Int64
        public let lastOffset: Int64
        /// The source segment the batches come from.
        public let segmentBaseOffset: Int64
        /// The first chunk of its segment (a log destination rolls here, so segments come out as in the source).
        public let startsSegment: Bool
    }

    /// Where chunks go. Throwing stops the replay.
    public typealias Destination = (Chunk) throws -> Void

    /// Where the source stops being valid, and what is left out.
    public struct Damage: Sendable, CustomStringConvertible {
        /// The damaged segment file and the byte where its first bad batch starts.
        public var segment: String
        public var position: Int64
        /// Bytes of that segment from `position` to its end.
        public var droppedBytes: Int64
        /// The last offset replayed (nil when nothing before the damage was valid).
        public var lastOffsetKept: Int64?
        public var reason: String
        /// Segments after the damaged one: nothing after a bad batch can be trusted, as in recovery.
        public var laterSegments: [String]
        public var laterBytes: Int64

        public var description: String {
            let name = segment.split(separator: "/").last.map(String.init) ?? segment
            let after = lastOffsetKept.map { "after offset \($0)" } ?? "before any valid batch"
            var text = "\(name): dropped \(droppedBytes) bytes from byte \(position) \(after): \(reason)"
            if !laterSegments.isEmpty {
                text += "; also dropped \(laterSegments.count) later segments (\(laterBytes) bytes)"
            }
            return text
        }
    }

    /// What a replay of one partition did.
    public struct PartitionReport: Sendable {
        public var partition: SourcePartition
        public var batches = 0
        public var records = 0
        public var bytes: Int64 = 0
        public var segments = 0
        public var firstOffset: Int64?
        /// The offset after the last batch replayed.
        public var nextOffset: Int64 = 0
        public var damage: Damage?
        public var seconds = 0.0
    }

    /// How far a replay is (for a progress line).
    public struct Progress: Sendable {
        public var partition: String
        public var bytesDone: Int64
        public var bytesTotal: Int64
        public var records: Int
        public var seconds: Double
    }

    /// Walks `source` segment by segment, checking every batch (header, length, CRC, offsets increasing), and
    /// hands runs of valid batches of about `chunkBytes` to `destination`. Stops at the first damaged batch.
    public static func replay(
        _ source: SourcePartition, fileSystem: any FileSystem = PosixFileSystem(), chunkBytes: Int = 1 << 20,
        progress: ((Progress) -> Void)? = nil, into destination: Destination
    ) throws(ReplayError) -> PartitionReport {
        var report = PartitionReport(partition: source)
        report.nextOffset = source.segments.first?.baseOffset ?? 0
        let started = ContinuousClock.now
        var bytesBefore: Int64 = 0
        var expected: Int64 = report.nextOffset
        for (index, segment) in source.segments.enumerated() {
            var reader: SegmentBatchReader
            do {
                reader = try SegmentBatchReader(path: segment.path, fileSystem: fileSystem, readSize: max(chunkBytes, 64 << 10))
            } catch {
                throw .io(error)
            }
            report.segments += 1
            var run = Run()
            var startsSegment = true
            var damage: (position: Int64, reason: String)?

            func flush(_ reader: SegmentBatchReader) throws(ReplayError) {
                guard let start = run.start else { return }
                let chunkRun = run
                do {
                    try reader.withBytes(from: start, count: Int(chunkRun.end - start)) { (bytes) throws(ReplayError) in
                        let chunk = Chunk(
                            partition: source, bytes: bytes, batchCount: chunkRun.batches, recordCount: chunkRun.records,
                            firstOffset: chunkRun.firstOffset, lastOffset: chunkRun.lastOffset,
                            segmentBaseOffset: segment.baseOffset, startsSegment: startsSegment)
                        do { try destination(chunk) } catch {
                            throw .destination(partition: source.name, firstOffset: chunkRun.firstOffset, reason: "\(error)")
                        }
                    }
                }
                startsSegment = false
                report.batches += chunkRun.batches
                report.records += chunkRun.records
                report.bytes += chunkRun.end - start
                report.firstOffset = report.firstOffset ?? chunkRun.firstOffset
                report.nextOffset = chunkRun.lastOffset + 1
                run = Run()
                if let progress {
                    progress(Progress(
                        partition: source.name, bytesDone: bytesBefore + chunkRun.end, bytesTotal: source.totalBytes,
                        records: report.records, seconds: (ContinuousClock.now - started).seconds))
                }
            }

            scan: while true {
                let step: SegmentBatchReader.Step
                do { step = try reader.next() } catch { throw .io(error) }
                switch step {
                case .end:
                    if reader.position < segment.size {
                        damage = (reader.position, "\(segment.size - reader.position) bytes at the end are too few for a batch header")
                    }
                    break scan
                case .truncated(let position, let size, let available):
                    damage = (position, "batch truncated: needs \(size) bytes, only \(available) present")
                    break scan
                case .invalid(let position, let reason):
                    damage = (position, "\(reason)")
                    break scan
                case .batch(let position, let size):
                    let checked = reader.withBytes(from: position, count: size) { bytes in
                        Result { () throws(RecordBatchError) in RecordBatchHeader(try RecordBatch(validating: bytes, maxBatchSize: size)) }
                    }
                    let header: RecordBatchHeader
                    switch checked {
                    case .failure(let reason):
                        damage = (position, "\(reason)")
                        break scan
                    case .success(let h): header = h
                    }
                    if header.baseOffset < max(expected, segment.baseOffset) {
                        damage = (position, "batch offsets \(header.baseOffset)...\(header.lastOffset) go backwards (expected \(max(expected, segment.baseOffset)) or later)")
                        break scan
                    }
                    if header.lastOffset - segment.baseOffset > Int64(UInt32.max) {
                        damage = (position, "batch offsets \(header.baseOffset)...\(header.lastOffset) do not fit segment \(segment.baseOffset)'s index")
                        break scan
                    }
                    if run.start == nil {
                        run.start = position
                        run.firstOffset = header.baseOffset
                        reader.keepFrom = position
                    }
                    run.end = position + Int64(size)
                    run.batches += 1
                    run.records += Int(header.recordCount)
                    run.lastOffset = header.lastOffset
                    expected = header.nextOffset
                    if run.end - run.start! >= Int64(chunkBytes) {
                        try flush(reader)
                        reader.keepFrom = nil
                    }
                }
            }
            try flush(reader)
            if let damage {
                let later = source.segments[(index + 1)...]
                report.damage = Damage(
                    segment: segment.path, position: damage.position, droppedBytes: segment.size - damage.position,
                    lastOffsetKept: report.batches > 0 ? report.nextOffset - 1 : nil, reason: damage.reason,
                    laterSegments: later.map(\.path), laterBytes: later.reduce(0) { $0 + $1.size })
                break
            }
            bytesBefore += segment.size
        }
        report.seconds = (ContinuousClock.now - started).seconds
        return report
    }

    /// A run of consecutive valid batches not yet handed on.
    struct Run {
        var start: Int64?
        var end: Int64 = 0
        var batches = 0
        var records = 0
        var firstOffset: Int64 = 0
        var lastOffset: Int64 = 0
    }

    // MARK: Destinations

    /// The settings of a replay destination log: segments roll only where the source's rolled (never by size
    /// or age during the replay), indexes follow `indexIntervalBytes` (Kafka's default 4096), so a source
    /// written by Kafka with the same interval comes out with the same segment and index files.
    public static func destinationConfig(indexIntervalBytes: Int = 4096, base: LogConfig = LogConfig()) -> LogConfig {
        var config = base
        config.segmentBytes = Int(Int32.max)
        config.segmentMs = .max
        config.indexIntervalBytes = indexIntervalBytes
        return config
    }

    /// Appends each chunk to `log` as it is (`origin: .raw`: offsets kept, bytes untouched), rolling a new
    /// segment where the source started one.
    public static func logDestination(_ log: Log) -> Destination {
        { chunk in
            if chunk.startsSegment { try log.roll() }
            try log.append(chunk.bytes, origin: .raw)
        }
    }

    // MARK: Verification

    /// What `verify` compared and found.
    public struct Verification: Sendable {
        public var partition: String
        public var batches = 0
        public var records = 0
        /// Records also checked against the fixture manifest (0 without one).
        public var manifestRecords = 0
        public var manifestPath: String?
        public var mismatchCount = 0
        /// The first mismatches, one line each.
        public var mismatches: [String] = []
        public var seconds = 0.0

        public var ok: Bool { mismatchCount == 0 }

        mutating func mismatch(_ line: String) {
            mismatchCount += 1
            if mismatches.count < 20 { mismatches.append(line) }
        }
    }

    /// Checks the replayed `log` against its source batch by batch (same bytes) and record by record (offset,
    /// timestamp, key, value, headers), up to where the replay stopped; with a fixture manifest, every record
    /// is also checked against the manifest, and the log must end where the manifest says a recovery ends.
    public static func verify(
        _ report: PartitionReport, against log: Log, fileSystem: any FileSystem = PosixFileSystem()
    ) throws(ReplayError) -> Verification {
        let started = ContinuousClock.now
        let source = report.partition
        var result = Verification(partition: source.name)
        var manifestBatches: ArraySlice<FixtureManifest.Batch> = []
        if let path = source.manifestPath {
            let manifest = try FixtureManifest.load(path, fileSystem: fileSystem)
            result.manifestPath = path
            manifestBatches = manifest.batches.filter { $0.last_offset < manifest.expectedLogEndOffset }[...]
            if report.nextOffset != manifest.expectedLogEndOffset {
                result.mismatch("replay ended at offset \(report.nextOffset), the manifest expects \(manifest.expectedLogEndOffset)")
            }
        }
        if log.logEndOffset != report.nextOffset {
            result.mismatch("the log ends at offset \(log.logEndOffset), the replay at \(report.nextOffset)")
        }
        var sourceBatches = SourceBatches(source: source, fileSystem: fileSystem, stopAt: report.nextOffset)
        var next = log.logStartOffset
        var scratchA: [UInt8] = []
        var scratchB: [UInt8] = []
        let end = log.logEndOffset
        while next < end {
            let slice: FileSlice
            do {
                guard let s = try log.read(from: next, maxBytes: 1 << 20).slice else { break }
                slice = s
            } catch {
                throw .log(error)
            }
            let bytes: [UInt8]
            do { bytes = try slice.readBytes() } catch { throw .io(error) }
            var progressed = false
            try bytes.withBytes { (buffer) throws(ReplayError) in
                for replayed in WholeBatches(buffer, maxBatchSize: Int(Int32.max)) {
                    let batch = RecordBatch(unchecked: replayed)
                    next = batch.nextOffset
                    progressed = true
                    result.batches += 1
                    guard let original = try sourceBatches.next() else {
                        result.mismatch("batch \(batch.baseOffset)...\(batch.lastOffset) is not in the source")
                        continue
                    }
                    original.withUnsafeBytes { originalBytes in
                        compare(replayed, originalBytes, manifest: manifestBatches.popFirst(), hasManifest: source.manifestPath != nil,
                                scratch: &scratchA, &scratchB, into: &result)
                    }
                }
            }
            guard progressed else {
                result.mismatch("no whole batch could be read at offset \(next)")
                break
            }
        }
        if let extra = try sourceBatches.next() {
            let header = extra.withUnsafeBytes { RecordBatch(unchecked: $0) }
            result.mismatch("source batch \(header.baseOffset)...\(header.lastOffset) is missing from the log")
        }
        if let missing = manifestBatches.first {
            result.mismatch("manifest batch \(missing.base_offset)...\(missing.last_offset) is missing from the log")
        }
        result.seconds = (ContinuousClock.now - started).seconds
        return result
    }

    /// Compares a replayed batch with its source batch (bytes, then each record) and with its manifest entry.
    static func compare(
        _ replayed: UnsafeRawBufferPointer, _ original: UnsafeRawBufferPointer, manifest: FixtureManifest.Batch?,
        hasManifest: Bool, scratch scratchA: inout [UInt8], _ scratchB: inout [UInt8], into result: inout Verification
    ) {
        let a = RecordBatch(unchecked: replayed)
        let b = RecordBatch(unchecked: original)
        let where_ = "batch \(b.baseOffset)...\(b.lastOffset)"
        if !replayed.elementsEqual(original) {
            result.mismatch("\(where_): bytes differ from the source (\(replayed.count) vs \(original.count) bytes)")
        }
        if hasManifest {
            if let m = manifest {
                let fields: [(String, String, String)] = [
                    ("base offset", "\(a.baseOffset)", "\(m.base_offset)"), ("last offset", "\(a.lastOffset)", "\(m.last_offset)"),
                    ("producer id", "\(a.producerId)", "\(m.producer_id)"),
                    ("producer epoch", "\(a.producerEpoch)", "\(m.producer_epoch)"),
                    ("base sequence", "\(a.baseSequence)", "\(m.base_sequence)"),
                    ("transactional", "\(a.isTransactional)", "\(m.transactional)"), ("control", "\(a.isControl)", "\(m.control)"),
                    ("timestamp type", "\(a.timestampType)", m.timestamp_type),
                ]
                for (name, ours, theirs) in fields where ours != theirs {
                    result.mismatch("\(where_): \(name) is \(ours), the manifest says \(theirs)")
                }
                // The fixtures' producer (kafka-python) writes a batch uncompressed when its codec would not shrink
                // it; the manifest still names the configured codec.
                let codec = m.codec == "snappy-xerial" ? "snappy" : m.codec
                if let ours = a.compression, ours != .none, ours.name != codec {
                    result.mismatch("\(where_): codec is \(ours), the manifest says \(m.codec)")
                }
            } else {
                result.mismatch("\(where_) is not in the manifest")
            }
        }
        // Record by record: the replayed batch against the source batch and the manifest.
        do {
            try a.withRecords(scratch: &scratchA) { replayedRecords in
                try b.withRecords(scratch: &scratchB) { originalRecords in
                    var i = 0
                    while true {
                        let r = try replayedRecords.next()
                        let o = try originalRecords.next()
                        guard let r, let o else {
                            if r != nil || o != nil { result.mismatch("\(where_): record counts differ") }
                            break
                        }
                        result.records += 1
                        if let diff = difference(r, o) {
                            result.mismatch("\(where_) offset \(r.offset): \(diff) differs from the source")
                        }
                        if let m = manifest {
                            if i < m.records.count {
                                result.manifestRecords += 1
                                if let diff = difference(r, m.records[i]) {
                                    result.mismatch("\(where_) offset \(r.offset): \(diff) differs from the manifest")
                                }
                            } else {
                                result.mismatch("\(where_) offset \(r.offset): not in the manifest")
                            }
                        }
                        i += 1
                    }
                    if let m = manifest, i < m.records.count {
                        result.mismatch("\(where_): \(m.records.count - i) manifest records are missing")
                    }
                }
            }
        } catch {
            result.mismatch("\(where_): records cannot be read: \(error)")
        }
    }

    static func difference(_ a: Record, _ b: Record) -> String? {
        if a.offset != b.offset { return "offset" }
        if a.timestamp != b.timestamp { return "timestamp" }
        if !equal(a.key, b.key) { return "key" }
        if !equal(a.value, b.value) { return "value" }
        if a.headers.count != b.headers.count { return "header count" }
        for (x, y) in zip(a.headers, b.headers) {
            if !x.key.elementsEqual(y.key) || !equal(x.value, y.value) { return "header \(x.keyString)" }
        }
        return nil
    }

    static func difference(_ a: Record, _ m: FixtureManifest.Record) -> String? {
        if a.offset != m.offset { return "offset" }
        if a.timestamp != m.timestamp { return "timestamp" }
        if !equal(a.key, m.key_b64.flatMap { JSONText.decodeBase64($0) }) { return "key" }
        if let length = m.value_len {
            if a.value?.count != length { return "value length" }
        } else if !equal(a.value, m.value_b64.flatMap { JSONText.decodeBase64($0) }) {
            return "value"
        }
        if a.headers.count != m.headers.count { return "header count" }
        for (x, pair) in zip(a.headers, m.headers) {
            guard pair.count == 2, let key = pair[0] else { return "header (manifest entry malformed)" }
            if x.keyString != key || !equal(x.value, pair[1].flatMap { JSONText.decodeBase64($0) }) { return "header \(key)" }
        }
        return nil
    }

    static func equal(_ a: UnsafeRawBufferPointer?, _ b: UnsafeRawBufferPointer?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case (let x?, let y?): x.elementsEqual(y)
        default: false
        }
    }

    static func equal(_ a: UnsafeRawBufferPointer?, _ b: [UInt8]?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case (let x?, let y?): x.elementsEqual(y)
        default: false
        }
    }

    /// The source's batches one at a time (copied out), up to `stopAt`.
    struct SourceBatches {
        let source: SourcePartition
        let fileSystem: any FileSystem
        let stopAt: Int64
        var segment = 0
        var reader: SegmentBatchReader?

        init(source: SourcePartition, fileSystem: any FileSystem, stopAt: Int64) {
            self.source = source
            self.fileSystem = fileSystem
            self.stopAt = stopAt
        }

        mutating func next() throws(ReplayError) -> [UInt8]? {
            while segment < source.segments.count {
                if reader == nil {
                    do { reader = try SegmentBatchReader(path: source.segments[segment].path, fileSystem: fileSystem) } catch {
                        throw .io(error)
                    }
                }
                let step: SegmentBatchReader.Step
                do { step = try reader!.next() } catch { throw .io(error) }
                if case .batch(let position, let size) = step {
                    let bytes = reader!.withBytes(from: position, count: size) { Array($0) }
                    let baseOffset = bytes.withUnsafeBytes { $0.loadBigEndian(at: 0, as: Int64.self) }
                    if baseOffset >= stopAt { return nil }
                    return bytes
                }
                reader = nil
                segment += 1
            }
            return nil
        }
    }

    // MARK: The whole command

    public struct Options: Sendable {
        /// A data directory to replay into (partitions are created as `<topic>-<partition>/`); nil: a temporary
        /// directory, removed afterwards unless `keep`.
        public var into: String?
        public var verify = false
        public var keep = false
        /// Runs of batches handed to the log per append.
        public var chunkBytes = 1 << 20
        /// `index.interval.bytes` of the destination (a fixture's manifest value wins when there is one).
        public var indexIntervalBytes = 4096

        public init(into: String? = nil, verify: Bool = false, keep: Bool = false) {
            self.into = into
            self.verify = verify
            self.keep = keep
        }
    }

    /// What `run` did.
    public struct RunReport: Sendable {
        public var source: String
        public var dataDirectory: String
        /// The data directory was temporary and has been removed.
        public var removed = false
        public var partitions: [PartitionReport] = []
        public var verifications: [Verification] = []
        /// Wall time of the replay (appends and the final flush), without verification.
        public var seconds = 0.0

        public var batches: Int { partitions.reduce(0) { $0 + $1.batches } }
        public var records: Int { partitions.reduce(0) { $0 + $1.records } }
        public var bytes: Int64 { partitions.reduce(0) { $0 + $1.bytes } }
        public var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }
        /// MB/s with MB = 1,048,576 bytes, as Kafka's perf tools count them.
        public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / (1024 * 1024) / seconds : 0 }
        public var verified: Bool { !verifications.isEmpty && verifications.allSatisfy(\.ok) }
        public var damaged: [Damage] { partitions.compactMap(\.damage) }
    }

    /// Replays every partition under `source` into fresh logs in a data directory (created as needed; a
    /// partition there must not hold records yet), flushes them, writes the data directory's checkpoints, and
    /// verifies the result when asked.
    public static func run(
        source: String, options: Options = Options(), fileSystem: any FileSystem = PosixFileSystem(),
        logger: Logger = Logger(label: "samsa.replay"), progress: ((Progress) -> Void)? = nil
    ) throws(ReplayError) -> RunReport {
        let partitions = try sources(at: source, fileSystem: fileSystem)
        let dataDirectory: String
        if let into = options.into {
            dataDirectory = into
        } else {
            dataDirectory = try temporaryDirectory()
        }
        var report = RunReport(source: source, dataDirectory: dataDirectory)
        defer {
            if options.into == nil && !options.keep {
                try? LogManager.removeTree(dataDirectory, fileSystem: fileSystem)
            }
        }
        // Each destination partition starts where its source starts (Kafka names the first segment by it).
        var configs: [TopicPartition: LogConfig] = [:]
        for partition in partitions {
            guard let tp = partition.topicPartition else {
                throw .noSource(path: partition.directory, reason: "the directory name is not <topic>-<partition>")
            }
            var interval = options.indexIntervalBytes
            if let path = partition.manifestPath, let manifestInterval = try FixtureManifest.load(path, fileSystem: fileSystem).index_interval_bytes {
                interval = manifestInterval
            }
            let config = destinationConfig(indexIntervalBytes: interval)
            configs[tp] = config
            let directory = dataDirectory + "/" + tp.directoryName
            do {
                let log = try Log.open(
                    directory: directory, config: config, logStartOffset: partition.segments[0].baseOffset,
                    fileSystem: fileSystem, logger: logger)
                let end = log.logEndOffset
                let size = log.size
                try log.close()
                guard size == 0 else { throw ReplayError.destinationNotEmpty(path: directory, logEndOffset: end) }
            } catch let error as LogError {
                throw .log(error)
            } catch let error as ReplayError {
                throw error
            } catch {
                preconditionFailure("\(error)")
            }
        }
        let configFor = configs
        let manager: LogManager
        do {
            manager = try LogManager.open(
                dataDirectory: dataDirectory, configFor: { configFor[$0] ?? LogConfig() }, fileSystem: fileSystem,
                logger: logger, backgroundIntervalMs: nil)
        } catch {
            throw .log(error)
        }
        let started = ContinuousClock.now
        for partition in partitions {
            guard let tp = partition.topicPartition, let log = manager.log(tp) else { continue }
            let partitionStarted = ContinuousClock.now
            var partitionReport = try replay(
                partition, fileSystem: fileSystem, chunkBytes: options.chunkBytes, progress: progress,
                into: logDestination(log))
            do { try log.flush() } catch { throw .log(error) }
            partitionReport.seconds = (ContinuousClock.now - partitionStarted).seconds
            report.partitions.append(partitionReport)
        }
        report.seconds = (ContinuousClock.now - started).seconds
        if options.verify {
            for partitionReport in report.partitions {
                guard let tp = partitionReport.partition.topicPartition, let log = manager.log(tp) else { continue }
                report.verifications.append(try verify(partitionReport, against: log, fileSystem: fileSystem))
            }
        }
        do { try manager.close() } catch { throw .log(error) }
        report.removed = options.into == nil && !options.keep
        return report
    }

    /// A new directory under `$TMPDIR` (or /tmp).
    static func temporaryDirectory() throws(ReplayError) -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/samsa-replay-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            throw .io(.system("mkdtemp", base, errno: errno))
        }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Duration {
    /// The duration in seconds, as a double.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

extension Replay.RunReport {
    /// The report for a person: per partition what was replayed and dropped, the rates, the verification.
    public func lines() -> [String] {
        var lines: [String] = []
        for p in partitions {
            let range = p.firstOffset.map { "offsets \($0)...\(p.nextOffset - 1)" } ?? "no valid batch"
            lines.append("\(p.partition.name): \(p.batches) batches, \(p.records) records, \(p.bytes) bytes, \(range), \(p.segments) segments from \(p.partition.directory)")
            if let damage = p.damage { lines.append("\(p.partition.name): \(damage)") }
        }
        let where_ = removed ? "a temporary data directory (removed)" : dataDirectory
        lines.append("Replayed \(records) records (\(bytes) bytes) into \(where_) in \(Self.format(seconds, 3)) s: "
            + "\(Self.format(recordsPerSecond, 0)) records/s, \(Self.format(megabytesPerSecond, 2)) MB/s")
        for v in verifications {
            if v.ok {
                var line = "Verified \(v.partition): \(v.batches) batches and \(v.records) records identical to the source"
                if let manifest = v.manifestPath { line += "; \(v.manifestRecords) records match \(manifest)" }
                lines.append(line)
            } else {
                lines.append("Verification of \(v.partition) FAILED: \(v.mismatchCount) mismatches")
                for m in v.mismatches { lines.append("  \(m)") }
            }
        }
        return lines
    }

    /// The report as one JSON object.
    public func json() -> String {
        var o = "{\"source\":\(JSONText.string(source)),\"dataDirectory\":\(JSONText.string(dataDirectory)),\"removed\":\(removed)"
        o += ",\"seconds\":\(JSONText.number(seconds, digits: 6)),\"batches\":\(batches),\"records\":\(records),\"bytes\":\(bytes)"
        o += ",\"recordsPerSecond\":\(JSONText.number(recordsPerSecond, digits: 0)),\"mbPerSecond\":\(JSONText.number(megabytesPerSecond, digits: 3))"
        o += ",\"partitions\":["
        o += partitions.map { p in
            var s = "{\"partition\":\(JSONText.string(p.partition.name)),\"source\":\(JSONText.string(p.partition.directory))"
            s += ",\"batches\":\(p.batches),\"records\":\(p.records),\"bytes\":\(p.bytes),\"segments\":\(p.segments)"
            s += ",\"firstOffset\":\(p.firstOffset.map { "\($0)" } ?? "null"),\"nextOffset\":\(p.nextOffset)"
            s += ",\"seconds\":\(JSONText.number(p.seconds, digits: 6)),\"damage\":"
            if let d = p.damage {
                s += "{\"segment\":\(JSONText.string(d.segment)),\"position\":\(d.position),\"droppedBytes\":\(d.droppedBytes)"
                s += ",\"lastOffsetKept\":\(d.lastOffsetKept.map { "\($0)" } ?? "null"),\"reason\":\(JSONText.string(d.reason))"
                s += ",\"laterSegments\":[\(d.laterSegments.map { JSONText.string($0) }.joined(separator: ","))],\"laterBytes\":\(d.laterBytes)}"
            } else {
                s += "null"
            }
            return s + "}"
        }.joined(separator: ",")
        o += "],\"verification\":["
        o += verifications.map { v in
            "{\"partition\":\(JSONText.string(v.partition)),\"ok\":\(v.ok),\"batches\":\(v.batches),\"records\":\(v.records)"
                + ",\"manifest\":\(v.manifestPath.map { JSONText.string($0) } ?? "null"),\"manifestRecords\":\(v.manifestRecords)"
                + ",\"mismatchCount\":\(v.mismatchCount),\"mismatches\":[\(v.mismatches.map { JSONText.string($0) }.joined(separator: ","))]"
                + ",\"seconds\":\(JSONText.number(v.seconds, digits: 6))}"
        }.joined(separator: ",")
        return o + "]}"
    }

    static func format(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        if digits == 0 { return "\(Int64(rounded))" }
        let whole = Int64(rounded.rounded(.towardZero))
        var fraction = String(Int64((abs(rounded - Double(whole)) * scale).rounded()))
        fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
        return "\(whole).\(fraction)"
    }
}
