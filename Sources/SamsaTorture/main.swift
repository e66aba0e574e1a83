// samsa-torture: a process for crash tests to kill. It appends deterministic batches to a log and prints
// "acked <last offset>" after each append returns (after its fsync when --flush is given), so the test knows
// what was acknowledged before the SIGKILL.
//
//   SamsaTorture append-loop <partition dir> [--flush] [--segment-bytes N] [--seed S] [--appender]
//     with --appender, the batches go through a LogAppender (a small queue, so several are in flight when the
//     kill comes) and "acked" is printed by each completion;
//   SamsaTorture verify <partition dir> --acked N [--seed S]
//     opens the log (recovering it) and checks: every acknowledged offset is there, offsets are dense from 0,
//     every record holds the bytes append-loop wrote for its offset. Prints a summary; exits 1 on a mismatch.
//
// The log cleaner's crash tests (a data directory holding one compacted partition, `<topic>-0`):
//
//   SamsaTorture clean-once <data dir> [--topic T] [--now MS] [--segment-bytes N] [--delete-retention-ms N]
//                [--dedupe-buffer N] [--crash-at <phase> [--occurrence K]]
//     cleans the partition once with the clock fixed at --now; with --crash-at, kills itself (SIGKILL) the
//     K-th time the cleaner reaches that phase (cleaned-partial, cleaned-written, swap-log-renamed,
//     swap-renamed, old-partially-deleted, old-deleted, live-log-renamed, swapped, checkpointed).
//   SamsaTorture clean-loop <data dir> [--topic T] [--seed S] [--keys K] [--segment-bytes N]
//     appends keyed records (key, value or tombstone a function of the offset and seed) and cleans every few
//     appends, forever; prints "acked <last offset>" and "cleaned <clean point>".
//   SamsaTorture clean-verify <data dir> [--topic T] [--seed S] [--keys K] --acked N
//     opens the directory (recovering it) and checks what clean-loop's log must hold: every record is the one
//     written at its offset; each key's latest record is there (a latest tombstone may have aged out, and then
//     no record of the key is left); past the cleaner checkpoint, nothing is gone in the active segment and
//     below it only records a later one of their key replaces (a cleaning killed before its checkpoint);
//     nothing acked is lost. Exits 1 on a violation.
#if canImport(Glibc)
import Glibc
#endif
import SamsaLog
import Synchronization

