import Dispatch
import Foundation
import Synchronization
import Testing
@testable import SamsaLog

/// The pipelined appender: checks on the submitting thread, writes on its own, in submission order; completions
/// after the write; bounded queue; the same refusals and producer rules as `Log.append`.
@Suite struct LogAppenderTests {
    /// A batch of `count` records whose values name the batch (`b<tag>-<i>`).
    static func batch(_ tag: Int, count: Int = 4) -> [UInt8] {
        var builder = RecordBatchBuilder()
        for i in 0..<count { builder.append(timestamp: 1_700_000_000_000 + Int64(tag), key: nil, value: Array("b\(tag)-\(i)".utf8)) }
        return try! builder.build()
    }

    /// What the completions report, in the order they ran.
    final class Completions: Sendable {
        let results = Mutex<[(tag: Int, result: Result<Log.AppendResult, LogError>)]>([])
        func completion(_ tag: Int) -> LogAppender.Completion {
            { result in self.results.withLock { $0.append((tag, result)) } }
        }
        var all: [(tag: Int, result: Result<Log.AppendResult, LogError>)] { results.withLock { $0 } }
    }

    /// A log in `dir`, an appender on it with its default bounds, and a record of completions.
    static func start(in dir: TemporaryDirectory) throws -> (Log, LogAppender, Completions) {
        let log = try Log.open(directory: dir.sub("p-0"))
        return (log, LogAppender(log: log), Completions())
    }

