import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the benchmark could not run.
public enum BenchError: Error, Sendable, CustomStringConvertible {
    case log(LogError)
    case io(FileSystemError)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .log(let error): "\(error)"
        case .io(let error): "\(error)"
        case .invalidOption(let reason): reason
        }
    }
}

/// The embedded throughput benchmark behind `samsa bench`: the engine in-process (no broker) on a temporary data
/// directory, each figure beside the raw disk baseline measured in the same run on the same directory, so a
/// result reads as a ratio.
///
/// | measurement | samsa | baseline |
/// |---|---|---|
/// | append | `Log.append` of 16 KiB batches of 100-byte records (offsets assigned, CRC and records checked) | `write()` of the same bytes |
/// | read (sequential) | `Log.read` of 1 MiB from each next offset, then `pread` of the slice | `pread` of 1 MiB chunks of the segment files |
/// | read (random offset) | `Log.read` of 16 KiB at a random offset, then `pread` of the slice | `pread` of 16 KiB at a random position |
/// | recovery | `Log.open` rescanning every segment (CRC of every batch, indexes rebuilt) | `pread` of the same files in 1 MiB chunks |
/// | cleaning | `LogCleaner.clean` of a compacted log of keyed records, until all of it below the active segment is clean | `pread` + `pwrite` of the same segment files in 512 KiB chunks |
///
/// Neither side fsyncs inside the timed loop: both measure the path to the page cache, the cost the engine adds.
///
/// ```swift
/// let report = try Bench.run(Bench.Options(sizeMB: 256))
/// print(report.table())
/// ```
public enum Bench {
    public struct Options: Sendable {
        /// A directory for the temporary data directory (default `$TMPDIR` or /tmp).
        public var directory: String?
        /// How much to append (MiB).
        public var sizeMB = 1024
        public var recordSize = 100
        public var batchBytes = 16 << 10
        /// Random reads to time (each side).
        public var randomReads = 20_000
        /// Append this many GiB more in a separate run and report resident memory as the log grows.
        public var soakGB: Int?
        /// Keep the data directory afterwards.
        public var keep = false
        /// Times each pair is measured (alternating which side goes first); the best of each side is reported.
        public var rounds = 3
        /// Distinct keys of the cleaning row's compacted log (drawn uniformly: most records are superseded).
        public var cleaningKeys = 10_000

        public init(directory: String? = nil, sizeMB: Int = 1024, soakGB: Int? = nil) {
            self.directory = directory
            self.sizeMB = sizeMB
            self.soakGB = soakGB
        }
    }

    /// One row: samsa's figure and the raw baseline's, for the same bytes.
    public struct Measurement: Sendable {
        public var name: String
        public var what: String
        public var bytes: Int64
        public var records: Int64
        public var operations: Int
        /// The time of each round (samsa's side, then the baseline's); the best is reported.
        public var samples: [Double]
        public var baseline: String
        public var baselineSamples: [Double]

        public var seconds: Double { samples.min() ?? .nan }
        public var baselineSeconds: Double { baselineSamples.min() ?? .nan }

        /// MB = 1,048,576 bytes, as Kafka's perf tools count them.
        public var megabytesPerSecond: Double { Double(bytes) / 1_048_576 / seconds }
        public var recordsPerSecond: Double { Double(records) / seconds }
        public var operationsPerSecond: Double { Double(operations) / seconds }
        public var baselineMegabytesPerSecond: Double { Double(bytes) / 1_048_576 / baselineSeconds }
        public var baselineOperationsPerSecond: Double { Double(operations) / baselineSeconds }
        /// samsa's throughput as a fraction of the baseline's (1 = as fast as the raw system calls).
        public var ratio: Double { baselineSeconds / seconds }
        /// Rows counted in operations (random reads) rather than bytes.
        public var perOperation: Bool { name == "read-random" }
    }

    /// Resident memory while appending `gigabytes` GiB.
    public struct Soak: Sendable {
        public var gigabytes: Int
        public var seconds: Double
        /// (GiB appended so far, resident MiB) after each GiB.
        public var samples: [(gigabytes: Double, residentMB: Double)]
        public var startResidentMB: Double
        /// The process's peak resident memory (VmHWM) at the end.
        public var peakResidentMB: Double
        public var megabytesPerSecond: Double { Double(gigabytes) * 1024 / seconds }
    }

    public struct Host: Sendable {
        public var cpu: String
        public var cores: Int
        public var memoryMB: Int
        public var kernel: String
        /// The 1-minute load average when the run started (other work on the machine disturbs the figures).
        public var loadAverage: Double
    }

    public struct Report: Sendable {
        public var date: String
        public var host: Host
        public var directory: String
        public var options: Options
        public var recordsPerBatch: Int
        /// Every row, the cleaning last (`cleaning`).
        public var measurements: [Measurement]
        public var soak: Soak?

