#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Kafka's `kafka-dump-log.sh` (`kafka.tools.DumpLogSegments`) for segment files, Samsa's or Kafka's: the same
/// lines, fields and order, so that output can be diffed against Kafka's for the same files.
///
/// - `.log`: `Dumping <file>`, `Log starting offset: N`, one line per batch (`baseOffset: ... isvalid: true`),
///   and with deep iteration one `| offset: ...` line per record (`key:`/`payload:` with `printDataLog`,
///   `endTxnMarker:` for transaction markers); `Found N invalid bytes at the end of <name>` after a torn tail.
/// - `.index`: `offset: N position: P` per entry, each checked against the batch it points at in the `.log`
///   next to it (`Mismatches in :<path>` on stderr at the end).
/// - `.timeindex`: `timestamp: T offset: O` per entry, each checked against the `.log` (mismatched, out of
///   order and missing entries reported on stderr at the end, as Kafka does).
/// - `.txnindex`: one line per aborted transaction.
///
/// `json` prints one JSON object per record instead (and per index entry), for machines.
///
/// ```swift
/// var options = DumpLog.Options()
/// options.printDataLog = true
/// let summary = DumpLog.run(files: ["/data/orders-0/00000000000000000000.log"], options: options,
///                           out: { print($0) }, err: { print($0) })
/// ```
public enum DumpLog {
    public struct Options: Sendable, Equatable {
        /// `--print-data-log`: print keys and values (as UTF-8, like Kafka's StringDecoder). Implies deep iteration.
        public var printDataLog = false
        /// `--deep-iteration`: print every record, not only batches.
        public var deepIteration = false
        /// `--json`: one JSON object per record (and per index entry) instead of Kafka's text.
        public var json = false
        /// `--verify-index-only`: check index entries against the log without printing them.
        public var verifyIndexOnly = false
        /// `--index-sanity-check`: only the check a broker runs at startup to decide whether to rebuild an index.
        public var indexSanityCheck = false
        /// `--skip-record-metadata`: record lines without offsets, timestamps and sizes.
        public var skipRecordMetadata = false
        /// `--max-bytes`: read at most this many bytes of each `.log` (Kafka's default: Integer.MAX_VALUE).
        public var maxBytes = Int(Int32.max)
        /// `--max-message-size`: the largest batch an index check reads (Kafka's default: 5 MiB).
        public var maxMessageSize = 5 << 20
        /// Print a summary line per file kind at the end (not part of Kafka's output, so off by default).
        public var summary = false

        public init() {}

        /// Kafka: deep iteration is implied by printing the data.
        public var isDeepIteration: Bool { deepIteration || printDataLog || json }
    }

    /// What a dump found, over all files.
    public struct Summary: Sendable, Equatable {
        public var files = 0
        public var batches = 0
        public var invalidBatches = 0
        public var records = 0
        public var bytes: Int64 = 0
        /// Batches per codec name.
        public var codecs: [String: Int] = [:]
        public var indexEntries = 0
        /// Offset index entries that do not point at the start of the batch ending at their offset.
        public var indexMismatches = 0
        /// Time index entries that are mismatched, out of order or point at no batch.
        public var timeIndexProblems = 0
        /// Record offsets that do not follow the previous record's (a gap: compaction, or damage).
        public var nonConsecutiveOffsets = 0
        /// Files (or parts of files) that could not be read, one line each.
        public var errors: [String] = []

        public init() {}

        /// Whether anything was wrong: unreadable files, invalid batches, index mismatches.
        public var foundProblems: Bool {
            !errors.isEmpty || invalidBatches > 0 || indexMismatches > 0 || timeIndexProblems > 0
        }

        /// `Summary: 3 files, 150 batches (0 invalid), 2,561 records, 213,998 bytes; codecs: lz4 60, none 90`.
        public var line: String {
            let codecList = codecs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            var text = "Summary: \(files) files, \(batches) batches (\(invalidBatches) invalid), \(records) records, \(bytes) bytes"
            if !codecList.isEmpty { text += "; codecs: \(codecList)" }
            if indexEntries > 0 || indexMismatches > 0 {
                text += "; \(indexEntries) index entries, \(indexMismatches) mismatched, \(timeIndexProblems) time index problems"
            }
            if !errors.isEmpty { text += "; \(errors.count) errors" }
            return text
        }
    }

