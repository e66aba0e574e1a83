// Log cleaner throughput: MB/s of log cleaned (log bytes / time until the whole log below the active segment
// is clean), for 100-byte records over 10,000 and 1,000,000 distinct keys, beside the raw bandwidth of reading
// the same segment files and writing them to a new file in the same run (pread/pwrite of 512 KiB chunks
// through the page cache, no fsync): a cleaner result reads as a ratio to that. One more run cleans the
// 1,000,000 keys with an 8 MiB dedupe buffer: it takes many cleanings (each rewrites the log from its start,
// as Kafka's do), and its peak resident memory stays near the smaller buffer whatever the key count.
//
// Every iteration cleans a fresh copy of the same log (the copy is not measured) with the same manager, so the
// same cleaner thread and offset map, as in a broker (the first cleaning, which grows the map, is a warm-up
// iteration). The log itself is built once into $TMPDIR/samsa-cleaner-bench-<keys>-keys-<MiB>-MiB and reused.
// The package benchmark uses 64 MiB of log; SAMSA_CLEANER_BENCH_MB=1024 gives the 1 GiB run of issue 4, and
// SAMSA_CLEANER_BENCH_VERBOSE=1 prints each cleaning's statistics:
//
//   cd Benchmarks && swift package --disable-sandbox benchmark --target LogBenchmarks --filter 'Cleaner.*'
//   SAMSA_CLEANER_BENCH_MB=1024 swift package --disable-sandbox benchmark --target LogBenchmarks --filter 'Cleaner.*'
//
// `cleanerBenchmarks()` is called from LogBenchmarks.swift's `benchmarks`. (`Logging` comes with SamsaLog's
// swift-log dependency: it quiets the per-cleaning info lines.)
import Benchmark
import Foundation
import Logging
import SamsaLog

#if canImport(Glibc)
import Glibc
#endif

/// Registers the cleaner benchmarks.
func cleanerBenchmarks() {
    let megabytes = Int(ProcessInfo.processInfo.environment["SAMSA_CLEANER_BENCH_MB"] ?? "") ?? 64
    let logBytes = megabytes << 20
    let metrics: [BenchmarkMetric] = [
        .wallClock, .peakMemoryResident, CleanerBench.mbPerSecond,
    ]
    let configuration = Benchmark.Configuration(
        metrics: metrics, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(300), maxIterations: 3)
    // The first cleaning grows the cleaner thread's offset map, once per process as in a broker: a warm-up.
    let cleanerConfiguration = Benchmark.Configuration(
        metrics: metrics, warmupIterations: 1, scalingFactor: .one, maxDuration: .seconds(300), maxIterations: 3)

    for keys in [10_000, 1_000_000] {
        let source = CleanerBench.Source(bytes: logBytes, keys: keys)
        Benchmark("Cleaner raw read+write \(megabytes) MiB (\(keys) keys' log)", configuration: configuration) { benchmark in
            let copy = source.freshCopy()
            defer { copy.remove() }
            // The copy's dirty pages are written back before the clock starts, so their writeback does not
            // throttle the measured writes (on either side).
            sync()
            benchmark.startMeasurement()
            let start = DispatchTime.now().uptimeNanoseconds
            let bytes = CleanerBench.readWrite(copy.partition, into: copy.root + "/raw-copy")
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            benchmark.stopMeasurement()
            benchmark.measurement(CleanerBench.mbPerSecond, Int(Double(bytes) / 1e6 / seconds))
        }
        for dedupeMiB in keys == 1_000_000 ? [128, 8] : [128] {
            let cleaner = CleanerBench.Cleaner(source: source, dedupeMiB: dedupeMiB)
            Benchmark(
                "Cleaner clean \(megabytes) MiB of 100-byte records, \(keys) keys, \(dedupeMiB) MiB dedupe buffer",
                configuration: cleanerConfiguration
            ) { benchmark in
                let (log, tp) = cleaner.freshLog()
                let size = log.size
                sync()  // as for the baseline
                let cpuBefore = CleanerBench.threadCPUSeconds()
                benchmark.startMeasurement()
                let start = DispatchTime.now().uptimeNanoseconds
                var rounds = 0
                var last: CleanerStats?
                repeat {
                    last = try! cleaner.manager.cleaner.clean(log)
                    rounds += 1
                } while last!.mapFilled && rounds < 100
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                benchmark.stopMeasurement()
                benchmark.measurement(CleanerBench.mbPerSecond, Int(Double(size) / 1e6 / seconds))
                if ProcessInfo.processInfo.environment["SAMSA_CLEANER_BENCH_VERBOSE"] != nil {
                    let cpu = CleanerBench.threadCPUSeconds() - cpuBefore
                    print("\(rounds) cleanings, \(Double(size) / 1e6 / seconds) MB/s of log, \(cpu) s of thread CPU time; last:\n\(last!)")
                }
                try! cleaner.manager.deleteLog(tp)
            }
        }
    }
}

enum CleanerBench {
    static let mbPerSecond = BenchmarkMetric.custom("MB/s of log", polarity: .prefersLarger, useScalingFactor: false)
    static let partition = TopicPartition("compacted", 0)
    static let recordsPerBatch = 160

    static var logConfig: LogConfig {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = 128 << 20
        config.minCleanableDirtyRatio = 0
        return config
    }