        /// The cleaning row: MB/s of log cleaned beside pread + pwrite of the same segment files.
        public var cleaning: Measurement? { measurements.first { $0.name == "cleaning" } }
    }

    /// Runs every measurement; `progress` gets a short line as each starts. Each pair (samsa, baseline) is timed
    /// `options.rounds` times, alternating which goes first, and the best time of each side is kept: on a shared
    /// machine, the best run is the one least disturbed by others.
    public static func run(
        _ options: Options, logger: Logger = Logger(label: "samsa.bench"), progress: ((String) -> Void)? = nil
    ) throws(BenchError) -> Report {
        guard options.sizeMB >= 1, options.recordSize >= 1, options.batchBytes >= RecordBatch.headerSize + options.recordSize + 16 else {
            throw .invalidOption("size must be at least 1 MiB and a batch must hold at least one record")
        }
        guard options.rounds >= 1 else { throw .invalidOption("rounds must be at least 1") }
        let parent = options.directory ?? (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        let root = try makeTemporaryDirectory(in: parent)
        defer { if !options.keep { try? LogManager.removeTree(root, fileSystem: PosixFileSystem()) } }
        let (batch, recordsPerBatch) = makeBatch(recordSize: options.recordSize, batchBytes: options.batchBytes)
        let batchCount = max(1, options.sizeMB * 1_048_576 / batch.count)
        let totalBytes = Int64(batch.count) * Int64(batchCount)
        let totalRecords = Int64(recordsPerBatch) * Int64(batchCount)
        let rounds = options.rounds
        let host = hostInfo()
        var measurements: [Measurement] = []

        /// Times `ours` and `theirs` `rounds` times, alternating which runs first.
        func pair(_ name: String, ours: (Int) throws(BenchError) -> Double, theirs: (Int) throws(BenchError) -> Double) throws(BenchError) -> ([Double], [Double]) {
            var a: [Double] = []
            var b: [Double] = []
            for round in 0..<rounds {
                progress?("\(name), round \(round + 1) of \(rounds)")
                // Each side starts with nothing dirty in the page cache (sync() outside its clock): the writeback
                // of the previous side's gigabyte would otherwise throttle this side's writes, whichever side it is.
                if round % 2 == 0 {
                    sync()
                    b.append(try theirs(round))
                    sync()
                    a.append(try ours(round))
                } else {
                    sync()
                    a.append(try ours(round))
                    sync()
                    b.append(try theirs(round))
                }
            }
            return (a, b)
        }

        /// The appends' baseline: `write()` of the same batches to a new file, removed afterwards.
        func writeBaseline(_ round: Int) throws(BenchError) -> Double {
            let seconds = try timeWrites(batch, count: batchCount, path: root + "/baseline.bin")
            try removeFile(root + "/baseline.bin")
            return seconds
        }

        // Append: a fresh log (and a fresh baseline file) per round, in the same directory; the last log stays
        // for the reads.
        let logDirectory = root + "/bench-0"
        var log: Log?
        let (appendSamples, writeSamples) = try pair("append", ours: { (round) throws(BenchError) -> Double in
            if let old = log {
                do throws(LogError) { try old.close() } catch { throw .log(error) }
                try? LogManager.removeTree(logDirectory, fileSystem: PosixFileSystem())
            }
            let fresh: Log
            do throws(LogError) { fresh = try Log.open(directory: logDirectory, config: LogConfig(), logger: logger) } catch { throw .log(error) }
            log = fresh
            return try timeAppends(batch, count: batchCount, to: fresh)
        }, theirs: writeBaseline)
        guard let log else { preconditionFailure("no log after the append rounds") }
        measurements.append(Measurement(
            name: "append", what: "Log.append, \(options.batchBytes >> 10) KiB batches of \(options.recordSize)-byte records (a producer's: offsets assigned, every record checked)",
            bytes: totalBytes, records: totalRecords, operations: batchCount, samples: appendSamples,
            baseline: "write() of the same bytes", baselineSamples: writeSamples))

        /// A row of appends to a fresh log (removed after each round) beside `write()` of the same bytes.
        func freshLogAppendRow(
            _ name: String, _ label: String, what: String, time: (Log) throws(BenchError) -> Double
        ) throws(BenchError) {
            let directory = root + "/bench-\(name)-0"
            let (samples, writeSamples) = try pair(label, ours: { (_) throws(BenchError) -> Double in
                try? LogManager.removeTree(directory, fileSystem: PosixFileSystem())
                let fresh: Log
                do throws(LogError) { fresh = try Log.open(directory: directory, config: LogConfig(), logger: logger) } catch { throw .log(error) }
                let seconds = try time(fresh)
                do throws(LogError) { try fresh.close() } catch { throw .log(error) }
                try? LogManager.removeTree(directory, fileSystem: PosixFileSystem())
                return seconds
            }, theirs: writeBaseline)
            measurements.append(Measurement(
                name: name, what: what, bytes: totalBytes, records: totalRecords, operations: batchCount, samples: samples,
                baseline: "write() of the same bytes", baselineSamples: writeSamples))
        }
        // Raw appends (what replication and replay do): integrity checked, no record walk.
        try freshLogAppendRow(
            "append-raw", "append (raw)",
            what: "Log.append(origin: .raw), the same batches with their offsets (replication, replay)"
        ) { (log) throws(BenchError) in try timeRawAppends(batch, records: recordsPerBatch, count: batchCount, to: log) }
        // Pipelined producer appends: the same checks on this thread, the writes (grouped) on a LogAppender's thread.
        try freshLogAppendRow(
            "append-pipelined", "append (pipelined)",
            what: "LogAppender.submit of the same producer batches: every record checked on the submitting thread, written by the appender's thread in groups of up to 256 KiB"
        ) { (log) throws(BenchError) in try timePipelinedAppends(batch, count: batchCount, to: log) }

        // Sequential read, then random reads, against pread of the same segment files.
        let segmentFiles = try segmentPaths(logDirectory)
        var readRecords: Int64 = 0
        let (readSamples, preadSamples) = try pair("read", ours: { (_) throws(BenchError) -> Double in
            let (seconds, records) = try timeSequentialRead(log)
            readRecords = records
            return seconds
        }, theirs: { (_) throws(BenchError) -> Double in try timePreads(segmentFiles, chunk: 1 << 20) })
        measurements.append(Measurement(
            name: "read", what: "Log.read 1 MiB from each next offset + pread of the slice",
            bytes: totalBytes, records: readRecords, operations: Int(totalBytes >> 20), samples: readSamples,
            baseline: "pread() of 1 MiB chunks", baselineSamples: preadSamples))
        let readBytes = 16 << 10
        var randomBytes: Int64 = 0
        let (randomSamples, randomPreadSamples) = try pair("random reads", ours: { (round) throws(BenchError) -> Double in
            let (seconds, bytes) = try timeRandomReads(log, count: options.randomReads, maxBytes: readBytes, seed: UInt64(round + 1))
            randomBytes = bytes
            return seconds
        }, theirs: { (round) throws(BenchError) -> Double in
            try timeRandomPreads(segmentFiles, count: options.randomReads, size: readBytes, seed: UInt64(round + 1))
        })
        measurements.append(Measurement(
            name: "read-random", what: "Log.read 16 KiB at a random offset + pread of the slice",
            bytes: randomBytes, records: 0, operations: options.randomReads, samples: randomSamples,
            baseline: "pread() of 16 KiB at a random position", baselineSamples: randomPreadSamples))

        // Recovery: close, then open as after a crash (recovery point 0: every segment rescanned).
        do { try log.close() } catch { throw .log(error) }
        let (recoverySamples, recoveryPreadSamples) = try pair("recovery", ours: { (_) throws(BenchError) -> Double in
            let start = ContinuousClock.now
            let recovered: Log
            do throws(LogError) {
                recovered = try Log.open(directory: logDirectory, recoveryPoint: 0, cleanShutdown: false, create: false, logger: logger)
            } catch {
                throw .log(error)
            }
            let seconds = (ContinuousClock.now - start).seconds
            precondition(recovered.logEndOffset == totalRecords, "recovery lost records: \(recovered.logEndOffset) of \(totalRecords)")
            do throws(LogError) { try recovered.close() } catch { throw .log(error) }
            return seconds
        }, theirs: { (_) throws(BenchError) -> Double in try timePreads(segmentFiles, chunk: 1 << 20) })
        measurements.append(Measurement(
            name: "recovery", what: "Log.open rescanning every segment (CRC, indexes rebuilt)",
            bytes: totalBytes, records: totalRecords, operations: segmentFiles.count, samples: recoverySamples,
            baseline: "pread() of the same files", baselineSamples: recoveryPreadSamples))
        if !options.keep { try? LogManager.removeTree(logDirectory, fileSystem: PosixFileSystem()) }

        // Cleaning: a compacted log of the same size, cleaned from a fresh copy each round (the copy is not timed),
        // against reading its segment files and writing them to a new file.
        progress?("cleaning: building a compacted log of \(options.sizeMB) MiB")
        let cleaning = try CleaningWorkload(root: root + "/cleaning", options: options, logger: logger)
        defer { cleaning.finish() }
        var cleanedBytes: Int64 = 0
        var cleanedRecords: Int64 = 0
        let (cleanSamples, copySamples) = try pair("cleaning", ours: { (round) throws(BenchError) -> Double in
            let (seconds, bytes, records) = try cleaning.timeCleaning(round: round)
            cleanedBytes = bytes
            cleanedRecords = records
            return seconds
        }, theirs: { (_) throws(BenchError) -> Double in try cleaning.timeReadWrite() })
        measurements.append(Measurement(
            name: "cleaning",
            what: "LogCleaner.clean of a compacted log (\(options.recordSize)-byte records, \(options.cleaningKeys) keys) until all of it below the active segment is clean",
            bytes: cleanedBytes, records: cleanedRecords, operations: 1, samples: cleanSamples,
            baseline: "pread() + pwrite() of the same segment files", baselineSamples: copySamples))

        var soak: Soak?
        if let gigabytes = options.soakGB, gigabytes > 0 {
            progress?("soak: appending \(gigabytes) GiB")
            soak = try runSoak(batch, gigabytes: gigabytes, directory: root + "/soak-0", logger: logger, progress: progress)
        }
        return Report(
            date: isoDate(), host: host, directory: parent, options: options, recordsPerBatch: recordsPerBatch,
            measurements: measurements, soak: soak)
    }

    // MARK: The workloads

    /// One uncompressed batch of `recordSize`-byte values (incompressible bytes, no key, no headers), as large
    /// as fits in `batchBytes`.
    static func makeBatch(recordSize: Int, batchBytes: Int) -> (bytes: [UInt8], records: Int) {
        var builder = RecordBatchBuilder()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var value = [UInt8](repeating: 0, count: recordSize)
        let timestamp = systemClock()
        // Each record adds its value plus at most 10 bytes of varints and attributes.
        while builder.estimatedSize + recordSize + 10 <= batchBytes {
            for i in 0..<recordSize {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                value[i] = UInt8(truncatingIfNeeded: state >> 56)
            }
            value.withUnsafeBytes { builder.append(timestamp: timestamp, key: nil, value: $0) }
        }
        let records = Int(builder.recordCount)
        do { return (try builder.build(), records) } catch { preconditionFailure("bench batch: \(error)") }
    }

    static func timeWrites(_ batch: [UInt8], count: Int, path: String) throws(BenchError) -> Double {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(.system("open", path, errno: errno)) }
        defer { close(fd) }
        let start = ContinuousClock.now
        try batch.withBytes { (bytes) throws(BenchError) in
            for _ in 0..<count {
                var done = 0
                while done < bytes.count {
                    let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                    guard n > 0 else { throw .io(.system("write", path, errno: errno)) }
                    done += n
                }
            }
        }
        return (ContinuousClock.now - start).seconds
    }