    /// Dumps `files` in order: `out` gets what Kafka prints to stdout, `err` what it prints to stderr (index
    /// mismatches and other reports come at the end, after every file, as in Kafka). A file that cannot be read
    /// is reported on `err` and in the summary's `errors`; the other files are still dumped.
    public static func run(
        files: [String], options: Options, fileSystem: any FileSystem = PosixFileSystem(),
        out: (String) -> Void, err: (String) -> Void
    ) -> Summary {
        withoutActuallyEscaping(out) { out in
            withoutActuallyEscaping(err) { err in
                var dumper = Dumper(options: options, fileSystem: fileSystem, out: out, err: err)
                for file in files where !file.isEmpty { dumper.dump(file) }
                dumper.printReports()
                return dumper.summary
            }
        }
    }

    /// How Java's `File.toString` shows a path: repeated separators collapsed, no trailing separator.
    static func javaFileString(_ path: String) -> String {
        var result = ""
        var previousSlash = false
        for c in path {
            if c == "/" {
                if previousSlash { continue }
                previousSlash = true
            } else {
                previousSlash = false
            }
            result.append(c)
        }
        if result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        return result
    }

    /// Java's `File.getAbsolutePath`: the path resolved against the working directory, not normalized.
    static func absolutePath(_ path: String) -> String {
        let normalized = javaFileString(path)
        if normalized.hasPrefix("/") { return normalized }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return normalized }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd == "/" ? "/" + normalized : cwd + "/" + normalized
    }

    static func fileName(_ path: String) -> String {
        String(javaFileString(path).split(separator: "/", omittingEmptySubsequences: false).last ?? "")
    }

    static func directory(_ path: String) -> String {
        let absolute = absolutePath(path)
        guard let slash = absolute.lastIndex(of: "/") else { return "." }
        return slash == absolute.startIndex ? "/" : String(absolute[..<slash])
    }

    /// Kafka's `lastSequence`/record `sequence`: the base sequence advanced by `delta`, wrapping past Int32.max.
    static func incrementSequence(_ sequence: Int32, _ delta: Int32) -> Int32 {
        guard sequence >= 0 else { return RecordBatch.noSequence }
        if sequence > Int32.max - delta { return delta - (Int32.max - sequence) - 1 }
        return sequence + delta
    }

    /// Kafka's `ControlRecordType` names, by type id.
    static func controlTypeName(_ id: Int16) -> String {
        switch id {
        case 0: "ABORT"
        case 1: "COMMIT"
        case 2: "LEADER_CHANGE"
        case 3: "SNAPSHOT_HEADER"
        case 4: "SNAPSHOT_FOOTER"
        case 5: "KRAFT_VERSION"
        case 6: "KRAFT_VOTERS"
        default: "UNKNOWN"
        }
    }

    /// Kafka's batch line (`printBatchLevel`) for a magic-2 batch at `position`.
    static func batchLine(_ batch: RecordBatch, position: Int64, isValid: Bool) -> String {
        let horizon = batch.deleteHorizonMs.map { "OptionalLong[\($0)]" } ?? "OptionalLong.empty"
        let codec = batch.compression?.name ?? "unknown"
        return "baseOffset: \(batch.baseOffset) lastOffset: \(batch.lastOffset) count: \(batch.recordCount)"
            + " baseSequence: \(batch.baseSequence) lastSequence: \(incrementSequence(batch.baseSequence, batch.lastOffsetDelta))"
            + " producerId: \(batch.producerId) producerEpoch: \(batch.producerEpoch)"
            + " partitionLeaderEpoch: \(batch.partitionLeaderEpoch) isTransactional: \(batch.isTransactional)"
            + " isControl: \(batch.isControl) deleteHorizonMs: \(horizon)"
            + " position: \(position) \(batch.timestampType): \(batch.maxTimestamp) size: \(batch.sizeInBytes)"
            + " magic: \(batch.magic) compresscodec: \(codec) crc: \(batch.crc) isvalid: \(isValid)"
    }
}