    @Test func batchesAreWrittenInSubmissionOrderAndEachCompletionHasItsOffsets() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("p-0"))
        let appender = LogAppender(log: log, maxQueuedBytes: 1 << 20, maxQueued: 4)
        let done = Completions()
        for tag in 0..<200 { try appender.submit(Self.batch(tag), completion: done.completion(tag)) }
        appender.close()
        let results = done.all
        #expect(results.map(\.tag) == Array(0..<200))
        for (i, entry) in results.enumerated() {
            let appended = try entry.result.get()
            #expect(appended.firstOffset == Int64(i * 4) && appended.lastOffset == Int64(i * 4 + 3))
        }
        #expect(log.logEndOffset == 800)
        let records = try log.readAllRecords()
        #expect(records.map(\.offset) == (0..<800).map(Int64.init))
        #expect(records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == (0..<800).map { "b\($0 / 4)-\($0 % 4)" })
        #expect(appender.peakQueued.count <= 4)
        try log.close()
    }

    @Test func aRefusedBatchThrowsFromSubmitAndIsNeitherQueuedNorWritten() throws {
        let dir = TemporaryDirectory()
        let (log, appender, done) = try Self.start(in: dir)
        try appender.submit(Self.batch(0), completion: done.completion(0))
        var corrupt = Self.batch(1)
        corrupt[corrupt.count - 1] ^= 0xFF  // the CRC no longer matches
        #expect {
            try appender.submit(corrupt, completion: done.completion(1))
        } throws: { if case LogError.invalidBatch = $0 { true } else { false } }
        // A record walk failure (offset deltas 0, 0, ...) found on the submitting thread, too: the CRC is fixed
        // up after the damage, so only the record check can see it.
        var badDeltas = Self.batch(2, count: 2)
        badDeltas.withUnsafeMutableBytes { bytes in
            // The second record's offset delta: after its length, attributes and timestamp delta (one byte each).
            let firstLength = Int(bytes[RecordBatch.headerSize]) >> 1
            let second = RecordBatch.headerSize + 1 + firstLength
            #expect(bytes[second + 3] == 2)  // zigzag(1)
            bytes[second + 3] = 0
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[RecordBatch.Field.attributes...]))
            bytes.storeBytes(of: crc.bigEndian, toByteOffset: RecordBatch.Field.crc, as: UInt32.self)
        }
        #expect {
            try appender.submit(badDeltas, completion: done.completion(2))
        } throws: { if case LogError.invalidRecord = $0 { true } else { false } }
        try appender.submit(Self.batch(3), completion: done.completion(3))
        appender.close()
        #expect(done.all.map(\.tag) == [0, 3])
        #expect(try done.all.map { try $0.result.get().firstOffset } == [0, 4])
        #expect(log.logEndOffset == 8)
        try log.close()
    }

    @Test func manyThreadsSubmittingGetDenseDisjointOffsets() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("p-0"))
        let appender = LogAppender(log: log, maxQueuedBytes: 4 << 10, maxQueued: 8)
        let done = Completions()
        let threads = 4
        let perThread = 150
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                let tag = t * perThread + i
                try! appender.submit(Self.batch(tag, count: 1 + tag % 5), completion: done.completion(tag))
            }
        }
        appender.drain()
        let results = done.all
        #expect(results.count == threads * perThread)
        // Every batch once, at offsets that tile 0..<end with no gap or overlap, in completion order.
        #expect(Set(results.map(\.tag)).count == threads * perThread)
        var next: Int64 = 0
        for entry in results {
            let appended = try entry.result.get()
            #expect(appended.firstOffset == next && appended.recordCount == 1 + entry.tag % 5)
            next = appended.lastOffset + 1
        }
        #expect(log.logEndOffset == next)
        // Each thread's own batches kept their order.
        for t in 0..<threads {
            let mine = results.map(\.tag).filter { $0 / perThread == t }
            #expect(mine == Array((t * perThread)..<((t + 1) * perThread)))
        }
        // The byte bound held (one batch is let in alone however large, so the bound is 4 KiB or one batch).
        let peak = appender.peakQueued
        #expect(peak.count <= 8 && peak.bytes <= 4 << 10)
        appender.close()
        try log.close()
    }

    @Test func submitBlocksWhileTheQueueIsFull() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("p-0"))
        let appender = LogAppender(log: log, maxQueuedBytes: 1 << 20, maxQueued: 4)
        let release = DispatchSemaphore(value: 0)
        let submitted = Atomic<Int>(0)
        // The first completion holds the writer: the batch being written counts against the bound, so three more
        // fit and the fifth submit must wait.
        let held: LogAppender.Completion = { _ in release.wait() }
        let done = Completions()
        // A thread of its own: Dispatch's shared pool can be busy with other suites' work for seconds.
        let submitterDone = DispatchSemaphore(value: 0)
        Thread {
            for tag in 0..<10 {
                try! appender.submit(Self.batch(tag), completion: tag == 0 ? held : done.completion(tag))
                submitted.add(1, ordering: .sequentiallyConsistent)
            }
            submitterDone.signal()
        }.start()
        let deadline = ContinuousClock.now + .seconds(10)
        while submitted.load(ordering: .sequentiallyConsistent) < 4 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.001)
        }
        Thread.sleep(forTimeInterval: 0.05)
        #expect(submitted.load(ordering: .sequentiallyConsistent) == 4)
        release.signal()
        submitterDone.wait()
        appender.close()
        #expect(submitted.load(ordering: .sequentiallyConsistent) == 10)
        #expect(done.all.map(\.tag) == Array(1..<10))
        #expect(log.logEndOffset == 40)
        try log.close()
    }

    /// Batches that queue up while the writer is busy are written together (one gathered write), with the offsets,
    /// results and bytes single appends would have given; an idempotent batch is never part of a group; on a
    /// LogAppendTime topic every batch of a group gets the time and a valid CRC.
    @Test(arguments: [TimestampType.createTime, .logAppendTime])
    func queuedBatchesAreWrittenAsOneGroupWithTheirOwnResults(_ timestamps: TimestampType) throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.messageTimestampType = timestamps
        let log = try Log.open(directory: dir.sub("p-0"), config: config)
        let appender = LogAppender(log: log)
        let release = DispatchSemaphore(value: 0)
        let holding = DispatchSemaphore(value: 0)
        let done = Completions()
        // The first completion holds the writer while the next batches queue.
        try appender.submit(Self.batch(0)) { result in
            done.completion(0)(result)
            holding.signal()
            release.wait()
        }
        holding.wait()
        for tag in 1...10 { try appender.submit(Self.batch(tag, count: tag), completion: done.completion(tag)) }
        try appender.submit(ProducerStateTests.idempotentBatch(sequence: 0), completion: done.completion(11))
        for tag in 12...14 { try appender.submit(Self.batch(tag, count: 2), completion: done.completion(tag)) }
        release.signal()
        appender.drain()
        #expect(appender.largestGroupWritten == 10, "batches 1...10 written together")
        let results = done.all
        #expect(results.map(\.tag) == Array(0...14))
        var next: Int64 = 0
        for entry in results {
            let appended = try entry.result.get()
            let records = entry.tag == 0 ? 4 : entry.tag == 11 ? 3 : entry.tag >= 12 ? 2 : entry.tag
            #expect(appended.firstOffset == next && appended.lastOffset == next + Int64(records) - 1, "batch \(entry.tag)")
            #expect(appended.recordCount == records && appended.batchCount == 1 && !appended.isDuplicate)
            #expect((appended.logAppendTime >= 0) == (timestamps == .logAppendTime))
            next = appended.lastOffset + 1
        }
        #expect(log.logEndOffset == next)
        appender.close()
        try log.close()
        // Reopened (every batch's CRC checked on reading back): the values in order, the times as the topic says.
        let reopened = try Log.open(directory: dir.sub("p-0"), config: config)
        let records = try reopened.readAllRecords()
        #expect(records.map(\.offset) == (0..<next).map { $0 })
        let values = records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
        #expect(values.prefix(4) == ["b0-0", "b0-1", "b0-2", "b0-3"] && values[4] == "b1-0" && values[5] == "b2-0")
        if timestamps == .logAppendTime {
            #expect(records.allSatisfy { $0.timestamp > 1_700_000_000_014 }, "the broker's time, not the producer's")
        } else {
            #expect(records[4].timestamp == 1_700_000_000_001)
        }
        try reopened.close()
    }

    @Test func writeErrorsReachTheCompletionAndSubmitAfterCloseThrows() throws {
        let dir = TemporaryDirectory()
        let (log, appender, done) = try Self.start(in: dir)
        try log.close()
        // The checks pass (they need no open segment); the write finds the log closed.
        try appender.submit(Self.batch(0), completion: done.completion(0))
        appender.drain()
        #expect(done.all.count == 1)
        if case .failure(LogError.closed) = done.all[0].result {} else { Issue.record("expected .closed, got \(done.all[0].result)") }
        appender.close()
        appender.close()
        #expect {
            try appender.submit(Self.batch(1), completion: done.completion(1))
        } throws: { if case LogError.closed = $0 { true } else { false } }
        #expect(done.all.count == 1)
    }

    @Test func anIdempotentRetryThroughTheAppenderIsADuplicate() throws {
        let dir = TemporaryDirectory()
        let (log, appender, done) = try Self.start(in: dir)
        try appender.submit(ProducerStateTests.idempotentBatch(sequence: 0), completion: done.completion(0))
        try appender.submit(ProducerStateTests.idempotentBatch(sequence: 3), completion: done.completion(1))
        try appender.submit(ProducerStateTests.idempotentBatch(sequence: 0), completion: done.completion(2))
        try appender.submit(ProducerStateTests.idempotentBatch(sequence: 9), completion: done.completion(3))
        appender.close()
        let results = done.all
        let retry = try results[2].result.get()
        #expect(retry.isDuplicate && retry.firstOffset == 0 && retry.lastOffset == 2)
        if case .failure(LogError.outOfOrderSequence) = results[3].result {} else { Issue.record("expected a gap refused, got \(results[3].result)") }
        #expect(log.logEndOffset == 6)
        try log.close()
    }
}