    static func timeAppends(_ batch: [UInt8], count: Int, to log: Log) throws(BenchError) -> Double {
        let start = ContinuousClock.now
        try batch.withBytes { (bytes) throws(BenchError) in
            for _ in 0..<count {
                do throws(LogError) { try log.append(bytes) } catch { throw .log(error) }
            }
        }
        return (ContinuousClock.now - start).seconds
    }

    /// Producer appends through a `LogAppender`: submitted (and checked) here, written on the appender's thread;
    /// the time runs until the last is written.
    static func timePipelinedAppends(_ batch: [UInt8], count: Int, to log: Log) throws(BenchError) -> Double {
        let failure = Mutex<LogError?>(nil)
        let completion: LogAppender.Completion = { result in
            if case .failure(let error) = result { failure.withLock { $0 = $0 ?? error } }
        }
        let start = ContinuousClock.now
        let appender = LogAppender(log: log)
        for _ in 0..<count {
            do throws(LogError) { try appender.submit(batch, completion: completion) } catch {
                appender.close()
                throw .log(error)
            }
        }
        appender.close()
        let seconds = (ContinuousClock.now - start).seconds
        if let error = failure.withLock({ $0 }) { throw .log(error) }
        return seconds
    }

    /// Raw appends (replication, replay): the batch carries its final offsets, so each append first writes the
    /// next base offset into a copy of it (the base offset is outside the CRC).
    static func timeRawAppends(_ batch: [UInt8], records: Int, count: Int, to log: Log) throws(BenchError) -> Double {
        var copy = batch
        var next = log.logEndOffset
        let start = ContinuousClock.now
        for _ in 0..<count {
            copy.storeBigEndian(next, at: 0)
            try copy.withBytes { (bytes) throws(BenchError) in
                do throws(LogError) { try log.append(bytes, origin: .raw) } catch { throw .log(error) }
            }
            next += Int64(records)
        }
        return (ContinuousClock.now - start).seconds
    }