/// The state of one dump: the reports Kafka collects across files and prints at the end.
struct Dumper {
    let options: DumpLog.Options
    let fileSystem: any FileSystem
    let out: (String) -> Void
    let err: (String) -> Void
    var summary = DumpLog.Summary()
    /// Per `.index` (absolute path): (index offset, log offset), newest first as Kafka prepends them.
    var indexMismatches: [(file: String, pairs: [(Int64, Int64)])] = []
    /// Per `.timeindex`: (index timestamp, log timestamp).
    var timeMismatches: [(file: String, pairs: [(Int64, Int64)])] = []
    /// Per `.timeindex`: (index timestamp, previous index timestamp).
    var timeOutOfOrder: [(file: String, pairs: [(Int64, Int64)])] = []
    /// Per `.timeindex`: (indexed offset, found log offset or -1).
    var timeNotFound: [(file: String, pairs: [(Int64, Int64)])] = []
    /// Per `.log`: (offset, the offset that followed it), newest first.
    var nonConsecutive: [(file: String, pairs: [(Int64, Int64)])] = []
    var scratch: [UInt8] = []

    init(options: DumpLog.Options, fileSystem: any FileSystem, out: @escaping (String) -> Void, err: @escaping (String) -> Void) {
        self.options = options
        self.fileSystem = fileSystem
        self.out = out
        self.err = err
    }

    mutating func fail(_ message: String) {
        err("Error: \(message)")
        summary.errors.append(message)
    }

    mutating func dump(_ path: String) {
        let shown = DumpLog.javaFileString(path)
        if !options.json { out("Dumping \(shown)") }
        summary.files += 1
        let name = DumpLog.fileName(path)
        guard let dot = name.lastIndex(of: ".") else {
            err("Ignoring unknown file \(shown)")
            return
        }
        switch name[dot...] {
        case ".log": dumpLog(path)
        case ".index": dumpIndex(path)
        case ".timeindex": dumpTimeIndex(path)
        case ".txnindex": dumpTransactionIndex(path)
        case ".snapshot", ".checkpoint":
            err("Ignoring \(shown): producer state and KRaft snapshots are not dumped by samsa")
        default:
            err("Ignoring unknown file \(shown)")
        }
    }

    /// The base offset in a segment file's name (`00000000000000000470.log` -> 470).
    func baseOffset(_ path: String) -> Int64? {
        let name = DumpLog.fileName(path)
        return Int64(name.split(separator: ".", omittingEmptySubsequences: false).first ?? "")
    }

    func siblingPath(_ path: String, ext: String) -> String {
        let name = DumpLog.fileName(path)
        let stem = name.split(separator: ".", omittingEmptySubsequences: false).first.map(String.init) ?? name
        return DumpLog.directory(path) + "/" + stem + "." + ext
    }

    // MARK: .log

    mutating func dumpLog(_ path: String) {
        guard let base = baseOffset(path) else { return fail("\(path): the file name is not a segment's base offset") }
        if !options.json { out("Log starting offset: \(base)") }
        var reader: SegmentBatchReader
        let fileSize: Int64
        do {
            reader = try SegmentBatchReader(path: path, fileSystem: fileSystem, maxBytes: Int64(options.maxBytes))
            fileSize = try reader.file.size()
        } catch {
            return fail("\(error)")
        }
        let absolute = DumpLog.absolutePath(path)
        var validBytes: Int64 = 0
        var lastOffset: Int64 = -1
        var gaps: [(Int64, Int64)] = []
        scan: while true {
            let step: SegmentBatchReader.Step
            do { step = try reader.next() } catch { fail("\(error)"); break }
            switch step {
            case .end, .truncated:
                break scan
            case .invalid(let position, let reason):
                // Kafka stops with CorruptRecordException here; report it and count the rest as invalid bytes.
                fail("\(path) at byte \(position): \(reason)")
                break scan
            case .batch(let position, let size):
                let ok = reader.withBytes(from: position, count: size) { bytes in
                    dumpBatch(bytes, position: position, path: path, lastOffset: &lastOffset, gaps: &gaps)
                }
                if !ok { break scan }
                validBytes += Int64(size)
            }
        }
        if !gaps.isEmpty {
            nonConsecutive.append((absolute, gaps.reversed()))
            summary.nonConsecutiveOffsets += gaps.count
        }
        summary.bytes += validBytes
        let trailing = min(fileSize, Int64(options.maxBytes)) - validBytes
        if trailing > 0 && options.maxBytes == Int(Int32.max) && !options.json {
            out("Found \(trailing) invalid bytes at the end of \(DumpLog.fileName(path))")
        }
    }

