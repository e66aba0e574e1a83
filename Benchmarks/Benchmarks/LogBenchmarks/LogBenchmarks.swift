// The storage engine's paths, each beside its raw system-call baseline measured in the same run on the same disk
// ($SAMSA_BENCH_DIR, else the temporary directory), so every result reads as a ratio:
//
//   cd Benchmarks && swift package --disable-sandbox benchmark --target LogBenchmarks
//
// - Append: 16 KiB batches of 100-byte records through `Log.append` (offsets assigned, CRC and records checked,
//   one gathered write) vs `write()` of the same bytes; and, for the cost of the FileSystem protocol, a direct
//   `pwritev` loop (header + body, as the log writes them) vs the same through `any LogFile`. Target: Log >= 90%
//   of write(). Neither side fsyncs (page cache), so the ratio is the engine's own cost. `origin: .raw` appends
//   (replication, replay: offsets already assigned, records not walked) show the write path without validation;
//   `LogAppender` runs the same checks as Log.append on the submitting thread and the writes on its own.
// - Read at a random offset (16 KiB, then a pread of the slice) in a log of 1 segment, of 200 segments, and in one
//   200 MiB segment, each beside pread() of 16 KiB at a random position of the same files: flat within 2x
//   (segments found by binary search, then the sparse index, then a short scan). Compare "200 segments" with
//   "1 segment of 200 MiB" (same bytes: the cost of the segment count) and each row with its baseline.
// - Recovery of a 1 GiB segment (every batch's CRC, indexes rebuilt) vs pread of the same file (and pread + CRC32C):
//   target >= 1 GB/s (page cache warm).
// - Opening a data directory of 1,000 partitions after a clean shutdown: target < 1 s.
//
// Custom metrics: `MB/s` (MB = 2^20 bytes), `Krec/s` (thousands of records per second), `reads/s`, per sample.
// Each append sample writes 1,000 batches (~16 MB); a log grows by at most 64 samples (~1 GiB) per benchmark.
import Benchmark
import Foundation
import SamsaLog

#if canImport(Glibc)
import Glibc
#endif

/// The directory the suite writes in (samsa and its baselines alike).
let benchRoot: String = ProcessInfo.processInfo.environment["SAMSA_BENCH_DIR"] ?? NSTemporaryDirectory()

