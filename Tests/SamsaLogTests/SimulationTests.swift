import Foundation
import Logging
import Synchronization
import Testing
@testable import SamsaLog

/// The crash-consistency simulation: thousands of seeded runs of a partition's life on a `SimulatedFileSystem`
/// (appends, rolls, flushes, truncations, DeleteRecords, checkpoints, injected I/O faults, power losses and
/// restarts), each checked after every recovery against a model of what was acknowledged.
///
/// `SAMSA_SIM_SEED=<n> swift test --filter Simulation` replays one seed and prints its trace;
/// `SAMSA_SIM_SEEDS=<count>` and `SAMSA_SIM_FIRST=<n>` choose how many seeds run and where they start.
@Suite struct SimulationTests {
    static let defaultSeedCount = 2000

    @Test func seededRunsKeepEveryAcknowledgedBatch() throws {
        let environment = ProcessInfo.processInfo.environment
        if let text = environment["SAMSA_SIM_SEED"] {
            let seed = try #require(UInt64(text), "SAMSA_SIM_SEED must be a number")
            let run = SimulationRun(seed: seed, verbose: true)
            let failure = run.execute()
            print(run.statistics.summary(seeds: 1))
            if let failure { Issue.record("\(failure)") }
            return
        }
        let first = UInt64(environment["SAMSA_SIM_FIRST"] ?? "") ?? 1
        let count = Int(environment["SAMSA_SIM_SEEDS"] ?? "") ?? Self.defaultSeedCount
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
        let results = Mutex<(statistics: SimulationStatistics, failures: [String])>((SimulationStatistics(), []))
        SimulationTrapReporter.install(workers: workers)
        let started = ContinuousClock.now
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var statistics = SimulationStatistics()
            var failures: [String] = []
            var index = worker
            while index < count {
                let seed = first + UInt64(index)
                SimulationTrapReporter.running(seed, worker: worker)
                let run = SimulationRun(seed: seed, verbose: false)
                if let failure = run.execute() { failures.append("\(failure)") }
                statistics.add(run.statistics)
                index += workers
            }
            SimulationTrapReporter.running(nil, worker: worker)
            results.withLock {
                $0.statistics.add(statistics)
                $0.failures += failures
            }
        }
        let elapsed = ContinuousClock.now - started
        let (statistics, failures) = results.withLock { $0 }
        print("\(statistics.summary(seeds: count)) in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
        #expect(statistics.runs == count)
        // Proof that the runs did what they claim: crashes with torn writes, faults, acknowledged batches checked.
        #expect(statistics.crashes > count && statistics.faultsInjected > count / 4 && statistics.ackedBatchesVerified > count)
        for failure in failures.prefix(5) { Issue.record("\(failure)") }
        if !failures.isEmpty {
            let seeds = failures.compactMap { $0.split(separator: " ").dropFirst(2).first }.prefix(50)
            Issue.record("\(failures.count) of \(count) seeds failed: \(seeds.joined(separator: " "))")
        }
    }
}

// MARK: - Statistics

struct SimulationStatistics: Sendable {
    var runs = 0
    var steps = 0
    var appends = 0
    var flushes = 0
    var crashes = 0
    var cleanRestarts = 0
    var faultsInjected = 0
    var faultsHit = 0
    var tornWrites = 0
    var recoveriesThatTruncated = 0
    var ackedBatchesVerified = 0
    var indexEntriesVerified = 0
    var operations = 0
    /// Offsets skipped after a crash (unacknowledged tails lost before a roll).
    var gaps = 0
    var segmentsDeletedByRetention = 0
    var cleanings = 0

    mutating func add(_ other: SimulationStatistics) {
        runs += other.runs
        steps += other.steps
        appends += other.appends
        flushes += other.flushes
        crashes += other.crashes
        cleanRestarts += other.cleanRestarts
        faultsInjected += other.faultsInjected
        faultsHit += other.faultsHit
        tornWrites += other.tornWrites
        recoveriesThatTruncated += other.recoveriesThatTruncated
        ackedBatchesVerified += other.ackedBatchesVerified
        indexEntriesVerified += other.indexEntriesVerified
        operations += other.operations
        gaps += other.gaps
        segmentsDeletedByRetention += other.segmentsDeletedByRetention
        cleanings += other.cleanings
    }

    func summary(seeds: Int) -> String {
        "Simulation: \(runs) runs of \(seeds) seeds tried, \(steps) steps, \(appends) appends, \(flushes) flushes, "
            + "\(crashes) crashes (\(tornWrites) torn writes, \(recoveriesThatTruncated) recoveries truncated a tail), "
            + "\(cleanRestarts) clean restarts, \(faultsInjected) faults injected (EIO/ENOSPC/short write; \(faultsHit) failed a log operation), "
            + "\(ackedBatchesVerified) acknowledged batches and \(indexEntriesVerified) index entries verified, "
            + "\(gaps) offset gaps left by crashes or cleaning, \(segmentsDeletedByRetention) segments deleted by retention, "
            + "\(cleanings) cleanings, "
            + "\(operations) file system operations"
    }
}

// MARK: - One run

/// A failed check: the seed, what broke, and the run's recent history.
struct SimulationFailure: Error, CustomStringConvertible {
    var seed: UInt64
    var step: Int
    var message: String
    var trace: [String]
    var operations: [String]

    var description: String {
        """
        simulation seed \(seed) failed at step \(step): \(message)
        replay: SAMSA_SIM_SEED=\(seed) swift test --filter Simulation
        last steps:
          \(trace.suffix(25).joined(separator: "\n  "))
        last file system operations:
          \(operations.suffix(25).joined(separator: "\n  "))
        """
    }
}

/// A clock the run advances by hand.
final class SimulationClock: Sendable {
    let now = Atomic<Int64>(1_700_000_000_000)
    var clock: Clock { { self.now.load(ordering: .relaxed) } }
    func advance(_ ms: Int64) { now.add(ms, ordering: .relaxed) }
}

/// A batch as the model knows it: where it is and the exact bytes the log must hold for it.
struct ModelBatch {
    var baseOffset: Int64
    var lastOffset: Int64
    var bytes: [UInt8]
    var producerId: Int64
    var producerEpoch: Int16 = -1
    var firstSequence: Int32
    var lastSequence: Int32
}

/// A record as the model knows it: enough to recognise it at its offset.
struct RecordImage: Hashable {
    var key: [UInt8]?
    var value: [UInt8]?
}