    /// Prints one batch (and its records); false when the batch cannot be read at all.
    mutating func dumpBatch(
        _ bytes: UnsafeRawBufferPointer, position: Int64, path: String, lastOffset: inout Int64, gaps: inout [(Int64, Int64)]
    ) -> Bool {
        let batch: RecordBatch
        do {
            batch = try RecordBatch(validatingHeaderOf: bytes, maxBatchSize: bytes.count)
        } catch {
            fail("\(path) at byte \(position): \(error)")
            return false
        }
        let isValid = batch.computeChecksum() == batch.crc
        summary.batches += 1
        if !isValid { summary.invalidBatches += 1 }
        summary.codecs[batch.compression?.name ?? "unknown", default: 0] += 1
        if !options.json { out(DumpLog.batchLine(batch, position: position, isValid: isValid)) }
        guard options.isDeepIteration else {
            summary.records += Int(batch.recordCount)
            return true
        }
        var scratch = self.scratch
        defer { self.scratch = scratch }
        var records = 0
        do {
            try batch.withRecords(scratch: &scratch) { iterator in
                while let record = try iterator.next() {
                    if lastOffset != -1 && record.offset != lastOffset + 1 { gaps.append((lastOffset, record.offset)) }
                    lastOffset = record.offset
                    records += 1
                    out(options.json ? jsonRecord(record, batch: batch, position: position) : recordLine(record, batch: batch))
                }
            }
            summary.records += records
        } catch {
            summary.records += records
            fail("\(path) batch at byte \(position) (offsets \(batch.baseOffset)...\(batch.lastOffset)): \(error)")
        }
        return true
    }

    /// Kafka's record line: `| offset: 3 CreateTime: 1732400000925 keySize: 9 valueSize: 70 sequence: 0
    /// headerKeys: [] key: key-00116 payload: {...}`.
    func recordLine(_ record: Record, batch: RecordBatch) -> String {
        var line = ""
        var prefix = "| "
        if !options.skipRecordMetadata {
            line += "\(prefix)offset: \(record.offset) \(batch.timestampType): \(record.timestamp)"
            line += " keySize: \(record.key?.count ?? -1) valueSize: \(record.value?.count ?? -1)"
            prefix = " "
            line += " sequence: \(DumpLog.incrementSequence(batch.baseSequence, record.offsetDelta)) headerKeys: ["
            var first = true
            for header in record.headers {
                if !first { line += "," }
                line += header.keyString
                first = false
            }
            line += "]"
            if batch.isControl { line += controlDescription(record) }
        }
        if options.printDataLog && !batch.isControl {
            if let key = record.key {
                line += "\(prefix)key: " + String(decoding: key, as: UTF8.self)
                prefix = " "
            }
            if let value = record.value { line += " payload: " + String(decoding: value, as: UTF8.self) }
        }
        return line
    }

    /// ` endTxnMarker: COMMIT coordinatorEpoch: 7`, or ` controlType: LEADER_CHANGE(2)` for other control records.
    func controlDescription(_ record: Record) -> String {
        guard let key = record.key, key.count >= 4 else {
            return " controlType: invalid (key of \(record.key?.count ?? -1) bytes)"
        }
        let typeId = key.loadBigEndian(at: 2, as: Int16.self)
        if typeId == 0 || typeId == 1 {
            if let marker = try? ControlRecord(record: record), let epoch = marker.coordinatorEpoch {
                return " endTxnMarker: \(marker.kind) coordinatorEpoch: \(epoch)"
            }
            return " endTxnMarker: \(DumpLog.controlTypeName(typeId)) (value of \(record.value?.count ?? -1) bytes)"
        }
        return " controlType: \(DumpLog.controlTypeName(typeId))(\(typeId))"
    }