@Sendable func fail(_ message: String) -> Never {
    let line = "samsa-torture: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

/// The value of record `offset`, so the test can check every byte after the crash.
func value(forOffset offset: Int64, seed: UInt64) -> [UInt8] {
    var x = UInt64(bitPattern: offset) &* 0x9E37_79B9_7F4A_7C15 ^ seed
    let count = 20 + Int(x % 300)
    var bytes = Array("offset-\(offset)-".utf8)
    for _ in 0..<count {
        x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        bytes.append(UInt8(truncatingIfNeeded: x >> 56))
    }
    return bytes
}

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count >= 2, ["clean-once", "clean-loop", "clean-verify"].contains(arguments[0]) {
    cleanerMain(arguments)
}
guard arguments.count >= 2, arguments[0] == "append-loop" || arguments[0] == "verify" else {
    fail("usage: SamsaTorture append-loop|verify|clean-once|clean-loop|clean-verify <dir> [options]")
}
let command = arguments[0]
var acked: Int64 = -1
let directory = arguments[1]
var config = LogConfig()
var seed: UInt64 = 1
var useAppender = false
var index = 2
while index < arguments.count {
    switch arguments[index] {
    case "--flush": config.flushMessages = 1
    case "--appender": useAppender = true
    case "--segment-bytes":
        index += 1
        guard let n = Int(arguments[index]) else { fail("bad --segment-bytes") }
        config.segmentBytes = n
    case "--seed":
        index += 1
        guard let n = UInt64(arguments[index]) else { fail("bad --seed") }
        seed = n
    case "--acked":
        index += 1
        guard let n = Int64(arguments[index]) else { fail("bad --acked") }
        acked = n
    default: fail("unknown option \(arguments[index])")
    }
    index += 1
}
@Sendable func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

if command == "verify" {
    do {
        let log = try Log.open(directory: directory, config: config)
        var expected: Int64 = 0
        var scratch: [UInt8] = []
        var problems = 0
        while expected < log.logEndOffset, let slice = try log.read(from: expected, maxBytes: 1 << 20).slice {
            let bytes = try slice.readBytes()
            try bytes.withUnsafeBytes { buffer in
                for whole in WholeBatches(buffer) {
                    try RecordBatch(validating: whole).forEachRecord(scratch: &scratch) { record in
                        if record.offset != expected || record.valueBytes != value(forOffset: record.offset, seed: seed) {
                            problems += 1
                        }
                        expected = record.offset + 1
                    }
                }
            }
        }
        let lost = acked >= log.logEndOffset
        say("log-end-offset \(log.logEndOffset) acked \(acked) records-checked \(expected) mismatches \(problems) truncated-bytes \(log.openReport.truncations.reduce(0) { $0 + $1.droppedBytes })")
        exit(problems == 0 && !lost && expected == log.logEndOffset ? 0 : 1)
    } catch {
        fail("\(error)")
    }
}

do {
    let log = try Log.open(directory: directory, config: config)
    var next = log.logEndOffset
    var builder = RecordBatchBuilder()
    var output: [UInt8] = []
    var rng = seed
    /// The next batch (1 to 16 records, values a function of their offsets) into `output`; returns its first offset.
    func buildNext() throws -> Int64 {
        rng = rng &* 6_364_136_223_846_793_005 &+ 1
        let count = 1 + Int(rng >> 60)
        builder.reset()
        for i in 0..<count {
            builder.append(timestamp: 1_700_000_000_000 + next + Int64(i), key: nil, value: value(forOffset: next + Int64(i), seed: seed))
        }
        output.removeAll(keepingCapacity: true)
        try builder.build(into: &output)
        defer { next += Int64(count) }
        return next
    }
    // Through a LogAppender: the batch is built and submitted here, written on the appender's thread, and
    // acknowledged by its completion (after the write and its fsync). The queue holds a few batches, so the kill
    // finds some submitted and not yet acknowledged.
    let appender = useAppender ? LogAppender(log: log, maxQueuedBytes: 16 << 10, maxQueued: 8) : nil
    while true {
        let first = try buildNext()
        guard let appender else {
            let result = try output.withUnsafeBytes { try log.append($0) }
            precondition(result.firstOffset == first)
            // One write(2) per line: nothing is buffered in this process when it is killed.
            say("acked \(result.lastOffset)")
            continue
        }
        try appender.submit(output) { result in
            switch result {
            case .success(let appended):
                precondition(appended.firstOffset == first, "appended at \(appended.firstOffset), expected \(first)")
                say("acked \(appended.lastOffset)")
            case .failure(let error):
                fail("\(error)")
            }
        }
    }
} catch {
    fail("\(error)")
}

// MARK: Cleaner crash tests

/// Record `offset` of clean-loop's log: its key, and its value (nil: a tombstone, one record in ten).
func compactedRecord(offset: Int64, seed: UInt64, keys: Int) -> (key: [UInt8], value: [UInt8]?) {
    var x = (UInt64(bitPattern: offset) &+ 1) &* 0x9E37_79B9_7F4A_7C15 ^ seed
    x ^= x >> 31
    x = x &* 0xBF58_476D_1CE4_E5B9
    x ^= x >> 29
    let key = Array("key-\(x % UInt64(keys))".utf8)
    if (x >> 40) % 10 == 0 { return (key, nil) }
    var value = Array("value-\(offset)-".utf8)
    for i in 0..<Int((x >> 20) % 40) { value.append(UInt8(truncatingIfNeeded: x >> UInt64(i % 56))) }
    return (key, value)
}

/// Every record of the log, in offset order.
func readAllRecords(_ log: Log) throws -> [(offset: Int64, key: [UInt8]?, value: [UInt8]?)] {
    var out: [(Int64, [UInt8]?, [UInt8]?)] = []
    var next = log.logStartOffset
    var scratch: [UInt8] = []
    while next < log.logEndOffset, let slice = try log.read(from: next, maxBytes: 1 << 20).slice {
        let bytes = try slice.readBytes()
        var progressed = false
        try bytes.withUnsafeBytes { buffer in
            for whole in WholeBatches(buffer) {
                let batch = try RecordBatch(validating: whole)
                try batch.forEachRecord(scratch: &scratch) { r in
                    if r.offset >= next { out.append((r.offset, r.keyBytes, r.valueBytes)) }
                }
                next = max(next, batch.nextOffset)
                progressed = true
            }
        }
        if !progressed { break }
    }
    return out
}

func cleanerMain(_ arguments: [String]) -> Never {
    let command = arguments[0]
    let dataDirectory = arguments[1]
    var topic = "compacted"
    var now: Int64 = 1_700_000_000_000
    var seed: UInt64 = 1
    var keys = 50
    var acked: Int64 = -1
    var crashAt: CleanerPhase?
    var occurrence = 1
    var logConfig = LogConfig()
    logConfig.cleanupPolicy = .compact
    logConfig.segmentBytes = 16 << 10
    logConfig.minCleanableDirtyRatio = 0
    logConfig.deleteRetentionMs = 2_000
    var cleanerConfig = CleanerConfig()
    cleanerConfig.dedupeBufferSize = 1 << 20
    var i = 2
    func value(_ name: String) -> String {
        i += 1
        guard i < arguments.count else { fail("\(name) needs a value") }
        return arguments[i]
    }
    while i < arguments.count {
        switch arguments[i] {
        case "--topic": topic = value("--topic")
        case "--now": now = Int64(value("--now")) ?? { fail("bad --now") }()
        case "--seed": seed = UInt64(value("--seed")) ?? { fail("bad --seed") }()
        case "--keys": keys = Int(value("--keys")) ?? { fail("bad --keys") }()
        case "--acked": acked = Int64(value("--acked")) ?? { fail("bad --acked") }()
        case "--segment-bytes": logConfig.segmentBytes = Int(value("--segment-bytes")) ?? { fail("bad --segment-bytes") }()
        case "--delete-retention-ms":
            logConfig.deleteRetentionMs = Int64(value("--delete-retention-ms")) ?? { fail("bad --delete-retention-ms") }()
        case "--dedupe-buffer": cleanerConfig.dedupeBufferSize = Int(value("--dedupe-buffer")) ?? { fail("bad --dedupe-buffer") }()
        case "--crash-at": crashAt = CleanerPhase(rawValue: value("--crash-at")) ?? { fail("unknown phase") }()
        case "--occurrence": occurrence = Int(value("--occurrence")) ?? { fail("bad --occurrence") }()
        default: fail("unknown option \(arguments[i])")
        }
        i += 1
    }
    if let crashAt {
        let target = occurrence
        let seen = Atomic<Int>(0)
        cleanerConfig.phaseObserver = { phase in
            guard phase == crashAt else { return }
            if seen.wrappingAdd(1, ordering: .relaxed).newValue == target { kill(getpid(), SIGKILL) }
        }
    }
    let clockValue = Atomic<Int64>(now)
    let clock: Clock = { clockValue.load(ordering: .relaxed) }
    let tp = TopicPartition(topic, 0)
    do {
        let config = logConfig
        let manager = try LogManager.open(
            dataDirectory: dataDirectory, configFor: { _ in config }, clock: clock, backgroundIntervalMs: nil,
            cleanerConfig: cleanerConfig)
        let log = try manager.getOrCreateLog(tp, config: config)
        switch command {
        case "clean-once":
            if let stats = try manager.cleaner.clean(log) { say("cleaned \(stats.endOffset)") }
            try manager.close()
            exit(0)
        case "clean-loop":
            var builder = RecordBatchBuilder()
            var output: [UInt8] = []
            var rng = seed
            let codecs: [CompressionCodec] = [.none, .lz4, .zstd, .gzip, .snappy]
            var appends = 0
            while true {
                rng = rng &* 6_364_136_223_846_793_005 &+ 1
                let next = log.logEndOffset
                clockValue.store(now + next, ordering: .relaxed)
                builder.codec = codecs[Int(rng >> 61) % codecs.count]
                builder.reset()
                for j in 0..<(1 + Int(rng >> 59) % 8) {
                    let offset = next + Int64(j)
                    let record = compactedRecord(offset: offset, seed: seed, keys: keys)
                    builder.append(timestamp: now + offset, key: record.key, value: record.value)
                }
                output.removeAll(keepingCapacity: true)
                try builder.build(into: &output)
                let result = try output.withUnsafeBytes { try log.append($0) }
                say("acked \(result.lastOffset)")
                appends += 1
                if appends % 25 == 0, let stats = try manager.cleaner.clean(log) { say("cleaned \(stats.endOffset)") }
            }
        default:  // clean-verify
            let records = try readAllRecords(log)
            let end = log.logEndOffset
            let checkpoint = (try OffsetCheckpointFile(path: dataDirectory + "/cleaner-offset-checkpoint").read())[tp] ?? 0
            var problems: [String] = []
            var present = Set<Int64>()
            var previous: Int64 = -1
            for r in records {
                let expected = compactedRecord(offset: r.offset, seed: seed, keys: keys)
                if r.offset <= previous { problems.append("offset \(r.offset) after \(previous)") }
                if r.key != expected.key || r.value != expected.value { problems.append("offset \(r.offset) holds another record") }
                previous = r.offset
                present.insert(r.offset)
            }
            var latest: [[UInt8]: Int64] = [:]
            for offset in 0..<end { latest[compactedRecord(offset: offset, seed: seed, keys: keys).key] = offset }
            var keysPresent = Set<[UInt8]>()
            for r in records { if let key = r.key { keysPresent.insert(key) } }
            for (key, offset) in latest where !present.contains(offset) {
                let tombstone = compactedRecord(offset: offset, seed: seed, keys: keys).value == nil
                if !tombstone {
                    problems.append("latest record of \(String(decoding: key, as: UTF8.self)) (offset \(offset)) is gone")
                } else if keysPresent.contains(key) {
                    problems.append("\(String(decoding: key, as: UTF8.self)) lost its tombstone at \(offset) but older records remain")
                }
            }
            // Past the checkpointed clean point only a cleaning killed before its checkpoint can have removed
            // records, and only below the active segment, and only records with a later record of their key there
            // (or a latest tombstone aged out, checked above).
            let activeBase = log.segmentBaseOffsets.last ?? 0
            var laterBelowActive = Set<[UInt8]>()
            for offset in (max(checkpoint, log.logStartOffset)..<end).reversed() {
                let record = compactedRecord(offset: offset, seed: seed, keys: keys)
                defer { if offset < activeBase { laterBelowActive.insert(record.key) } }
                guard !present.contains(offset), latest[record.key] != offset else { continue }
                if offset >= activeBase || !laterBelowActive.contains(record.key) {
                    problems.append("offset \(offset) at or past the clean point \(checkpoint) is gone")
                }
            }
            if acked >= end { problems.append("acked offset \(acked) is past the log end \(end)") }
            say("log-end-offset \(end) records \(records.count) keys \(keysPresent.count) clean-point \(checkpoint) problems \(problems.count)")
            for problem in problems.prefix(20) { say("  " + problem) }
            try manager.close()
            exit(problems.isEmpty ? 0 : 1)
        }
    } catch {
        fail("\(error)")
    }
}