/// The operations a run draws from, with their weights. Retention (`Log.deleteOldSegments`) moves the log start to
/// a segment boundary (batches below it stop being required). Cleaning (compacted runs only) may drop records whose
/// keys have newer values, so offsets may skip and batches change bytes: the model then checks records, and keeps,
/// per key, the latest acknowledged record as required (it, or a newer record of the key, must be there).
enum SimulationOperation: CaseIterable {
    case append, idempotentAppend, retryLastIdempotent, roll, flush, truncate, deleteRecords, checkpoint, read
    case armFault, crash, cleanRestart, retention, clean

    var weight: Int {
        switch self {
        case .append: 30
        case .idempotentAppend: 6
        case .retryLastIdempotent: 2
        case .roll: 4
        case .flush: 10
        case .truncate: 2
        case .deleteRecords: 2
        case .checkpoint: 4
        case .read: 4
        case .armFault: 3
        case .crash: 4
        case .cleanRestart: 2
        case .retention: 3
        case .clean: 3
        }
    }

    static let table: [SimulationOperation] = allCases.flatMap { Array(repeating: $0, count: $0.weight) }
}

final class SimulationRun {
    let seed: UInt64
    let verbose: Bool
    var random: SplitMix64
    let fs: SimulatedFileSystem
    let clock = SimulationClock()
    let logger = Logger(label: "samsa.simulation", factory: { _ in SwiftLogNoOpLogHandler() })
    let dataDirectory = "/data"
    let partition = TopicPartition("sim", 0)
    var config = LogConfig()
    var manager: LogManager?
    var statistics = SimulationStatistics()
    var step = 0
    var trace: [String] = []

    // The model.
    /// The batches of the log now (what the engine holds, in the cache), in offset order.
    var batches: [ModelBatch] = []
    /// `batches[..<acknowledged]` were acknowledged: a flush returned after they were appended (or a recovery
    /// found them on disk, which makes them durable).
    var acknowledged = 0
    /// Every byte image ever appended at each base offset (what may legitimately appear there after a crash).
    var versions: [Int64: Set<[UInt8]>] = [:]
    /// Every record ever appended at each offset (what a cleaned batch may hold there).
    var recordVersions: [Int64: Set<RecordImage>] = [:]
    /// Compacted runs: per key, the latest acknowledged record (its offset and value); it, or a newer record of the
    /// same key, must be in the log while its offset is at or above the log start.
    var requiredLatest: [[UInt8]: (offset: Int64, value: [UInt8]?)] = [:]
    let compacted: Bool
    var logStartOffset: Int64 = 0
    /// The highest log start ever asked for, and the one in the last checkpoint known to be on disk.
    var highestRequestedStart: Int64 = 0
    var checkpointedStart: Int64 = 0
    /// A fault is armed; when it fires, the run checks the reaction and restarts.
    var faultArmed = false
    let producerId: Int64 = 4242
    let steps: Int