    /// One record as a JSON object: offset, timestamp, key and value (base64, null when null), headers, and the
    /// fields of its batch.
    func jsonRecord(_ record: Record, batch: RecordBatch, position: Int64) -> String {
        var o = "{\"offset\":\(record.offset),\"timestamp\":\(record.timestamp),\"timestampType\":\"\(batch.timestampType)\""
        o += ",\"key\":"
        if let key = record.key { o += "\""; JSONText.appendBase64(key, to: &o); o += "\"" } else { o += "null" }
        o += ",\"value\":"
        if let value = record.value { o += "\""; JSONText.appendBase64(value, to: &o); o += "\"" } else { o += "null" }
        o += ",\"headers\":["
        var first = true
        for header in record.headers {
            if !first { o += "," }
            first = false
            o += "{\"key\":"
            JSONText.appendString(header.keyString, to: &o)
            o += ",\"value\":"
            if let value = header.value { o += "\""; JSONText.appendBase64(value, to: &o); o += "\"" } else { o += "null" }
            o += "}"
        }
        o += "],\"sequence\":\(DumpLog.incrementSequence(batch.baseSequence, record.offsetDelta))"
        o += ",\"baseOffset\":\(batch.baseOffset),\"lastOffset\":\(batch.lastOffset),\"position\":\(position)"
        o += ",\"partitionLeaderEpoch\":\(batch.partitionLeaderEpoch),\"producerId\":\(batch.producerId)"
        o += ",\"producerEpoch\":\(batch.producerEpoch),\"isTransactional\":\(batch.isTransactional)"
        o += ",\"isControl\":\(batch.isControl),\"compresscodec\":\"\(batch.compression?.name ?? "unknown")\""
        if batch.isControl, let marker = try? ControlRecord(record: record) {
            o += ",\"endTxnMarker\":\"\(marker.kind)\",\"coordinatorEpoch\":"
            o += marker.coordinatorEpoch.map { "\($0)" } ?? "null"
        }
        return o + "}"
    }

    // MARK: Index files

    /// Reads a whole index file (bounded: index files are at most `segment.index.bytes`, 2 GiB at most).
    mutating func readIndexFile(_ path: String) -> [UInt8]? {
        do {
            let file = try fileSystem.openFile(path, create: false)
            let size = try file.size()
            guard size <= Int64(Int32.max) else {
                fail("\(path): index file of \(size) bytes is larger than any index Kafka writes")
                return nil
            }
            return try file.read(count: Int(size), at: 0)
        } catch {
            fail("\(error)")
            return nil
        }
    }

    /// The header of the batch at `position` in `log`, if a whole batch of at most `maxSize` bytes is there.
    func header(in log: any LogFile, at position: Int64, logSize: Int64, maxSize: Int) -> RecordBatchHeader? {
        var scanner = SegmentBatchReader(file: log, from: position, limit: min(logSize, position + Int64(maxSize)), readSize: 4096)
        guard case .batch(let at, _) = try? scanner.next() else { return nil }
        return scanner.withBytes(from: at, count: RecordBatch.headerSize) { try? RecordBatchHeader(parsing: $0) }
    }

    mutating func dumpIndex(_ path: String) {
        guard let base = baseOffset(path) else { return fail("\(path): the file name is not a segment's base offset") }
        let logPath = siblingPath(path, ext: "log")
        let log: any LogFile
        let logSize: Int64
        do {
            log = try fileSystem.openFile(logPath, create: false)
            logSize = try log.size()
        } catch {
            return fail("\(error)")
        }
        guard let bytes = readIndexFile(path) else { return }
        let shown = DumpLog.javaFileString(path)
        let entries = bytes.count / 8
        if entries == 0 {
            if !options.json { out("\(shown) is empty.") }
            return
        }
        if options.indexSanityCheck {
            // Kafka's OffsetIndex.sanityCheck (relative offsets are signed 32-bit there).
            let lastOffset = base + Int64(bytes.withUnsafeBytes { $0.loadBigEndian(at: (entries - 1) * 8, as: Int32.self) })
            if lastOffset < base {
                fail("Corrupt index found, index file (\(DumpLog.absolutePath(path))) has non-zero size but the last offset is \(lastOffset) which is less than the base offset \(base)")
            } else if bytes.count % 8 != 0 {
                fail("Index file \(DumpLog.absolutePath(path)) is corrupt, found \(bytes.count) bytes which is neither positive nor a multiple of 8")
            } else {
                out("\(shown) passed sanity check.")
            }
            return
        }
        var mismatches: [(Int64, Int64)] = []
        for i in 0..<entries {
            let (relative, position) = bytes.withUnsafeBytes {
                ($0.loadBigEndian(at: i * 8, as: UInt32.self), $0.loadBigEndian(at: i * 8 + 4, as: UInt32.self))
            }
            let offset = base + Int64(relative)
            // A preallocated (sparse) file holds zeros after its entries: stop at the first one.
            if offset == base && i > 0 { break }
            summary.indexEntries += 1
            let found = header(in: log, at: Int64(position), logSize: logSize, maxSize: options.maxMessageSize)?.lastOffset ?? -1
            if found != offset { mismatches.insert((offset, found), at: 0) }
            if !options.verifyIndexOnly {
                out(options.json
                    ? "{\"file\":\(JSONText.string(shown)),\"offset\":\(offset),\"position\":\(position)}"
                    : "offset: \(offset) position: \(position)")
            }
        }
        if !mismatches.isEmpty {
            indexMismatches.append((DumpLog.absolutePath(path), mismatches))
            summary.indexMismatches += mismatches.count
        }
    }