    /// Reads the whole log front to back; returns the time and the records seen (from batch headers).
    static func timeSequentialRead(_ log: Log) throws(BenchError) -> (Double, Int64) {
        var buffer = [UInt8](repeating: 0, count: 2 << 20)
        var next = log.logStartOffset
        let end = log.logEndOffset
        var records: Int64 = 0
        let start = ContinuousClock.now
        while next < end {
            let slice: FileSlice
            do {
                guard let s = try log.read(from: next, maxBytes: 1 << 20).slice else { break }
                slice = s
            } catch {
                throw .log(error)
            }
            if slice.length > buffer.count { buffer = [UInt8](repeating: 0, count: slice.length) }
            let n = try buffer.withMutableBytes { (b) throws(BenchError) -> Int in
                do throws(FileSystemError) {
                    return try slice.file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<slice.length]), at: slice.position)
                } catch {
                    throw .io(error)
                }
            }
            // Walk the headers of the whole batches read to find the next offset.
            let before = next
            buffer.withUnsafeBytes { b in
                var position = 0
                while n - position >= RecordBatch.headerSize {
                    let size = Int(b.loadBigEndian(at: position + 8, as: Int32.self)) + RecordBatch.logOverhead
                    guard position + size <= n else { break }
                    records += Int64(b.loadBigEndian(at: position + 57, as: Int32.self))
                    next = b.loadBigEndian(at: position, as: Int64.self) + Int64(b.loadBigEndian(at: position + 23, as: Int32.self)) + 1
                    position += size
                }
            }
            precondition(next > before, "no whole batch read at offset \(before)")
        }
        return ((ContinuousClock.now - start).seconds, records)
    }

    static func timeRandomReads(_ log: Log, count: Int, maxBytes: Int, seed: UInt64) throws(BenchError) -> (Double, Int64) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var state: UInt64 = seed
        let end = UInt64(log.logEndOffset)
        var bytes: Int64 = 0
        let start = ContinuousClock.now
        for _ in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let offset = Int64((state >> 11) % end)
            do {
                guard let slice = try log.read(from: offset, maxBytes: maxBytes).slice else { continue }
                let length = min(slice.length, buffer.count)
                let n = try buffer.withMutableBytes { (b) throws(FileSystemError) -> Int in
                    try slice.file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<length]), at: slice.position)
                }
                bytes += Int64(n)
            } catch let error as LogError {
                throw .log(error)
            } catch let error as FileSystemError {
                throw .io(error)
            } catch {
                preconditionFailure("\(error)")
            }
        }
        return ((ContinuousClock.now - start).seconds, bytes)
    }

    /// Reads every file front to back in `chunk`-byte preads into one buffer.
    static func timePreads(_ paths: [String], chunk: Int) throws(BenchError) -> Double {
        var buffer = [UInt8](repeating: 0, count: chunk)
        let start = ContinuousClock.now
        for path in paths {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .io(.system("open", path, errno: errno)) }
            defer { close(fd) }
            var position: off_t = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, chunk, position) }
                guard n >= 0 else { throw .io(.system("pread", path, errno: errno)) }
                if n == 0 { break }
                position += off_t(n)
            }
        }
        return (ContinuousClock.now - start).seconds
    }

    static func timeRandomPreads(_ paths: [String], count: Int, size: Int, seed: UInt64) throws(BenchError) -> Double {
        var files: [(fd: Int32, size: Int64)] = []
        defer { for f in files { close(f.fd) } }
        for path in paths {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .io(.system("open", path, errno: errno)) }
            var info = stat()
            fstat(fd, &info)
            files.append((fd, Int64(info.st_size)))
        }
        let total = files.reduce(0) { $0 + $1.size }
        var buffer = [UInt8](repeating: 0, count: size)
        var state: UInt64 = seed
        let start = ContinuousClock.now
        for _ in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var at = Int64((state >> 11) % UInt64(max(total, 1)))
            var i = 0
            while i < files.count - 1 && at >= files[i].size {
                at -= files[i].size
                i += 1
            }
            let n = buffer.withUnsafeMutableBytes { pread(files[i].fd, $0.baseAddress!, size, off_t(at)) }
            guard n >= 0 else { throw .io(.system("pread", paths[i], errno: errno)) }
        }
        return (ContinuousClock.now - start).seconds
    }

    static func runSoak(
        _ batch: [UInt8], gigabytes: Int, directory: String, logger: Logger, progress: ((String) -> Void)?
    ) throws(BenchError) -> Soak {
        let log: Log
        do { log = try Log.open(directory: directory, config: LogConfig(), logger: logger) } catch { throw .log(error) }
        let perGiB = (1 << 30) / batch.count
        var samples: [(Double, Double)] = []
        let startResident = residentMemoryMB().current
        let start = ContinuousClock.now
        for g in 1...gigabytes {
            _ = try timeAppends(batch, count: perGiB, to: log)
            let resident = residentMemoryMB().current
            samples.append((Double(g), resident))
            progress?("soak: \(g) GiB appended, resident \(Int(resident)) MiB")
        }
        let seconds = (ContinuousClock.now - start).seconds
        do { try log.close() } catch { throw .log(error) }
        try? LogManager.removeTree(directory, fileSystem: PosixFileSystem())
        return Soak(
            gigabytes: gigabytes, seconds: seconds, samples: samples, startResidentMB: startResident,
            peakResidentMB: residentMemoryMB().peak)
    }

    // MARK: Cleaning

    /// The cleaning row's data: one compacted source log of keyed records built once, a manager whose cleaner
    /// cleans a fresh copy of it each round, and the files the baseline copies.
    final class CleaningWorkload {
        let manager: LogManager
        let root: String
        let sourceDirectory: String
        let segmentFiles: [String]
        private let config: LogConfig
        private let fileSystem = PosixFileSystem()

        init(root: String, options: Options, logger: Logger) throws(BenchError) {
            self.root = root
            var config = LogConfig()
            config.cleanupPolicy = .compact
            config.segmentBytes = 128 << 20
            config.minCleanableDirtyRatio = 0
            self.config = config
            let compacted = config
            var quiet = logger
            quiet.logLevel = .warning
            do throws(LogError) {
                manager = try LogManager.open(dataDirectory: root, configFor: { _ in compacted }, logger: quiet, backgroundIntervalMs: nil)
            } catch {
                throw .log(error)
            }
            let source: Log
            do throws(LogError) {
                source = try manager.getOrCreateLog(TopicPartition("bench-source", 0), config: config)
            } catch {
                throw .log(error)
            }
            sourceDirectory = source.directory
            // Keys "k000000042" drawn uniformly from `cleaningKeys`, values filling the record to `recordSize`.
            var builder = RecordBatchBuilder()
            var output: [UInt8] = []
            var key = Array("k000000000".utf8)
            let value = [UInt8](repeating: 0x76, count: max(0, options.recordSize - key.count - 10))
            var rng: UInt64 = 0x5EED_0000 &+ UInt64(options.cleaningKeys)
            let timestamp = systemClock()
            do throws(LogError) {
                while source.size < Int64(options.sizeMB) << 20 {
                    builder.reset()
                    while builder.estimatedSize + options.recordSize + 10 <= options.batchBytes {
                        rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                        var n = Int((rng >> 33) % UInt64(max(1, options.cleaningKeys)))
                        for p in stride(from: 9, through: 1, by: -1) {
                            key[p] = UInt8(0x30 + n % 10)
                            n /= 10
                        }
                        builder.append(timestamp: timestamp, key: key, value: value)
                    }
                    output.removeAll(keepingCapacity: true)
                    do { try builder.build(into: &output) } catch { preconditionFailure("cleaning batch: \(error)") }
                    try output.withBytes { (bytes) throws(LogError) in _ = try source.append(bytes) }
                }
                try source.roll()
                try source.flush()
            } catch {
                throw .log(error)
            }
            segmentFiles = try segmentPaths(sourceDirectory)
        }

        /// Cleans a fresh copy of the source log until nothing below its active segment is dirty (several
        /// cleanings when the offset map fills); returns the time, and the bytes and records cleaned.
        func timeCleaning(round: Int) throws(BenchError) -> (Double, Int64, Int64) {
            let tp = TopicPartition("bench-clean-\(round)", 0)
            let directory = root + "/" + tp.directoryName
            do { try fileSystem.createDirectory(directory) } catch { throw .io(error) }
            let names: [String]
            do { names = try fileSystem.listDirectory(sourceDirectory) } catch { throw .io(error) }
            for name in names where name.hasSuffix(".log") || name.hasSuffix(".index") || name.hasSuffix(".timeindex") {
                _ = try copy([sourceDirectory + "/" + name], to: directory + "/" + name)
            }
            let log: Log
            do throws(LogError) { log = try manager.getOrCreateLog(tp, config: config) } catch { throw .log(error) }
            let bytes = log.size
            let records = log.logEndOffset - log.logStartOffset
            sync()  // the copy's writeback is not the cleaner's
            let start = ContinuousClock.now
            var cleanings = 0
            while true {
                let stats: CleanerStats?
                do throws(CleanerError) { stats = try manager.cleaner.clean(log) } catch { throw .invalidOption("cleaning failed: \(error)") }
                cleanings += 1
                guard let stats, stats.mapFilled, cleanings < 100 else { break }
            }
            let seconds = (ContinuousClock.now - start).seconds
            do throws(LogError) { try manager.deleteLog(tp) } catch { throw .log(error) }
            return (seconds, bytes, records)
        }

        /// The baseline: the source's segment files read and written, back to back, to one new file.
        func timeReadWrite() throws(BenchError) -> Double {
            let target = root + "/baseline-copy.bin"
            let start = ContinuousClock.now
            _ = try copy(segmentFiles, to: target)
            let seconds = (ContinuousClock.now - start).seconds
            try removeFile(target)
            return seconds
        }

        /// Reads `paths` in 512 KiB preads and writes them back to back to `target` with pwrite; returns the bytes.
        func copy(_ paths: [String], to target: String) throws(BenchError) -> Int64 {
            let out = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard out >= 0 else { throw .io(.system("open", target, errno: errno)) }
            defer { close(out) }
            var buffer = [UInt8](repeating: 0, count: 512 << 10)
            var written: Int64 = 0
            for path in paths {
                let input = open(path, O_RDONLY | O_CLOEXEC)
                guard input >= 0 else { throw .io(.system("open", path, errno: errno)) }
                defer { close(input) }
                var position: off_t = 0
                while true {
                    let n = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress!, $0.count, position) }
                    guard n >= 0 else { throw .io(.system("pread", path, errno: errno)) }
                    if n == 0 { break }
                    var done = 0
                    while done < n {
                        let w = buffer.withUnsafeBytes { pwrite(out, $0.baseAddress! + done, n - done, off_t(written) + off_t(done)) }
                        guard w > 0 else { throw .io(.system("pwrite", target, errno: errno)) }
                        done += w
                    }
                    position += off_t(n)
                    written += Int64(n)
                }
            }
            return written
        }

        func finish() {
            try? manager.close()
            try? LogManager.removeTree(root, fileSystem: fileSystem)
        }
    }

    // MARK: Helpers

    static func makeTemporaryDirectory(in parent: String) throws(BenchError) -> String {
        do { try PosixFileSystem().createDirectory(parent) } catch { throw .io(error) }
        var template = Array((parent + "/samsa-bench-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw .io(.system("mkdtemp", parent, errno: errno)) }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func removeFile(_ path: String) throws(BenchError) {
        do { try PosixFileSystem().removeFile(path) } catch { throw .io(error) }
    }

    static func segmentPaths(_ directory: String) throws(BenchError) -> [String] {
        do {
            return try PosixFileSystem().listDirectory(directory).filter { $0.hasSuffix(".log") }.sorted().map { directory + "/" + $0 }
        } catch {
            throw .io(error)
        }
    }

    /// This process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB; zeros where /proc is absent.
    public static func residentMemoryMB() -> (current: Double, peak: Double) {
        guard let text = readTextFile("/proc/self/status") else { return (0, 0) }
        func field(_ name: String) -> Double {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                let digits = line.dropFirst(name.count + 1).filter { $0.isNumber }
                return (Double(String(digits)) ?? 0) / 1024
            }
            return 0
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    static func readTextFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 4 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hostInfo() -> Host {
        let cpuinfo = readTextFile("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingWhitespace() } ?? "unknown"
        let meminfo = readTextFile("/proc/meminfo") ?? ""
        let memKB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .map { Int(String($0.filter { $0.isNumber })) ?? 0 } ?? 0
        var names = utsname()
        uname(&names)
        let release = withUnsafeBytes(of: names.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let load = Double((readTextFile("/proc/loadavg") ?? "").split(separator: " ").first ?? "") ?? -1
        return Host(
            cpu: model, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), memoryMB: memKB / 1024, kernel: release,
            loadAverage: load)
    }

    /// Now, as `2026-11-25T19:48:00Z`.
    static func isoDate() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}

extension Bench.Report {
    /// The human table: each measurement beside its baseline, and the ratio.
    public func table() -> String {
        func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
            let n = s.count
            guard n < width else { return s }
            let fill = String(repeating: " ", count: width - n)
            return right ? fill + s : s + fill
        }
        func fixed(_ v: Double, _ digits: Int = 1) -> String {
            guard v.isFinite else { return "-" }
            if digits == 0 { return "\(Int64(v.rounded()))" }
            var scale = 1.0
            for _ in 0..<digits { scale *= 10 }
            let r = (v * scale).rounded() / scale
            var s = "\(r)"
            if let dot = s.firstIndex(of: ".") {
                let decimals = s.distance(from: dot, to: s.endIndex) - 1
                if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
            } else if digits > 0 {
                s += "." + String(repeating: "0", count: digits)
            }
            return s
        }
        var lines: [String] = []
        lines.append("samsa bench: \(options.sizeMB) MiB of \(options.batchBytes >> 10) KiB batches (\(recordsPerBatch) records of \(options.recordSize) bytes each), in \(directory)")
        lines.append("\(date), \(host.cpu), \(host.cores) cores, \(host.memoryMB) MiB RAM, Linux \(host.kernel), load average \(fixed(host.loadAverage, 2)) at the start")
        lines.append("")
        lines.append(pad("", 14) + pad("samsa", 30, right: true) + pad("raw baseline", 26, right: true) + pad("ratio", 8, right: true) + "   baseline")
        for m in measurements {
            let ours: String
            let theirs: String
            if m.perOperation {
                ours = "\(fixed(m.operationsPerSecond, 0)) reads/s"
                theirs = "\(fixed(m.baselineOperationsPerSecond, 0)) reads/s"
            } else if m.records > 0 {
                ours = "\(fixed(m.megabytesPerSecond)) MB/s \(fixed(m.recordsPerSecond / 1e6, 2)) M rec/s"
                theirs = "\(fixed(m.baselineMegabytesPerSecond)) MB/s"
            } else {
                ours = "\(fixed(m.megabytesPerSecond)) MB/s"
                theirs = "\(fixed(m.baselineMegabytesPerSecond)) MB/s"
            }
            lines.append(pad(m.name, 14) + pad(ours, 30, right: true) + pad(theirs, 26, right: true)
                + pad("\(fixed(m.ratio * 100, 0))%", 8, right: true) + "   " + m.baseline)
        }
        if let soak {
            let samples = soak.samples.map { "\(Int($0.gigabytes)) GiB: \(Int($0.residentMB)) MiB" }.joined(separator: ", ")
            lines.append("")
            lines.append("soak: appended \(soak.gigabytes) GiB at \(fixed(soak.megabytesPerSecond)) MB/s; resident memory \(Int(soak.startResidentMB)) MiB at the start, peak \(Int(soak.peakResidentMB)) MiB")
            lines.append("  resident after each GiB: \(samples)")
        }
        lines.append("")
        lines.append("MB = 1,048,576 bytes. Best of \(options.rounds) alternating rounds per side, each after a sync(); page cache warm; neither side fsyncs")
        lines.append("in the timed loop. Ratio = samsa throughput / baseline throughput.")
        return lines.joined(separator: "\n")
    }

    /// One JSON object with every figure (for papers/data/ and scripts).
    public func json() -> String {
        var o = "{\n  \"tool\": \"samsa bench\",\n  \"date\": \(JSONText.string(date)),\n"
        o += "  \"host\": {\"cpu\": \(JSONText.string(host.cpu)), \"cores\": \(host.cores), \"memoryMB\": \(host.memoryMB), \"kernel\": \(JSONText.string(host.kernel)), \"loadAverage\": \(JSONText.number(host.loadAverage, digits: 2))},\n"
        o += "  \"directory\": \(JSONText.string(directory)),\n"
        o += "  \"options\": {\"sizeMB\": \(options.sizeMB), \"recordSize\": \(options.recordSize), \"batchBytes\": \(options.batchBytes), \"recordsPerBatch\": \(recordsPerBatch), \"randomReads\": \(options.randomReads), \"rounds\": \(options.rounds), \"cleaningKeys\": \(options.cleaningKeys)},\n"
        o += "  \"method\": \"each pair timed \(options.rounds) times, alternating which side goes first; best time of each side reported; a sync() before each side, outside its clock; page cache warm, no fsync in the timed loops\",\n"
        o += "  \"units\": {\"MB\": 1048576},\n"
        o += "  \"results\": [\n"
        o += measurements.map { m in
            "    {\"name\": \(JSONText.string(m.name)), \"what\": \(JSONText.string(m.what)), \"bytes\": \(m.bytes), \"records\": \(m.records), \"operations\": \(m.operations), "
                + "\"seconds\": \(JSONText.number(m.seconds, digits: 6)), \"mbPerSecond\": \(JSONText.number(m.megabytesPerSecond, digits: 1)), "
                + "\"recordsPerSecond\": \(JSONText.number(m.recordsPerSecond, digits: 0)), \"operationsPerSecond\": \(JSONText.number(m.operationsPerSecond, digits: 1)), "
                + "\"baseline\": \(JSONText.string(m.baseline)), \"baselineSeconds\": \(JSONText.number(m.baselineSeconds, digits: 6)), "
                + "\"baselineMBPerSecond\": \(JSONText.number(m.baselineMegabytesPerSecond, digits: 1)), \"ratio\": \(JSONText.number(m.ratio, digits: 3)), "
                + "\"samples\": [\(m.samples.map { JSONText.number($0, digits: 6) }.joined(separator: ", "))], "
                + "\"baselineSamples\": [\(m.baselineSamples.map { JSONText.number($0, digits: 6) }.joined(separator: ", "))]}"
        }.joined(separator: ",\n")
        o += "\n  ]"
        if let soak {
            let samples = soak.samples.map { "{\"gigabytes\": \(JSONText.number($0.gigabytes, digits: 1)), \"residentMB\": \(JSONText.number($0.residentMB, digits: 1))}" }
            o += ",\n  \"soak\": {\"gigabytes\": \(soak.gigabytes), \"seconds\": \(JSONText.number(soak.seconds, digits: 3)), \"mbPerSecond\": \(JSONText.number(soak.megabytesPerSecond, digits: 1)), "
            o += "\"startResidentMB\": \(JSONText.number(soak.startResidentMB, digits: 1)), \"peakResidentMB\": \(JSONText.number(soak.peakResidentMB, digits: 1)), "
            o += "\"samples\": [\(samples.joined(separator: ", "))]}"
        }
        o += "\n}"
        return o
    }
}