    init(seed: UInt64, verbose: Bool) {
        self.seed = seed
        self.verbose = verbose
        random = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D)
        fs = SimulatedFileSystem(seed: seed ^ 0x5EED_F00D)
        steps = 40 + Int(random.next() % 40)
        // Small segments and indexes, so rolls and full indexes happen often.
        config.segmentBytes = 300 + Int(random.next() % 2500)
        config.indexIntervalBytes = Int(random.next() % 400)
        config.segmentIndexBytes = 8 * (2 + Int(random.next() % 12))
        if random.next() % 4 == 0 { config.segmentMs = 20 + Int64(random.next() % 200) }
        if random.next() % 5 == 0 { config.flushMessages = 1 + Int64(random.next() % 8) }
        if random.next() % 8 == 0 { config.messageTimestampType = .logAppendTime }
        // Retention by size or time in some runs, compaction (with a small key space) in a quarter of them.
        if random.next() % 3 == 0 { config.retentionBytes = 500 + Int64(random.next() % 4000) }
        if random.next() % 3 == 0 { config.retentionMs = 100 + Int64(random.next() % 600) }
        compacted = random.next() % 4 == 0
        if compacted {
            config.cleanupPolicy = random.next() % 2 == 0 ? .compact : .compactDelete
            config.minCleanableDirtyRatio = 0
        }
    }

    // MARK: Driving

    func execute() -> SimulationFailure? {
        statistics.runs = 1
        do {
            try fs.createDirectory(dataDirectory)
            try fs.syncDirectory("/")
            try open()
            _ = try manager!.getOrCreateLog(partition, config: config)
            while step < steps {
                step += 1
                statistics.steps += 1
                clock.advance(Int64(1 + random.next() % 20))
                try perform(SimulationOperation.table[Int(random.next() % UInt64(SimulationOperation.table.count))])
            }
            // The end of every run: one last power loss, and everything acknowledged must be there.
            try crashAndRecover()
        } catch let failure as SimulationFailure {
            finish()
            return failure
        } catch {
            finish()
            return fail("unexpected error: \(error)")
        }
        finish()
        return nil
    }

    func finish() {
        let fsStatistics = fs.statistics
        statistics.faultsInjected = fsStatistics.faultsInjected
        statistics.tornWrites = fsStatistics.tornWrites
        statistics.operations = fsStatistics.operations
    }

    func fail(_ message: String) -> SimulationFailure {
        SimulationFailure(
            seed: seed, step: step, message: message, trace: trace,
            operations: fs.recentOperations().suffix(40).map(\.description))
    }


    func note(_ line: String) {
        let entry = "[\(step)] \(line)"
        if verbose { print(entry) }
        trace.append(entry)
        if trace.count > 200 { trace.removeFirst(100) }
    }

    var log: Log {
        get throws {
            guard let log = manager?.log(partition) else { throw fail("the partition's log is missing") }
            return log
        }
    }

    /// The log end the model expects.
    var logEndOffset: Int64 = 0

    func perform(_ operation: SimulationOperation) throws {
        switch operation {
        case .append: try append(idempotent: false)
        case .idempotentAppend: if !compacted { try append(idempotent: true) }
        case .retryLastIdempotent: if !compacted { try retryLastIdempotent() }
        case .roll:
            note("roll")
            if let error = try guarded("roll", { try self.log.roll() }) {
                try checkFailedWrite("roll", error)
                try restartAfterFault()
            }
        case .flush: try flush()
        case .truncate: try truncate()
        case .deleteRecords: try deleteRecords()
        case .checkpoint: try checkpoint()
        case .read: try readCheck()
        case .armFault: armFault()
        case .crash: try crashAndRecover()
        case .cleanRestart: try cleanRestart()
        case .retention: try retention()
        case .clean: try clean()
        }
    }

    /// Runs a log operation. A thrown error must come from an injected fault: it is returned for the caller to
    /// bring the model up to date before `checkFailedWrite`.
    func guarded(_ what: String, _ body: () throws -> Void) throws -> (any Error)? {
        let faultsBefore = fs.statistics.faultsInjected
        do {
            try body()
            return nil
        } catch let error as SimulationFailure {
            throw error
        } catch {
            guard fs.statistics.faultsInjected > faultsBefore else { throw fail("\(what) failed without a fault: \(error)") }
            note("\(what) failed: \(error)")
            return error
        }
    }

    // MARK: Operations

    func buildBatch(idempotent: Bool, sequence: Int32, epoch: Int16 = 0) throws -> (bytes: [UInt8], records: Int) {
        let count = 1 + Int(random.next() % 4)
        let codecs = CompressionCodec.allCases
        let codec = random.next() % 4 == 0 ? codecs[Int(random.next() % UInt64(codecs.count))] : .none
        var builder = RecordBatchBuilder(
            codec: codec, producerId: idempotent ? producerId : RecordBatch.noProducerId,
            producerEpoch: idempotent ? epoch : RecordBatch.noProducerEpoch, baseSequence: idempotent ? sequence : RecordBatch.noSequence)
        let now = clock.now.load(ordering: .relaxed)
        for _ in 0..<count {
            // (A compacted topic refuses records without a key; few keys give the cleaner work.)
            let key: [UInt8]? = compacted ? [UInt8(random.next() % 8)] : random.next() % 3 == 0 ? nil : [UInt8(random.next() % 16)]
            let value = random.bytes(count: Int(random.next() % 160))
            builder.append(timestamp: now - Int64(random.next() % 30), key: key, value: value)
        }
        return (try builder.build(), count)
    }

    /// The bytes the log must hold for an appended batch: its base offset and leader epoch assigned, and for
    /// LogAppendTime topics the broker's time with the CRC recomputed.
    func expectedBytes(_ sent: [UInt8], baseOffset: Int64, logAppendTime: Int64) -> [UInt8] {
        var bytes = sent
        bytes.storeBigEndian(baseOffset, at: RecordBatch.Field.baseOffset)
        bytes.storeBigEndian(Int32(0), at: RecordBatch.Field.partitionLeaderEpoch)
        if logAppendTime >= 0 {
            let attributes = bytes.withUnsafeBytes { $0.loadBigEndian(at: RecordBatch.Field.attributes, as: Int16.self) } | 0x08
            bytes.storeBigEndian(attributes, at: RecordBatch.Field.attributes)
            bytes.storeBigEndian(logAppendTime, at: RecordBatch.Field.maxTimestamp)
            let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatch.Field.attributes...])) }
            bytes.storeBigEndian(crc, at: RecordBatch.Field.crc)
        }
        return bytes
    }

    var lastProducerBatch: ModelBatch? { batches.last { $0.producerId == producerId } ?? producerBatchBelowStart }
    /// The producer's last batch when it is below the log start (the log still knows the producer).
    var producerBatchBelowStart: ModelBatch?

    /// The idempotent producer's epoch: bumped (and the sequence restarted at 0) whenever the model cannot tell
    /// what the log remembers of the producer (its batches went with retention or a crash, its state may not).
    var producerEpoch: Int16 = 0
    /// Set by a truncation: the log rebuilt the producer's state from a snapshot and what is left, and batches
    /// that retention deleted in between are forgotten (as in Kafka), so the model starts a new epoch.
    var producerStateUncertain = false

    func append(idempotent: Bool) throws {
        var sequence = RecordBatch.noSequence
        var epoch = producerEpoch
        if idempotent {
            if let last = lastProducerBatch, !producerStateUncertain {
                sequence = last.lastSequence + 1
                epoch = last.producerEpoch
            } else {
                producerEpoch = max(producerEpoch, lastProducerBatch?.producerEpoch ?? 0) + 1
                epoch = producerEpoch
                sequence = 0
                producerStateUncertain = false
            }
        }
        var sent: [[UInt8]] = []
        var counts: [Int] = []
        let batchCount = idempotent ? 1 : 1 + (random.next() % 5 == 0 ? Int(random.next() % 3) : 0)
        for _ in 0..<batchCount {
            let (bytes, count) = try buildBatch(idempotent: idempotent, sequence: sequence, epoch: epoch)
            sent.append(bytes)
            counts.append(count)
        }
        let joined = sent.flatMap { $0 }
        let log = try self.log
        let endBefore = log.logEndOffset
        guard endBefore == logEndOffset else { throw fail("log end offset \(endBefore), model says \(logEndOffset)") }
        note("append \(counts.map(String.init).joined(separator: "+")) records at \(endBefore)\(idempotent ? " seq \(sequence)" : "")")
        statistics.appends += 1
        var result: Log.AppendResult?
        let failure = try guarded("append") {
            result = try joined.withUnsafeBytes { try log.append($0) }
        }
        // A failed append may still have written (when the failure was in its flush): the log end says.
        let endAfter = log.logEndOffset
        if let failure, endAfter <= endBefore {
            // Part of the write may have landed and may survive a crash (the log's attempt to cut it back is not
            // durable): those batches were appended, as far as what may appear on disk goes.
            let appendTime = config.messageTimestampType == .logAppendTime ? clock.now.load(ordering: .relaxed) : -1
            var base = endBefore
            for (bytes, count) in zip(sent, counts) {
                remember(expectedBytes(bytes, baseOffset: base, logAppendTime: appendTime))
                base += Int64(count)
            }
            try checkFailedWrite("append", failure)
            return try restartAfterFault()
        }
        guard endAfter == endBefore + Int64(counts.reduce(0, +)) else {
            throw fail("append of \(counts.reduce(0, +)) records moved the log end from \(endBefore) to \(endAfter)")
        }
        if let result {
            guard result.firstOffset == endBefore, !result.isDuplicate else { throw fail("append result \(result)") }
        }
        var appendTime = result?.logAppendTime ?? -1
        if config.messageTimestampType == .logAppendTime && result == nil {
            // The append wrote, then failed: the time the log gave the batches is in what it wrote.
            let bytes = try log.read(from: endBefore, maxBytes: RecordBatch.headerSize).slice?.readBytes() ?? []
            guard bytes.count >= RecordBatch.headerSize else { throw fail("cannot read back the batch written at \(endBefore)") }
            appendTime = bytes.withUnsafeBytes { $0.loadBigEndian(at: RecordBatch.Field.maxTimestamp, as: Int64.self) }
        }
        var base = endBefore
        for (bytes, count) in zip(sent, counts) {
            let expected = expectedBytes(bytes, baseOffset: base, logAppendTime: appendTime)
            let batch = ModelBatch(
                baseOffset: base, lastOffset: base + Int64(count) - 1, bytes: expected,
                producerId: idempotent ? producerId : -1, producerEpoch: idempotent ? epoch : -1, firstSequence: sequence,
                lastSequence: sequence + Int32(count) - 1)
            batches.append(batch)
            remember(expected)
            base += Int64(count)
        }
        logEndOffset = base
        if let failure {
            try checkFailedWrite("append", failure)
            return try restartAfterFault()
        }
        if log.recoveryPoint >= endAfter { acknowledgeAll() }  // flush.messages flushed inside the append
    }

    func retryLastIdempotent() throws {
        // (Below the log start the log may have forgotten the producer, as Kafka does.)
        guard let last = batches.last(where: { $0.producerId == producerId }), last.baseOffset >= logStartOffset, !faultArmed
        else { return }
        note("retry of the batch at \(last.baseOffset) (seq \(last.firstSequence))")
        // The producer resends exactly what it sent: the base offset and epoch it sent were the builder's.
        var sent = last.bytes
        sent.storeBigEndian(Int64(0), at: RecordBatch.Field.baseOffset)
        sent.storeBigEndian(RecordBatch.noPartitionLeaderEpoch, at: RecordBatch.Field.partitionLeaderEpoch)
        let result = try sent.withUnsafeBytes { try self.log.append($0) }
        guard result.isDuplicate, result.firstOffset == last.baseOffset, result.lastOffset == last.lastOffset else {
            throw fail("a retried batch was not recognised as the duplicate of \(last.baseOffset)...\(last.lastOffset): \(result)")
        }
    }

    func acknowledgeAll() {
        if compacted {
            for batch in batches[acknowledged...] { noteRequired(batch.bytes) }
        }
        acknowledged = batches.count
    }

    /// Records a batch image as appended (whole, and record by record).
    func remember(_ bytes: [UInt8]) {
        let base = bytes.withUnsafeBytes { $0.loadBigEndian(at: 0, as: Int64.self) }
        versions[base, default: []].insert(bytes)
        for record in Self.records(of: bytes) {
            recordVersions[record.offset, default: []].insert(RecordImage(key: record.key, value: record.value))
        }
    }

    /// In compacted runs: the batch's records become the latest required ones of their keys.
    func noteRequired(_ bytes: [UInt8]) {
        for record in Self.records(of: bytes) {
            guard let key = record.key else { continue }
            if (requiredLatest[key]?.offset ?? -1) < record.offset { requiredLatest[key] = (record.offset, record.value) }
        }
    }

    static func records(of bytes: [UInt8]) -> [(offset: Int64, key: [UInt8]?, value: [UInt8]?)] {
        var out: [(Int64, [UInt8]?, [UInt8]?)] = []
        var scratch: [UInt8] = []
        bytes.withUnsafeBytes { buffer in
            guard let batch = try? RecordBatch(validating: buffer) else { return }
            try? batch.forEachRecord(scratch: &scratch) { out.append(($0.offset, $0.keyBytes, $0.valueBytes)) }
        }
        return out
    }

    func flush() throws {
        note("flush")
        statistics.flushes += 1
        let log = try self.log
        if let error = try guarded("flush", { try log.flush() }) {
            try checkFailedWrite("flush", error)
            return try restartAfterFault()
        }
        guard log.recoveryPoint == logEndOffset else { throw fail("flush left the recovery point at \(log.recoveryPoint), log end \(logEndOffset)") }
        acknowledgeAll()
    }

    func truncate() throws {
        guard logEndOffset > logStartOffset else { return }
        let target = logStartOffset + Int64(random.next() % UInt64(logEndOffset - logStartOffset + 1))
        // The batch holding the target goes whole. With no batch there (a gap left by a crash), the log may end
        // anywhere from the end of the batches below the target up to the target.
        let straddling = batches.first { $0.baseOffset < target && $0.lastOffset >= target }
        let below = batches.last { $0.lastOffset < target }.map { $0.lastOffset + 1 } ?? logStartOffset
        let allowed = target >= logEndOffset
            ? logEndOffset...logEndOffset
            : straddling.map { max($0.baseOffset, logStartOffset)...max($0.baseOffset, logStartOffset) } ?? max(min(below, target), logStartOffset)...target
        note("truncate to \(target) (expect log end in \(allowed))")
        if verbose { print("before truncate: \(try describeDisk(try log))") }
        let log = try self.log
        var reported: Int64 = -1
        let error = try guarded("truncate", { reported = try self.manager!.truncate(self.partition, to: target) })
        producerStateUncertain = true
        if error != nil, log.offlineReason == nil {
            // The checkpoint before the truncation failed: nothing was truncated, and the log still takes writes.
            guard log.logEndOffset == logEndOffset else { throw fail("a truncation that failed before starting moved the log end") }
            statistics.faultsHit += 1
            faultArmed = false
            return
        }
        if error == nil {
            guard allowed.contains(reported), log.logEndOffset == reported else {
                throw fail("truncate to \(target) gave log end \(reported) (\(log.logEndOffset)), expected \(allowed)")
            }
        }
        // A failed truncation may be partly done: what is at or above the cut is no longer required (nor
        // forbidden), and reads are not compared with the model until the restart.
        let newEnd = error == nil ? reported : allowed.lowerBound
        // (A key with a record at or past the cut may have lost its older ones to the cleaner, which kept only the
        // newest: nothing is required of it any more. Kafka never truncates below the high watermark, which is
        // what makes this safe there.)
        var cutKeys = Set<[UInt8]>()
        for batch in batches where batch.lastOffset >= newEnd {
            for record in Self.records(of: batch.bytes) { if let key = record.key { cutKeys.insert(key) } }
        }
        requiredLatest = requiredLatest.filter { $0.value.offset < newEnd && !cutKeys.contains($0.key) }
        batches.removeAll { $0.lastOffset >= newEnd }
        acknowledged = min(acknowledged, batches.count)
        logEndOffset = newEnd
        if error == nil { producerBatchBelowStart = try lastProducerBatchOnDisk(log, below: logStartOffset) }
        if error == nil, log.logStartOffset != logStartOffset {
            // A truncation that empties the log may restart it at its end.
            guard log.logStartOffset > logStartOffset, log.logStartOffset <= newEnd,
                !batches.contains(where: { $0.lastOffset >= logStartOffset && $0.baseOffset < log.logStartOffset })
            else { throw fail("truncate moved the log start from \(logStartOffset) to \(log.logStartOffset)") }
            logStartOffset = log.logStartOffset
            highestRequestedStart = max(highestRequestedStart, logStartOffset)
        }
        if let error {
            try checkFailedWrite("truncate", error, compareReads: false)
            try restartAfterFault()
        }
    }

    func deleteRecords() throws {
        guard logEndOffset > logStartOffset else { return }
        let target = logStartOffset + Int64(random.next() % UInt64(logEndOffset - logStartOffset + 1))
        note("deleteRecords before \(target)")
        let log = try self.log
        let start = try log.deleteRecords(before: target)
        guard start == target else { throw fail("deleteRecords before \(target) moved the log start to \(start)") }
        logStartOffset = target
        highestRequestedStart = max(highestRequestedStart, target)
    }

    /// A retention pass: segments wholly below the log start, past retention.bytes or retention.ms go, and the log
    /// start moves to the first segment left. What is below it is no longer required.
    func retention() throws {
        note("retention")
        let log = try self.log
        var result = RetentionResult()
        if let error = try guarded("retention", { result = try log.deleteOldSegments() }) {
            // (It may have moved the log start before it failed.)
            logStartOffset = max(logStartOffset, log.logStartOffset)
            highestRequestedStart = max(highestRequestedStart, logStartOffset)
            try checkFailedWrite("retention", error)
            return try restartAfterFault()
        }
        let start = log.logStartOffset
        guard start >= logStartOffset, start <= logEndOffset else {
            throw fail("retention moved the log start from \(logStartOffset) to \(start) (log end \(logEndOffset))")
        }
        if result.segmentsDeleted > 0 {
            note("retention deleted \(result.segmentsDeleted) segments: log start \(start)")
            statistics.segmentsDeletedByRetention += result.segmentsDeleted
        }
        logStartOffset = start
        highestRequestedStart = max(highestRequestedStart, start)
    }

    /// Compacted runs: the cleaner cleans the log now (whatever its dirty ratio). Afterwards the log is read whole
    /// and checked (records appended as they are, the latest acknowledged record of every key there, indexes
    /// right), and the model becomes what was read.
    func clean() throws {
        guard compacted else { return }
        note("clean")
        let log = try self.log
        if verbose { print("before cleaning: \(try describeRecords(log))") }
        let faultsBefore = fs.statistics.faultsInjected
        let stats: CleanerStats?
        do {
            stats = try manager!.cleaner.clean(log)
        } catch {
            guard fs.statistics.faultsInjected > faultsBefore else { throw fail("cleaning failed without a fault: \(error)") }
            note("cleaning failed: \(error)")
            statistics.faultsHit += 1
            faultArmed = false
            // A failed cleaning leaves the log as it was (the cleaned copy is dropped): only the restart is checked.
            return try restartAfterFault()
        }
        guard let stats else { return }
        if verbose { print("after cleaning: \(try describeRecords(log))") }
        note("cleaned from \(stats.firstDirtyOffset) to \(stats.endOffset): \(stats.messagesRead) records read, \(stats.messagesWritten) kept")
        statistics.cleanings += 1
        let start = log.logStartOffset
        let end = log.logEndOffset
        guard end == logEndOffset else { throw fail("cleaning moved the log end from \(logEndOffset) to \(end)") }
        let found = try readWholeLog(log, from: start, to: end)
        try checkNothingFromThinAir(found)
        try checkRequiredRecords(found, start: start)
        try verifyIndexes(log)
        let acknowledgedEnd = acknowledged > 0 ? batches[acknowledged - 1].lastOffset + 1 : -1
        adopt(found)
        acknowledged = batches.filter { $0.lastOffset < acknowledgedEnd }.count
        logStartOffset = start
    }

    func checkpoint() throws {
        note("checkpoint")
        let start = logStartOffset
        let faultsBefore = fs.statistics.faultsInjected
        do {
            try manager!.checkpoint()
            checkpointedStart = start
        } catch {
            guard fs.statistics.faultsInjected > faultsBefore else { throw fail("checkpoint failed without a fault: \(error)") }
            note("checkpoint failed: \(error)")
            statistics.faultsHit += 1
            faultArmed = false
            // A checkpoint failure leaves the logs as they were: nothing to check but the restart.
            try restartAfterFault()
        }
    }

    func armFault() {
        guard !faultArmed else { return }
        let kinds: [SimulatedFileSystem.OperationKind] = [.write, .write, .sync, .truncate, .rename, .open, .syncDirectory, .removeFile]
        let kind = kinds[Int(random.next() % UInt64(kinds.count))]
        let faults: [SimulatedFileSystem.Fault] = [.ioError, .noSpace, .shortWrite(errno: ENOSPC), .shortWrite(errno: EIO)]
        let fault = faults[Int(random.next() % UInt64(faults.count))]
        let skipping = Int(random.next() % 4)
        note("arm \(fault) on \(kind) after \(skipping)")
        fs.inject(fault, on: [kind], skipping: skipping)
        faultArmed = true
    }

    /// After a write failed: the error is `.io`, the log refuses writes, reads still return what it holds.
    func checkFailedWrite(_ what: String, _ error: any Error, compareReads: Bool = true) throws {
        statistics.faultsHit += 1
        faultArmed = false
        switch error as? LogError {
        case .io: break
        case .invalidDirectory where what == "truncate": break  // the checkpoint after the truncation failed
        default: throw fail("\(what) failed with \(error), expected LogError.io")
        }
        let log = try self.log
        guard log.offlineReason != nil else { throw fail("\(what) failed but the log is not offline") }
        // A failed flush cuts what was not flushed: only unacknowledged batches may go (and a log emptied so may
        // restart at its end).
        let end = log.logEndOffset
        if log.logStartOffset > logStartOffset {
            guard !batches.contains(where: { $0.lastOffset >= logStartOffset && $0.baseOffset < log.logStartOffset && $0.lastOffset < end })
            else { throw fail("after the failed \(what) the log start moved from \(logStartOffset) to \(log.logStartOffset) over batches") }
            logStartOffset = log.logStartOffset
            highestRequestedStart = max(highestRequestedStart, logStartOffset)
        }
        if end < logEndOffset {
            guard what != "roll", acknowledged == 0 || batches[acknowledged - 1].lastOffset < end else {
                throw fail("after the failed \(what) the log end is \(end), below acknowledged batches (model end \(logEndOffset))")
            }
            batches.removeAll { $0.lastOffset >= end }
            acknowledged = min(acknowledged, batches.count)
            logEndOffset = end
        }
        // Writes are refused...
        let (probe, _) = try buildBatch(idempotent: false, sequence: -1)
        do {
            _ = try probe.withUnsafeBytes { try log.append($0) }
            throw fail("an append to an offline log succeeded")
        } catch let error as LogError {
            guard case .offline = error else { throw fail("an append to an offline log failed with \(error), expected .offline") }
        }
        // ...and reads keep working.
        if compareReads, logEndOffset > logStartOffset, !batches.isEmpty {
            try checkReadsMatch(log, from: max(logStartOffset, batches[0].baseOffset))
        }
    }

    /// After a fault: restart, by losing power or by closing, and check everything.
    func restartAfterFault() throws {
        fs.clearFaults()
        faultArmed = false
        if random.next() % 2 == 0 { try crashAndRecover() } else { try cleanRestart(afterFault: true) }
    }

    // MARK: Reads

    /// Reads from a random offset (or `from`) and compares the slice with the model, byte for byte.
    func readCheck() throws {
        guard logEndOffset > logStartOffset, !batches.isEmpty else { return }
        let floor = max(logStartOffset, batches[0].baseOffset)
        let from = floor + Int64(random.next() % UInt64(logEndOffset - floor))
        note("read from \(from)")
        try checkReadsMatch(try log, from: from)
    }

    func checkReadsMatch(_ log: Log, from: Int64) throws {
        let maxBytes = 1 + Int(random.next() % 3000)
        let slice = try log.read(from: from, maxBytes: maxBytes).slice
        guard var i = batches.firstIndex(where: { $0.lastOffset >= from }) else {
            // In a gap at the end (a crash lost the tail of a rolled segment): nothing to read yet.
            if slice != nil { throw fail("read from \(from) found data the model does not have") }
            return
        }
        guard let slice else { throw fail("read from \(from) found nothing") }
        let bytes = try slice.readBytes()
        var position = 0
        while position < bytes.count, i < batches.count {
            let expected = batches[i].bytes
            let n = min(expected.count, bytes.count - position)
            guard bytes[position..<(position + n)].elementsEqual(expected[..<n]) else {
                throw fail("read from \(from): bytes at slice position \(position) differ from the batch at \(batches[i].baseOffset)")
            }
            if position == 0 && n < expected.count { throw fail("read from \(from) cut the first batch") }
            position += n
            i += 1
        }
        guard position == bytes.count else { throw fail("read from \(from) returned \(bytes.count - position) bytes beyond the model") }
    }

    // MARK: Restarts and verification

    func open() throws {
        let config = self.config
        manager = try LogManager.open(
            dataDirectory: dataDirectory, configFor: { _ in config }, fileSystem: fs, clock: clock.clock, logger: logger,
            backgroundIntervalMs: nil)
    }

    func crashAndRecover() throws {
        let report = fs.crash()
        note("crash: kept \(report.namespaceChangesKept) directory changes, dropped \(report.namespaceChangesDropped), \(report.filesChanged) files changed, \(report.tornWrites) torn")
        statistics.crashes += 1
        manager = nil
        try reopenAndVerify(clean: false)
    }

    func cleanRestart(afterFault: Bool = false) throws {
        note("close\(afterFault ? " after the fault" : "")")
        let closed: Bool
        let faultsBefore = fs.statistics.faultsInjected
        do {
            try manager!.close()
            closed = true
        } catch {
            guard afterFault || fs.statistics.faultsInjected > faultsBefore else { throw fail("close failed without a fault: \(error)") }
            note("close failed: \(error)")
            if !afterFault { statistics.faultsHit += 1 }
            closed = false
        }
        statistics.cleanRestarts += 1
        manager = nil
        try reopenAndVerify(clean: closed && !afterFault)
    }

    /// Opens the directory again and checks the log against the model: it opens; offsets are dense from the log
    /// start; every acknowledged batch is there byte for byte; every batch present was appended at some point with
    /// exactly those bytes; the indexes agree with their `.log`. Then the model becomes what is on disk.
    func reopenAndVerify(clean: Bool) throws {
        // A fault armed but not yet hit would fire inside recovery; the log must open, so it is disarmed.
        fs.clearFaults()
        faultArmed = false
        do {
            try open()
        } catch {
            throw fail("the data directory did not open: \(error)")
        }
        let log = try self.log
        if !log.openReport.truncations.isEmpty { statistics.recoveriesThatTruncated += 1 }
        if clean, let report = manager!.openReports[partition] {
            throw fail("a cleanly closed log was recovered on open: \(report)")
        }
        let start = log.logStartOffset
        let end = log.logEndOffset
        note("reopened\(clean ? " (clean)" : ""): log \(start)..<\(end), model \(logStartOffset)..<\(logEndOffset), \(acknowledged) of \(batches.count) batches acknowledged; \(log.openReport.description.replacingOccurrences(of: "\n", with: "; "))")

        // The log start: never beyond what was asked, never below what a durable checkpoint said.
        guard start <= max(highestRequestedStart, batches.first?.baseOffset ?? 0) || start == end else {
            throw fail("log start offset \(start) is beyond any requested (\(highestRequestedStart))")
        }
        if clean {
            // (A log emptied by truncation may restart its segments, and so its start, at its end.)
            let nothingBetween = !batches.contains { $0.lastOffset >= logStartOffset && $0.baseOffset < start }
            guard start == logStartOffset || (start > logStartOffset && start <= end && nothingBetween) else {
                throw fail("after a clean restart the log start is \(start), expected \(logStartOffset)")
            }
        } else {
            guard start >= min(checkpointedStart, end) else {
                throw fail("log start offset \(start) is below the checkpointed \(checkpointedStart)")
            }
        }

        let found = try readWholeLog(log, from: start, to: end)
        try checkNothingFromThinAir(found)
        if compacted {
            try checkRequiredRecords(found, start: start)
        }
        // Everything acknowledged (at or above the log start) is there, byte for byte (after a clean close:
        // everything appended). Compacted runs check records instead (above), but for a clean close.
        if !compacted || clean {
            let present = Dictionary(found.map { ($0.base, $0.bytes) }, uniquingKeysWith: { a, _ in a })
            let required = clean ? batches[...] : batches[..<acknowledged]
            for batch in required where batch.lastOffset >= start {
                guard let bytes = present[batch.baseOffset] else {
                    throw fail("acknowledged batch \(batch.baseOffset)...\(batch.lastOffset) is lost (log \(start)..<\(end))")
                }
                guard bytes == batch.bytes else { throw fail("acknowledged batch \(batch.baseOffset) changed") }
                statistics.ackedBatchesVerified += 1
            }
        }
        if clean && end != logEndOffset { throw fail("after a clean restart the log end is \(end), expected \(logEndOffset)") }

        try verifyIndexes(log)

        // The model is now what is on disk, all of it durable: after a power loss the cache is the disk, after a
        // clean close everything was flushed, and after any other restart recovery flushed what it kept.
        adopt(found)
        acknowledged = batches.count
        if compacted { for batch in batches { noteRequired(batch.bytes) } }
        guard log.recoveryPoint == end else { throw fail("after the restart the recovery point is \(log.recoveryPoint), the log end \(end)") }
        producerBatchBelowStart = try lastProducerBatchOnDisk(log, below: start)
        logStartOffset = start
        logEndOffset = end
        checkpointedStart = min(checkpointedStart, start)
    }

    /// Makes the model's batches what was read from the log.
    func adopt(_ found: [(base: Int64, last: Int64, bytes: [UInt8])]) {
        batches = found.map { found in
            let (producer, first, lastSequence) = found.bytes.withUnsafeBytes { b in
                (b.loadBigEndian(at: RecordBatch.Field.producerId, as: Int64.self),
                 b.loadBigEndian(at: RecordBatch.Field.baseSequence, as: Int32.self),
                 b.loadBigEndian(at: RecordBatch.Field.baseSequence, as: Int32.self) + b.loadBigEndian(at: RecordBatch.Field.lastOffsetDelta, as: Int32.self))
            }
            let epoch = found.bytes.withUnsafeBytes { $0.loadBigEndian(at: RecordBatch.Field.producerEpoch, as: Int16.self) }
            return ModelBatch(
                baseOffset: found.base, lastOffset: found.last, bytes: found.bytes, producerId: producer, producerEpoch: epoch,
                firstSequence: first, lastSequence: lastSequence)
        }
    }

    /// Everything from `start` to `end`, through the public read path, checked to be whole valid batches in
    /// increasing offsets. Offsets are dense, except where a crash lost the unacknowledged tail of a segment that
    /// had already rolled (its offsets are skipped, never reused, as in Kafka) or the cleaner removed records: gaps
    /// are counted, and the acknowledged checks prove that nothing acknowledged was in one.
    func readWholeLog(_ log: Log, from start: Int64, to end: Int64) throws -> [(base: Int64, last: Int64, bytes: [UInt8])] {
        var found: [(base: Int64, last: Int64, bytes: [UInt8])] = []
        var next = start
        while next < end {
            guard let slice = try log.read(from: next, maxBytes: 1 + Int(random.next() % 4000)).slice else {
                // Nothing at or after `next`: the files must agree.
                if let batch = try firstBatchOnDisk(log, atOrAfter: next) {
                    throw fail("read from \(next) found nothing, but the batch \(batch.base)...\(batch.last) is on disk")
                }
                statistics.gaps += 1
                break
            }
            let bytes = try slice.readBytes()
            var position = 0
            var progressed = false
            while position < bytes.count {
                let rest = bytes[position...]
                let size = try rest.withUnsafeBytes { buffer -> Int? in
                    guard let size = try? RecordBatch.size(ofBatchAt: buffer), size <= buffer.count else { return nil }
                    do { _ = try RecordBatch(validating: UnsafeRawBufferPointer(rebasing: buffer[..<size])) } catch {
                        throw fail("read from \(next): invalid batch at slice position \(position): \(error)")
                    }
                    return size
                }
                guard let size else { break }
                let batchBytes = Array(bytes[position..<(position + size)])
                let (base, last) = batchBytes.withUnsafeBytes { b in
                    (b.loadBigEndian(at: 0, as: Int64.self), b.loadBigEndian(at: 0, as: Int64.self) + Int64(b.loadBigEndian(at: RecordBatch.Field.lastOffsetDelta, as: Int32.self)))
                }
                guard last >= next, base <= last else { throw fail("read from \(next) returned the batch \(base)...\(last)") }
                if let previous = found.last {
                    guard base > previous.last else {
                        throw fail("batch \(base)...\(last) overlaps \(previous.base)...\(previous.last)")
                    }
                    if base != previous.last + 1 { statistics.gaps += 1 }
                } else if base > start {
                    statistics.gaps += 1
                }
                found.append((base, last, batchBytes))
                next = last + 1
                position += size
                progressed = true
            }
            guard progressed else { throw fail("read from \(next) returned no whole batch") }
        }
        if let last = found.last, last.last + 1 > end { throw fail("the last batch ends at \(last.last), beyond the log end \(end)") }

        return found
    }

    /// Every batch present was appended with exactly these bytes; in compacted runs a batch the cleaner rewrote may
    /// differ, but each of its records was appended at its offset.
    func checkNothingFromThinAir(_ found: [(base: Int64, last: Int64, bytes: [UInt8])]) throws {
        for batch in found where !(versions[batch.base]?.contains(batch.bytes) ?? false) {
            if compacted {
                let records = Self.records(of: batch.bytes)
                let unknown = records.first { !(recordVersions[$0.offset]?.contains(RecordImage(key: $0.key, value: $0.value)) ?? false) }
                if unknown == nil { continue }
                throw fail("the record at \(unknown!.offset) in the batch at \(batch.base) was never appended with these bytes")
            }
            let known = versions[batch.base].map { "\($0.count) versions known" } ?? "nothing was ever appended there"
            throw fail("the batch at \(batch.base)...\(batch.last) was never appended with these bytes (\(known))")
        }
    }

    /// Compacted runs: each key's latest acknowledged record at or above the log start is there, or a newer record
    /// of the same key is.
    func checkRequiredRecords(_ found: [(base: Int64, last: Int64, bytes: [UInt8])], start: Int64) throws {
        var newest: [[UInt8]: (offset: Int64, value: [UInt8]?)] = [:]
        for batch in found {
            for record in Self.records(of: batch.bytes) {
                guard let key = record.key else { continue }
                newest[key] = (record.offset, record.value)
            }
        }
        for (key, required) in requiredLatest where required.offset >= start {
            guard let present = newest[key], present.offset >= required.offset else {
                throw fail("key \(key) lost its acknowledged record at \(required.offset) (newest present: \(newest[key].map { "\($0.offset)" } ?? "none"))")
            }
            if present.offset == required.offset && present.value != required.value {
                throw fail("key \(key): the record at \(required.offset) changed")
            }
            statistics.ackedBatchesVerified += 1
        }
    }

    /// The producer's last batch in the segment files below `offset` (DeleteRecords hides it from reads; the
    /// log's producer state still knows it).
    func lastProducerBatchOnDisk(_ log: Log, below offset: Int64) throws -> ModelBatch? {
        try log.state.withLock { state -> ModelBatch? in
            var last: ModelBatch?
            for segment in state.segments {
                var scanner = BatchHeaderScanner(file: segment.log, from: 0, end: segment.size)
                while let (header, _) = try scanner.next() {
                    guard header.baseOffset < offset else { return last }
                    if header.producerId == producerId {
                        last = ModelBatch(
                            baseOffset: header.baseOffset, lastOffset: header.lastOffset, bytes: [], producerId: producerId,
                            producerEpoch: header.producerEpoch, firstSequence: header.baseSequence, lastSequence: header.lastSequence)
                    }
                }
            }
            return last
        }
    }

    /// Every record on disk as offset:key, by segment, for traces of compacted runs.
    func describeRecords(_ log: Log) throws -> String {
        try log.state.withLock { state -> String in
            var parts: [String] = []
            for segment in state.segments {
                var scanner = BatchHeaderScanner(file: segment.log, from: 0, end: segment.size)
                var records: [String] = []
                while let (header, position) = try scanner.next() {
                    let bytes = try segment.log.read(count: header.sizeInBytes, at: position)
                    records += Self.records(of: bytes).map { "\($0.offset):\($0.key?.first.map(String.init) ?? "-")" }
                }
                parts.append("[\(segment.baseOffset): \(records.joined(separator: " "))]")
            }
            return parts.joined(separator: " ")
        }
    }

    /// The segments and their batches, for traces.
    func describeDisk(_ log: Log) throws -> String {
        try log.state.withLock { state -> String in
            var parts: [String] = []
            for segment in state.segments {
                var scanner = BatchHeaderScanner(file: segment.log, from: 0, end: segment.size)
                var batches: [String] = []
                while let (header, _) = try scanner.next() { batches.append("\(header.baseOffset)...\(header.lastOffset)") }
                parts.append("[\(segment.baseOffset): \(batches.joined(separator: " "))]")
            }
            return parts.joined(separator: " ") + " end \(state.logEndOffset) start \(state.logStartOffset)"
        }
    }

    /// The first batch in the segment files holding an offset at or after `offset` (bypassing the read path).
    func firstBatchOnDisk(_ log: Log, atOrAfter offset: Int64) throws -> (base: Int64, last: Int64)? {
        try log.state.withLock { state -> (base: Int64, last: Int64)? in
            for segment in state.segments {
                var scanner = BatchHeaderScanner(file: segment.log, from: 0, end: segment.size)
                while let (header, _) = try scanner.next() {
                    if header.lastOffset >= offset { return (header.baseOffset, header.lastOffset) }
                }
            }
            return nil
        }
    }

    /// Every offset index entry points at the start of a batch whose last offset is the entry's offset; every
    /// time index entry names a batch's last offset and its max timestamp; segments hold their own offsets.
    func verifyIndexes(_ log: Log) throws {
        let checked = try log.state.withLock { state -> Int in
            var entries = 0
            for i in state.segments.indices {
                try log.ensureIndexesLoaded(i, state: &state)
                let segment = state.segments[i]
                let fileSize = try segment.log.size()
                guard fileSize == segment.size else {
                    throw fail("\(segment.path("log")): the file holds \(fileSize) bytes, the segment \(segment.size)")
                }
                var starts: [Int64: RecordBatchHeader] = [:]
                var byLastOffset: [Int64: RecordBatchHeader] = [:]
                var scanner = BatchHeaderScanner(file: segment.log, from: 0, end: segment.size)
                while let (header, position) = try scanner.next() {
                    starts[position] = header
                    byLastOffset[header.lastOffset] = header
                    guard header.baseOffset >= segment.baseOffset, header.lastOffset < state.nextOffset(ofSegment: i) else {
                        throw fail("\(segment.path("log")): batch \(header.baseOffset)...\(header.lastOffset) outside the segment")
                    }
                }
                for entry in segment.offsetIndex.entries {
                    guard let header = starts[Int64(entry.position)], header.lastOffset == entry.offset else {
                        throw fail("\(segment.path("index")): entry (\(entry.offset), \(entry.position)) does not point at a batch ending at \(entry.offset)")
                    }
                    entries += 1
                }
                for entry in segment.timeIndex.entries {
                    guard let header = byLastOffset[entry.offset], header.maxTimestamp == entry.timestamp else {
                        throw fail("\(segment.path("timeindex")): entry (\(entry.timestamp), \(entry.offset)) matches no batch")
                    }
                    entries += 1
                }
            }
            return entries
        }
        statistics.indexEntriesVerified += checked
    }
}

