// samsa-torture: a process for crash tests to kill. It appends deterministic batches to a log and prints
// "acked <last offset>" after each append returns (after its fsync when --flush is given), so the test knows
// what was acknowledged before the SIGKILL.
//
//   SamsaTorture append-loop <partition dir> [--flush] [--segment-bytes N] [--seed S]
//   SamsaTorture verify <partition dir> --acked N [--seed S]
//     opens the log (recovering it) and checks: every acknowledged offset is there, offsets are dense from 0,
//     every record holds the bytes append-loop wrote for its offset. Prints a summary; exits 1 on a mismatch.
#if canImport(Glibc)
import Glibc
#endif
import SamsaLog

func fail(_ message: String) -> Never {
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
guard arguments.count >= 2, arguments[0] == "append-loop" || arguments[0] == "verify" else {
    fail("usage: SamsaTorture append-loop|verify <dir> [--flush] [--segment-bytes N] [--seed S] [--acked N]")
}
let command = arguments[0]
var acked: Int64 = -1
let directory = arguments[1]
var config = LogConfig()
var seed: UInt64 = 1
var index = 2
while index < arguments.count {
    switch arguments[index] {
    case "--flush": config.flushMessages = 1
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
func say(_ line: String) {
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
                var position = 0
                while position < buffer.count, let size = try? RecordBatch.size(ofBatchAt: UnsafeRawBufferPointer(rebasing: buffer[position...])), position + size <= buffer.count {
                    let batch = try RecordBatch(validating: UnsafeRawBufferPointer(rebasing: buffer[position...]))
                    try batch.forEachRecord(scratch: &scratch) { record in
                        if record.offset != expected || record.valueBytes != value(forOffset: record.offset, seed: seed) {
                            problems += 1
                        }
                        expected = record.offset + 1
                    }
                    position += size
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
    while true {
        rng = rng &* 6_364_136_223_846_793_005 &+ 1
        let count = 1 + Int(rng >> 60)
        builder.reset()
        for i in 0..<count {
            builder.append(timestamp: 1_700_000_000_000 + next + Int64(i), key: nil, value: value(forOffset: next + Int64(i), seed: seed))
        }
        output.removeAll(keepingCapacity: true)
        try builder.build(into: &output)
        let result = try output.withUnsafeBytes { try log.append($0) }
        precondition(result.firstOffset == next)
        next = result.lastOffset + 1
        // One write(2) per line: nothing is buffered in this process when it is killed.
        say("acked \(result.lastOffset)")
    }
} catch {
    fail("\(error)")
}