    /// A data directory holding one compacted partition of ~`bytes` of 100-byte records (10-byte keys drawn
    /// uniformly from `keys`, 80-byte values) in uncompressed batches of 160 records, all below the active
    /// segment. Built once, on first use.
    final class Source: @unchecked Sendable {
        let bytes: Int
        let keys: Int
        private let lock = NSLock()
        private var built: String?

        init(bytes: Int, keys: Int) {
            self.bytes = bytes
            self.keys = keys
        }

        var directory: String {
            lock.lock()
            defer { lock.unlock() }
            if let built { return built }
            // The same bytes every time (a fixed seed), so one build serves every benchmark process of the run
            // and later runs; `complete` marks a finished build.
            let root = NSTemporaryDirectory() + "samsa-cleaner-bench-\(keys)-keys-\(bytes >> 20)-MiB"
            if FileManager.default.fileExists(atPath: root + "/complete") {
                built = root
                return root
            }
            try? FileManager.default.removeItem(atPath: root)
            var logger = Logger(label: "cleaner-bench")
            logger.logLevel = .warning
            let manager = try! LogManager.open(dataDirectory: root, logger: logger, backgroundIntervalMs: nil)
            let log = try! manager.getOrCreateLog(CleanerBench.partition, config: CleanerBench.logConfig)
            var rng: UInt64 = 0x5EED_0000 &+ UInt64(keys)
            var builder = RecordBatchBuilder()
            var output: [UInt8] = []
            let value = [UInt8](repeating: 0x76, count: 80)
            var key = Array("k000000000".utf8)
            while log.size < Int64(bytes) {
                builder.reset()
                for i in 0..<CleanerBench.recordsPerBatch {
                    rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    var n = Int((rng >> 33) % UInt64(keys))
                    for p in stride(from: 9, through: 1, by: -1) {
                        key[p] = UInt8(0x30 + n % 10)
                        n /= 10
                    }
                    builder.append(timestamp: 1_700_000_000_000 + Int64(i), key: key, value: value)
                }
                output.removeAll(keepingCapacity: true)
                try! builder.build(into: &output)
                _ = try! output.withUnsafeBytes { try log.append($0) }
            }
            try! log.roll()
            try! manager.close()
            FileManager.default.createFile(atPath: root + "/complete", contents: nil)
            built = root
            return root
        }

        /// A copy of the data directory to clean (its files are in the page cache, as the source's are).
        func freshCopy() -> Copy {
            let copy = directory + "-copy"
            try? FileManager.default.removeItem(atPath: copy)
            try! FileManager.default.copyItem(atPath: directory, toPath: copy)
            return Copy(root: copy)
        }
    }

    /// One data directory and manager (so one cleaner thread's offset map) for every iteration of a benchmark,
    /// as a broker keeps its cleaner: each iteration adds a fresh copy of the source partition to clean.
    /// Made when its benchmark first runs (benchmarks are registered in every process the harness starts).
    final class Cleaner: @unchecked Sendable {
        let source: Source
        let dedupeMiB: Int
        private var opened: (root: String, manager: LogManager)?
        private var next = 0

        init(source: Source, dedupeMiB: Int) {
            self.source = source
            self.dedupeMiB = dedupeMiB
        }

        var manager: LogManager { open().manager }

        private func open() -> (root: String, manager: LogManager) {
            if let opened { return opened }
            let root = NSTemporaryDirectory() + "samsa-cleaner-bench-run-\(source.keys)-keys-\(dedupeMiB)-MiB"
            try? FileManager.default.removeItem(atPath: root)
            var cleanerConfig = CleanerConfig()
            cleanerConfig.dedupeBufferSize = dedupeMiB << 20
            var logger = Logger(label: "cleaner-bench")
            logger.logLevel = .warning
            let manager = try! LogManager.open(
                dataDirectory: root, configFor: { _ in CleanerBench.logConfig }, logger: logger, backgroundIntervalMs: nil,
                cleanerConfig: cleanerConfig)
            opened = (root, manager)
            return (root, manager)
        }

        /// A new partition holding a copy of the source's (not measured); the benchmark deletes it when done.
        func freshLog() -> (Log, TopicPartition) {
            let (root, manager) = open()
            next += 1
            let tp = TopicPartition("compacted\(next)", 0)
            try! FileManager.default.copyItem(atPath: source.directory + "/compacted-0", toPath: root + "/" + tp.directoryName)
            return (try! manager.getOrCreateLog(tp, config: CleanerBench.logConfig), tp)
        }
    }

    /// This thread's CPU time (user + system): on a shared machine, less disturbed by other work than the wall
    /// clock (printed with SAMSA_CLEANER_BENCH_VERBOSE).
    static func threadCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    struct Copy {
        let root: String
        var partition: String { root + "/compacted-0" }
        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Reads every segment file of `directory` in 512 KiB chunks and writes them, back to back, to `target`;
    /// returns the bytes copied.
    static func readWrite(_ directory: String, into target: String) -> Int {
        let names = try! FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
        let out = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(out >= 0)
        defer { close(out) }
        var buffer = [UInt8](repeating: 0, count: 512 << 10)
        var written = 0
        for name in names {
            let input = open(directory + "/" + name, O_RDONLY)
            precondition(input >= 0)
            defer { close(input) }
            var position: off_t = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, $0.count, position) }
                if n <= 0 { break }
                let w = buffer.withUnsafeBytes { pwrite(out, $0.baseAddress, n, off_t(written)) }
                precondition(w == n)
                position += off_t(n)
                written += n
            }
        }
        return written
    }
}