// MARK: - Naming the seed when a run traps

/// Swift's runtime traps (a failed precondition) end the whole test process; this handler prints the seeds that
/// were running first, so the failure can be replayed.
enum SimulationTrapReporter {
    static let slotCount = 64
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<Int64> = {
        let p = UnsafeMutablePointer<Int64>.allocate(capacity: slotCount)
        p.initialize(repeating: -1, count: slotCount)
        return p
    }()
    static let installed = Mutex(false)

    static func running(_ seed: UInt64?, worker: Int) {
        guard worker < slotCount else { return }
        slots[worker] = seed.map { Int64(bitPattern: $0) } ?? -1
    }

    static func install(workers: Int) {
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        _ = slots
        for signal in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                SimulationTrapReporter.report()
                // Hand over to whoever handled it before (Swift's backtracer), then let it happen again.
                sigaction(signal, SimulationTrapReporter.previous + Int(signal), nil)
                raise(signal)
            }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, previous + Int(signal))
        }
    }

    nonisolated(unsafe) static let previous: UnsafeMutablePointer<sigaction> = {
        let p = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
        p.initialize(repeating: sigaction(), count: 65)
        return p
    }()

    /// Async-signal-safe: fixed buffers and write(2) only.
    static func report() {
        writeString("\nthe process trapped while simulation seeds were running (if the trap came from the simulation, replay one of them): ")
        for i in 0..<slotCount where slots[i] >= 0 {
            writeString("SAMSA_SIM_SEED=")
            writeNumber(UInt64(slots[i]))
            writeString(" ")
        }
        writeString("\n")
    }

    static func writeString(_ text: StaticString) {
        _ = write(2, text.utf8Start, text.utf8CodeUnitCount)
    }

    static func writeNumber(_ value: UInt64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { raw in
            var n = value
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            } while n > 0
            _ = write(2, raw.baseAddress! + i, raw.count - i)
        }
    }
}