func makeDirectory(_ label: String) -> String {
    var template = Array((benchRoot + "/samsa-\(label)-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp in \(benchRoot) failed")
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A fresh directory for an append benchmark, made after a `sync()`: each row starts with nothing dirty in the page
/// cache, so the writeback of the previous row's gigabyte does not throttle it (whichever row runs after which).
func makeAppendDirectory(_ label: String) -> String {
    sync()
    return makeDirectory(label)
}

func removeTree(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// An uncompressed batch of 100-byte incompressible values filling 16 KiB, and its record count.
func makeBatch(recordSize: Int = 100, batchBytes: Int = 16 << 10) -> (bytes: [UInt8], records: Int) {
    var builder = RecordBatchBuilder()
    var random = SystemRandomNumberGenerator()
    while builder.estimatedSize + recordSize + 10 <= batchBytes {
        let value = (0..<recordSize).map { _ in UInt8.random(in: 0...255, using: &random) }
        value.withUnsafeBytes { builder.append(timestamp: 1_732_400_000_000, key: nil, value: $0) }
    }
    return (try! builder.build(), Int(builder.recordCount))
}

let (batch, recordsPerBatch) = makeBatch()

/// State shared between a benchmark's setup, samples and teardown (the harness runs them on one thread).
final class Shared: @unchecked Sendable {
    var directory = ""
    var log: Log?
    var manager: LogManager?
    var fd: Int32 = -1
    var file: (any LogFile)?
    var position: Int64 = 0
    var paths: [String] = []
    var endOffset: Int64 = 0
    var appender: LogAppender?

    /// An append row's setup: a fresh directory (after a sync) holding an empty log.
    func openAppendLog(_ label: String) throws {
        directory = makeAppendDirectory(label)
        log = try Log.open(directory: directory + "/bench-0", config: LogConfig())
    }

    /// An append row's teardown: the appender (if any) and the log closed, the directory removed.
    func closeAppendLog() throws {
        appender?.close()
        appender = nil
        try log?.close()
        log = nil
        removeTree(directory)
    }
}

/// `recordRates` for a sample that moved one `batch` per scaled iteration since `start`.
func recordBatchRates(_ benchmark: Benchmark, since start: ContinuousClock.Instant) {
    let batches = benchmark.scaledIterations.count
    recordRates(benchmark, batches: batches, bytes: batch.count * batches, seconds: seconds(since: start))
}

/// Records MB/s and thousands of records per second for a sample that moved `batches` batches in `seconds`.
func recordRates(_ benchmark: Benchmark, batches: Int, bytes: Int, seconds: Double) {
    benchmark.measurement(.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false), Int(Double(bytes) / 1_048_576 / seconds))
    benchmark.measurement(
        .custom("Krec/s", polarity: .prefersLarger, useScalingFactor: false),
        Int(Double(batches * recordsPerBatch) / 1000 / seconds))
}

/// Writes `batch` once per scaled iteration through `write` (the batch's bytes each time) and records the rates.
func timeBatchWrites(_ benchmark: Benchmark, _ batch: [UInt8], _ write: (UnsafeRawBufferPointer) -> Void) {
    let start = ContinuousClock.now
    batch.withUnsafeBytes { bytes in
        for _ in benchmark.scaledIterations { write(bytes) }
    }
    recordBatchRates(benchmark, since: start)
}

/// The mapped-writer experiment's file: appends copied into a shared mapping of 64 MiB windows, each preallocated
/// with posix_fallocate, their pages made writable 2 MiB ahead with MADV_POPULATE_WRITE (Linux 5.14).
final class MappedWriter: @unchecked Sendable {
    static let window: Int64 = 64 << 20
    static let populateStep: Int64 = 2 << 20
    let directory: String
    private let fd: Int32
    private var mapping: UnsafeMutableRawPointer?
    private var windowStart: Int64 = 0
    private var populated: Int64 = 0
    private var position: Int64 = 0

    init(directory: String) {
        self.directory = directory
        fd = open(directory + "/mapped.bin", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "open: \(errno)")
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        let end = position + Int64(bytes.count)
        if mapping == nil || end > windowStart + Self.window {
            if let old = mapping { munmap(old, Int(Self.window)) }
            windowStart = position & ~4095
            precondition(posix_fallocate(fd, off_t(windowStart), off_t(Self.window)) == 0, "posix_fallocate failed")
            let m = mmap(nil, Int(Self.window), PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(windowStart))
            precondition(m != MAP_FAILED, "mmap: \(errno)")
            mapping = m
            populated = windowStart
        }
        guard let mapping else { return }
        if end > populated {
            let to = min(populated + Self.populateStep, windowStart + Self.window)
            precondition(madvise(mapping + Int(populated - windowStart), Int(to - populated), 23) == 0, "madvise: \(errno)")
            populated = to
        }
        (mapping + Int(position - windowStart)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        position = end
    }

    func close() {
        if let mapping { munmap(mapping, Int(Self.window)) }
        mapping = nil
        Glibc.close(fd)
        removeTree(directory)
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let (s, atto) = (ContinuousClock.now - start).components
    return Double(s) + Double(atto) / 1e18
}

/// Appends one log of `batches` batches (config as given) and returns it open.
func buildLog(_ directory: String, config: LogConfig, batches: Int) throws -> Log {
    let log = try Log.open(directory: directory, config: config)
    try batch.withUnsafeBytes { bytes in
        for _ in 0..<batches { try log.append(bytes) }
    }
    return log
}

let benchmarks: @Sendable () -> Void = {
    let append = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .peakMemoryResident, .mallocCountTotal, .custom("MB/s", polarity: .prefersLarger, useScalingFactor: false), .custom("Krec/s", polarity: .prefersLarger, useScalingFactor: false)],
        timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .kilo, maxDuration: .seconds(4), maxIterations: 64)

    // MARK: Append

    let logAppend = Shared()
    Benchmark(
        "Append 16 KiB batches: Log.append", configuration: append,
        closure: { benchmark in
            let log = logAppend.log!
            let start = ContinuousClock.now
            try batch.withUnsafeBytes { bytes in
                for _ in benchmark.scaledIterations { blackHole(try log.append(bytes)) }
            }
            recordBatchRates(benchmark, since: start)
        },
        setup: { try logAppend.openAppendLog("append-log") },
        teardown: { try logAppend.closeAppendLog() })

    // What replication and replay append: batches that carry their offsets (integrity checked, records not walked).
    let rawAppend = Shared()
    Benchmark(
        "Append 16 KiB batches: Log.append(origin: .raw)", configuration: append,
        closure: { benchmark in
            let log = rawAppend.log!
            var copy = batch
            var next = log.logEndOffset
            let start = ContinuousClock.now
            for _ in benchmark.scaledIterations {
                withUnsafeBytes(of: next.bigEndian) { copy.replaceSubrange(0..<8, with: $0) }
                try copy.withUnsafeBytes { blackHole(try log.append($0, origin: .raw)) }
                next += Int64(recordsPerBatch)
            }
            recordBatchRates(benchmark, since: start)
        },
        setup: { try rawAppend.openAppendLog("append-raw") },
        teardown: { try rawAppend.closeAppendLog() })

    // The same producer batches through a LogAppender: checked on this thread, written on the appender's (in groups
    // of up to 256 KiB), and each sample ends when the last of its batches is written.
    let pipelined = Shared()
    Benchmark(
        "Append 16 KiB batches: LogAppender (checks here, writes on its thread)", configuration: append,
        closure: { benchmark in
            let appender = pipelined.appender!
            let start = ContinuousClock.now
            for _ in benchmark.scaledIterations { try appender.submit(batch) { blackHole($0) } }
            appender.drain()
            recordBatchRates(benchmark, since: start)
        },
        setup: {
            try pipelined.openAppendLog("append-pipelined")
            pipelined.appender = LogAppender(log: pipelined.log!)
        },
        teardown: { try pipelined.closeAppendLog() })

    let rawWrite = Shared()
    Benchmark(
        "Append 16 KiB batches: baseline write() of the same bytes", configuration: append,
        closure: { benchmark in
            let fd = rawWrite.fd
            timeBatchWrites(benchmark, batch) { bytes in
                let n = write(fd, bytes.baseAddress!, bytes.count)
                precondition(n == bytes.count, "write: \(n)")
            }
        },
        setup: {
            rawWrite.directory = makeAppendDirectory("append-write")
            rawWrite.fd = open(rawWrite.directory + "/baseline.bin", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            precondition(rawWrite.fd >= 0)
        },
        teardown: {
            close(rawWrite.fd)
            removeTree(rawWrite.directory)
        })

    // A write path other than write(): the batches copied into a shared mapping of the file, 64 MiB windows
    // preallocated with posix_fallocate and their pages made writable 2 MiB ahead with MADV_POPULATE_WRITE (no fault
    // per page, no ENOSPC at fault time). An experiment for the append target, not what the log does: it measures
    // how much of write()'s own cost (per-call page locking and block bookkeeping) a mapped writer avoids.
    var mappedWriter: MappedWriter?
    Benchmark(
        "Append 16 KiB batches: experiment, memcpy into a mapped preallocated file", configuration: append,
        closure: { benchmark in
            let writer = mappedWriter!
            timeBatchWrites(benchmark, batch) { writer.append($0) }
        },
        setup: { mappedWriter = MappedWriter(directory: makeAppendDirectory("append-mapped")) },
        teardown: {
            mappedWriter?.close()
            mappedWriter = nil
        })

    // The FileSystem protocol's cost: the same two-part gathered write the log makes (61-byte header with the
    // assigned offset, then the records), once with pwritev directly and once through `any LogFile`.
    let directWritev = Shared()
    Benchmark(
        "Append 16 KiB batches: direct pwritev loop (header + records)", configuration: append,
        closure: { benchmark in
            let fd = directWritev.fd
            var position = directWritev.position
            timeBatchWrites(benchmark, batch) { bytes in
                var vectors = (
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), iov_len: 61),
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + 61), iov_len: bytes.count - 61))
                let n = withUnsafeMutableBytes(of: &vectors) {
                    pwritev(fd, $0.baseAddress!.assumingMemoryBound(to: iovec.self), 2, off_t(position))
                }
                precondition(n == bytes.count, "pwritev: \(n)")
                position += Int64(n)
            }
            directWritev.position = position
        },
        setup: {
            directWritev.directory = makeAppendDirectory("append-pwritev")
            directWritev.fd = open(directWritev.directory + "/direct.bin", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            directWritev.position = 0
        },
        teardown: {
            close(directWritev.fd)
            removeTree(directWritev.directory)
        })

    let protocolWritev = Shared()
    Benchmark(
        "Append 16 KiB batches: the same pwritev through FileSystem (any LogFile)", configuration: append,
        closure: { benchmark in
            let file = protocolWritev.file!
            var position = protocolWritev.position
            let start = ContinuousClock.now
            try batch.withUnsafeBytes { bytes in
                let header = UnsafeRawBufferPointer(rebasing: bytes[0..<61])
                let body = UnsafeRawBufferPointer(rebasing: bytes[61...])
                for _ in benchmark.scaledIterations {
                    try file.write(gathering: [header, body], at: position)
                    position += Int64(bytes.count)
                }
            }
            protocolWritev.position = position
            recordBatchRates(benchmark, since: start)
        },
        setup: {
            protocolWritev.directory = makeAppendDirectory("append-protocol")
            let fileSystem: any FileSystem = PosixFileSystem()
            protocolWritev.file = try fileSystem.openFile(protocolWritev.directory + "/protocol.bin", create: true)
            protocolWritev.position = 0
        },
        teardown: {
            protocolWritev.file = nil
            removeTree(protocolWritev.directory)
        })

    // MARK: Read at a random offset as the log grows

    let read = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .custom("reads/s", polarity: .prefersLarger, useScalingFactor: false)],
        timeUnits: .microseconds, warmupIterations: 1, scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 100)
    let segmentMiB = LogConfig.with(segmentBytes: 1 << 20)
    let layouts: [(label: String, config: LogConfig, batches: Int)] = [
        ("1 segment (1 MiB)", segmentMiB, 60),
        ("200 segments (1 MiB each)", segmentMiB, 64 * 200 + 30),
        ("1 segment of 200 MiB", LogConfig(), 64 * 200),
    ]
    for layout in layouts {
        let shared = Shared()
        let setup: Benchmark.BenchmarkSetupHook = {
            guard shared.directory.isEmpty else { return }
            shared.directory = makeDirectory("read")
            let log = try buildLog(shared.directory + "/bench-0", config: layout.config, batches: layout.batches)
            shared.log = log
            shared.endOffset = log.logEndOffset
            precondition(layout.label.hasPrefix("200") ? log.segmentCount > 200 : log.segmentCount == 1, "\(layout.label): \(log.segmentCount) segments")
            shared.paths = try FileManager.default.contentsOfDirectory(atPath: shared.directory + "/bench-0")
                .filter { $0.hasSuffix(".log") }.sorted().map { shared.directory + "/bench-0/" + $0 }
        }
        Benchmark(
            "Read 16 KiB at a random offset: \(layout.label): Log.read + pread of the slice", configuration: read,
            closure: { benchmark in
                let log = shared.log!
                let end = UInt64(shared.endOffset)
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                var random = SystemRandomNumberGenerator()
                let start = ContinuousClock.now
                for _ in benchmark.scaledIterations {
                    let offset = Int64(random.next() % end)
                    let slice = try log.read(from: offset, maxBytes: 16 << 10).slice!
                    let n = try buffer.withUnsafeMutableBytes { b in
                        try slice.file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<min(slice.length, b.count)]), at: slice.position)
                    }
                    blackHole(n)
                }
                benchmark.measurement(
                    .custom("reads/s", polarity: .prefersLarger, useScalingFactor: false),
                    Int(Double(benchmark.scaledIterations.count) / seconds(since: start)))
            },
            setup: setup)
        // The raw baseline: pread of 16 KiB at a random position of the same segment files.
        Benchmark(
            "Read 16 KiB at a random offset: \(layout.label): baseline pread() at a random position", configuration: read,
            closure: { benchmark in
                let files = shared.paths.map { path -> (Int32, Int64) in
                    let fd = open(path, O_RDONLY | O_CLOEXEC)
                    var info = stat()
                    fstat(fd, &info)
                    return (fd, Int64(info.st_size))
                }
                defer { for (fd, _) in files { close(fd) } }
                var buffer = [UInt8](repeating: 0, count: 16 << 10)
                var random = SystemRandomNumberGenerator()
                let start = ContinuousClock.now
                for _ in benchmark.scaledIterations {
                    let (fd, size) = files[Int(random.next() % UInt64(files.count))]
                    let position = Int64(random.next() % UInt64(size))
                    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(position)) }
                    blackHole(n)
                }
                benchmark.measurement(
                    .custom("reads/s", polarity: .prefersLarger, useScalingFactor: false),
                    Int(Double(benchmark.scaledIterations.count) / seconds(since: start)))
            },
            setup: setup,
            teardown: {
                try shared.log?.close()
                shared.log = nil
                removeTree(shared.directory)
            })
    }

    // MARK: Recovery of a 1 GiB segment

    let recovery = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident, .custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)],
        timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 5)
    let gib = Shared()
    let oneGiBBatches = (1 << 30) / batch.count
    let recoverySetup: Benchmark.BenchmarkSetupHook = {
        guard gib.directory.isEmpty else { return }
        gib.directory = makeDirectory("recovery")
        let log = try buildLog(gib.directory + "/bench-0", config: LogConfig(), batches: oneGiBBatches)
        precondition(log.segmentCount == 1)
        try log.close()
        gib.paths = [gib.directory + "/bench-0/00000000000000000000.log"]
    }
    let recoveryBytes = oneGiBBatches * batch.count
    Benchmark(
        "Recovery of a 1 GiB segment: Log.open rescanning it", configuration: recovery,
        closure: { benchmark in
            benchmark.startMeasurement()
            let start = ContinuousClock.now
            let log = try Log.open(directory: gib.directory + "/bench-0", recoveryPoint: 0, cleanShutdown: false, create: false)
            let elapsed = seconds(since: start)
            benchmark.stopMeasurement()
            precondition(log.logEndOffset == Int64(oneGiBBatches * recordsPerBatch) && log.openReport.segmentsRecovered == 1)
            try log.close()
            benchmark.measurement(.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false), Int(Double(recoveryBytes) / 1_048_576 / elapsed))
        },
        setup: recoverySetup)
    Benchmark(
        "Recovery of a 1 GiB segment: baseline pread() of the same file in 1 MiB chunks", configuration: recovery,
        closure: { benchmark in
            let start = ContinuousClock.now
            let n = preadAll(gib.paths[0], checksum: false)
            benchmark.measurement(.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false), Int(Double(n) / 1_048_576 / seconds(since: start)))
        },
        setup: recoverySetup)
    Benchmark(
        "Recovery of a 1 GiB segment: baseline pread() + CRC32C of the same file", configuration: recovery,
        closure: { benchmark in
            let start = ContinuousClock.now
            let n = preadAll(gib.paths[0], checksum: true)
            benchmark.measurement(.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false), Int(Double(n) / 1_048_576 / seconds(since: start)))
        },
        setup: recoverySetup,
        teardown: { removeTree(gib.directory) })

    // MARK: Opening 1,000 partitions

    let opening = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal, .syscalls],
        timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 10)
    let thousand = Shared()
    let thousandSetup: Benchmark.BenchmarkSetupHook = {
        guard thousand.directory.isEmpty else { return }
        thousand.directory = makeDirectory("open")
        let manager = try LogManager.open(dataDirectory: thousand.directory, backgroundIntervalMs: nil)
        let small = makeBatch(batchBytes: 1024).bytes
        for p in 0..<1000 {
            let log = try manager.getOrCreateLog(TopicPartition("topic\(p / 10)", Int32(p % 10)), config: LogConfig())
            try small.withUnsafeBytes { _ = try log.append($0) }
        }
        try manager.close()
        thousand.paths = try FileManager.default.subpathsOfDirectory(atPath: thousand.directory)
            .filter { $0.hasSuffix(".log") || $0.hasSuffix("index") }.map { thousand.directory + "/" + $0 }
        precondition(thousand.paths.count == 3000)
    }
    Benchmark(
        "Open a data directory of 1,000 partitions (clean shutdown): LogManager.open", configuration: opening,
        closure: { benchmark in
            benchmark.startMeasurement()
            let manager = try LogManager.open(dataDirectory: thousand.directory, backgroundIntervalMs: nil)
            benchmark.stopMeasurement()
            precondition(manager.allLogs.count == 1000 && manager.openReports.isEmpty, "no partition may need recovery")
            try manager.close()
        },
        setup: thousandSetup)
    Benchmark(
        "Open a data directory of 1,000 partitions: baseline open() + fstat() + close() of its 3,000 files", configuration: opening,
        closure: { benchmark in
            for path in thousand.paths {
                let fd = open(path, O_RDWR | O_CLOEXEC)
                precondition(fd >= 0)
                var info = stat()
                fstat(fd, &info)
                blackHole(info.st_size)
                close(fd)
            }
        },
        setup: thousandSetup,
        teardown: { removeTree(thousand.directory) })

    // MARK: Cleaning (CleanerBenchmarks.swift)

    cleanerBenchmarks()
}

/// Reads `path` front to back in 1 MiB preads (and CRC32Cs each chunk when asked); returns the bytes read.
func preadAll(_ path: String, checksum: Bool) -> Int {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    precondition(fd >= 0)
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var total = 0
    var crc: UInt32 = 0
    while true {
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(total)) }
        precondition(n >= 0)
        if n == 0 { break }
        if checksum { crc = buffer.withUnsafeBytes { CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
        total += n
    }
    blackHole(crc)
    return total
}

extension LogConfig {
    static func with(segmentBytes: Int) -> LogConfig {
        var config = LogConfig()
        config.segmentBytes = segmentBytes
        return config
    }
}