    mutating func dumpTimeIndex(_ path: String) {
        guard let base = baseOffset(path) else { return fail("\(path): the file name is not a segment's base offset") }
        let log: any LogFile
        let logSize: Int64
        do {
            log = try fileSystem.openFile(siblingPath(path, ext: "log"), create: false)
            logSize = try log.size()
        } catch {
            return fail("\(error)")
        }
        guard let bytes = readIndexFile(path) else { return }
        // The offset index of the same segment says where to start looking for each entry's batch.
        let offsetIndexPath = siblingPath(path, ext: "index")
        var offsetEntries: [(offset: Int64, position: Int64)] = []
        if fileSystem.fileExists(offsetIndexPath), let index = readIndexFile(offsetIndexPath) {
            index.withUnsafeBytes { b in
                for i in 0..<(b.count / 8) {
                    let offset = base + Int64(b.loadBigEndian(at: i * 8, as: UInt32.self))
                    if offset == base && i > 0 { break }
                    offsetEntries.append((offset, Int64(b.loadBigEndian(at: i * 8 + 4, as: UInt32.self))))
                }
            }
        }
        let shown = DumpLog.javaFileString(path)
        let entries = bytes.count / 12
        if options.indexSanityCheck {
            let load = { (i: Int) -> (Int64, Int64) in
                bytes.withUnsafeBytes { ($0.loadBigEndian(at: i * 12, as: Int64.self), base + Int64($0.loadBigEndian(at: i * 12 + 8, as: UInt32.self))) }
            }
            if entries > 0 && load(entries - 1).0 < load(0).0 {
                fail("Corrupt time index found, time index file (\(DumpLog.absolutePath(path))) has non-zero size but the last timestamp is \(load(entries - 1).0) which is less than the first timestamp \(load(0).0)")
            } else if bytes.count % 12 != 0 {
                fail("Time index file \(DumpLog.absolutePath(path)) is corrupt, found \(bytes.count) bytes which is neither positive nor a multiple of 12")
            } else {
                out("\(shown) passed sanity check.")
            }
            return
        }
        let absolute = DumpLog.absolutePath(path)
        var mismatched: [(Int64, Int64)] = []
        var outOfOrder: [(Int64, Int64)] = []
        var notFound: [(Int64, Int64)] = []
        var previousTimestamp: Int64 = -1  // Kafka's RecordBatch.NO_TIMESTAMP
        for i in 0..<entries {
            let (timestamp, relative) = bytes.withUnsafeBytes {
                ($0.loadBigEndian(at: i * 12, as: Int64.self), $0.loadBigEndian(at: i * 12 + 8, as: UInt32.self))
            }
            let offset = base + Int64(relative)
            if offset == base && i > 0 { break }
            summary.indexEntries += 1
            let start = offsetEntries.last { $0.offset <= offset }?.position ?? 0
            switch batchEnding(atOrAfter: offset, in: log, from: start, logSize: logSize) {
            case nil:
                notFound.append((offset, -1))
            case let (header, _)? where header.lastOffset != offset:
                notFound.append((offset, header.lastOffset))
            case let (header, position)?:
                let logTimestamp = maxRecordTimestamp(log, at: position, size: header.sizeInBytes)
                if logTimestamp != timestamp { mismatched.append((timestamp, logTimestamp)) }
                if previousTimestamp >= timestamp { outOfOrder.append((timestamp, previousTimestamp)) }
            }
            if !options.verifyIndexOnly {
                out(options.json
                    ? "{\"file\":\(JSONText.string(shown)),\"timestamp\":\(timestamp),\"offset\":\(offset)}"
                    : "timestamp: \(timestamp) offset: \(offset)")
            }
            previousTimestamp = timestamp
        }
        if !mismatched.isEmpty { timeMismatches.append((absolute, mismatched)) }
        if !outOfOrder.isEmpty { timeOutOfOrder.append((absolute, outOfOrder)) }
        if !notFound.isEmpty { timeNotFound.append((absolute, notFound)) }
        summary.timeIndexProblems += mismatched.count + outOfOrder.count + notFound.count
    }

