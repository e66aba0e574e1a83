// Fuzz target `log_recovery`: a partition directory whose segment files are the input, opened by Log.open on a
// simulated file system, then read from end to end. Input layout: byte 0 = flags (bit 0: clean shutdown, so the
// index is trusted and loaded as is; bit 1: a second segment), bytes 1-2 = the .index length, then the .index bytes,
// then the .log bytes (split in two segments at the middle with bit 1). Recovery must truncate what is invalid and
// never crash; reads, timestamp lookups and appends after it must work or fail with a typed error.
import Logging
import SamsaLog

let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLogRecovery(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size >= 3, let data else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let flags = input[0]
    let indexLength = min(Int(input[1]) << 8 | Int(input[2]), size - 3)
    let index = Array(input[3..<(3 + indexLength)])
    let log = Array(input[(3 + indexLength)...])
    let fs = SimulatedFileSystem(seed: 1)
    let directory = "/data/t-0"
    do {
        try fs.createDirectory(directory)
        var segments: [(Int64, [UInt8])] = [(0, log)]
        if flags & 2 != 0 {
            segments = [(0, Array(log[..<(log.count / 2)])), (Int64(log.count / 2 + 1), Array(log[(log.count / 2)...]))]
        }
        for (base, bytes) in segments {
            let name = String(repeating: "0", count: 20 - String(base).count) + String(base)
            let file = try fs.openFile(directory + "/" + name + ".log", create: true)
            try bytes.withUnsafeBytes { try file.write($0, at: 0) }
            let indexFile = try fs.openFile(directory + "/" + name + ".index", create: true)
            try index.withUnsafeBytes { try indexFile.write($0, at: 0) }
        }
    } catch {
        preconditionFailure("setting up the directory failed: \(error)")
    }
    var config = LogConfig()
    config.segmentIndexBytes = 4096
    guard let opened = try? Log.open(
        directory: directory, config: config, recoveryPoint: 0, cleanShutdown: flags & 1 != 0, fileSystem: fs,
        clock: { 1_700_000_000_000 }, logger: quiet)
    else { return 0 }
    var next = opened.logStartOffset
    var reads = 0
    while next < opened.logEndOffset, reads < 1000 {
        reads += 1
        guard let result = try? opened.read(from: next, maxBytes: 1 << 16), let slice = result.slice,
            let bytes = try? slice.readBytes()
        else { break }
        var advanced = false
        bytes.withUnsafeBytes { buffer in
            var position = 0
            while position < buffer.count, let batch = try? RecordBatch(validatingHeaderOf: UnsafeRawBufferPointer(rebasing: buffer[position...])) {
                if batch.lastOffset >= next { next = batch.lastOffset + 1; advanced = true }
                position += batch.sizeInBytes
            }
        }
        if !advanced { break }
    }
    _ = try? opened.offset(forTimestamp: 0)
    var builder = RecordBatchBuilder()
    builder.append(timestamp: 1_700_000_000_000, key: nil, value: [1, 2, 3])
    if let batch = try? builder.build() { _ = try? batch.withUnsafeBytes { try opened.append($0) } }
    _ = try? opened.truncate(to: opened.logStartOffset)
    return 0
}