    /// The first batch at or after `position` whose last offset is at or above `offset`.
    func batchEnding(atOrAfter offset: Int64, in log: any LogFile, from position: Int64, logSize: Int64) -> (RecordBatchHeader, Int64)? {
        var reader = SegmentBatchReader(file: log, from: position, limit: logSize, readSize: 64 << 10)
        while case .batch(let at, _) = try? reader.next() {
            guard let header = reader.withBytes(from: at, count: RecordBatch.headerSize, { try? RecordBatchHeader(parsing: $0) }) else {
                return nil
            }
            if header.lastOffset >= offset { return (header, at) }
        }
        return nil
    }

    /// The largest record timestamp in the batch (Kafka iterates the records; LogAppendTime records carry the
    /// batch's max timestamp). -1 when the batch cannot be read.
    mutating func maxRecordTimestamp(_ log: any LogFile, at position: Int64, size: Int) -> Int64 {
        guard let bytes = try? log.read(count: size, at: position), bytes.count == size else { return -1 }
        var maximum: Int64 = -1
        do {
            try bytes.withUnsafeBytes { buffer in
                let batch = try RecordBatch(validatingHeaderOf: buffer, maxBatchSize: size)
                try batch.forEachRecord(scratch: &scratch) { maximum = max(maximum, $0.timestamp) }
            }
        } catch {
            return -1
        }
        return maximum
    }

    // MARK: .txnindex

    mutating func dumpTransactionIndex(_ path: String) {
        guard let bytes = readIndexFile(path) else { return }
        // Entries of 34 bytes: version int16, producerId, firstOffset, lastOffset, lastStableOffset (int64 each).
        bytes.withUnsafeBytes { b in
            for i in 0..<(b.count / 34) {
                let at = i * 34
                out("version: \(b.loadBigEndian(at: at, as: Int16.self)) producerId: \(b.loadBigEndian(at: at + 2, as: Int64.self))"
                    + " firstOffset: \(b.loadBigEndian(at: at + 10, as: Int64.self)) lastOffset: \(b.loadBigEndian(at: at + 18, as: Int64.self))"
                    + " lastStableOffset: \(b.loadBigEndian(at: at + 26, as: Int64.self))")
            }
        }
    }

    // MARK: Reports

    /// What Kafka prints to stderr after every file was dumped, in its order.
    func printReports() {
        for (file, pairs) in indexMismatches {
            err("Mismatches in :\(file)")
            for (indexOffset, logOffset) in pairs { err("  Index offset: \(indexOffset), log offset: \(logOffset)") }
        }
        for (file, pairs) in timeMismatches {
            err("Found timestamp mismatch in :\(file)")
            for (indexTimestamp, logTimestamp) in pairs { err("  Index timestamp: \(indexTimestamp), log timestamp: \(logTimestamp)") }
        }
        for (file, pairs) in timeOutOfOrder {
            err("Found out of order timestamp in :\(file)")
            for (indexTimestamp, previous) in pairs { err("  Index timestamp: \(indexTimestamp), Previously indexed timestamp: \(previous)") }
        }
        for (_, pairs) in timeNotFound {
            err("The following indexed offsets are not found in the log.")
            for (indexed, found) in pairs { err("Indexed offset: \(indexed), found log offset: \(found)") }
        }
        for (file, pairs) in nonConsecutive {
            err("Non-consecutive offsets in \(file)")
            for (first, second) in pairs { err("  \(first) is followed by \(second)") }
        }
        if options.summary { out(summary.line) }
    }
}
