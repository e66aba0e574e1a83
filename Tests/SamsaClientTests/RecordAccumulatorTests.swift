import NIOCore
import SamsaLog
import Testing
@testable import SamsaClient

@Suite struct RecordAccumulatorTests {
    static func settings(
        batchSize: Int = 1_000, lingerMs: Int64 = 10, maxRequest: Int = 1 << 20, memory: Int = 1 << 20,
        deliveryTimeoutMs: Int64 = 120_000, codec: CompressionCodec = .none
    ) -> RecordAccumulator.Settings {
        RecordAccumulator.Settings(
            batchSizeBytes: batchSize, linger: .milliseconds(lingerMs), compression: codec, compressionLevel: nil,
            maxRequestSizeBytes: maxRequest, bufferMemoryBytes: memory, deliveryTimeout: .milliseconds(deliveryTimeoutMs),
            retryBackoff: .milliseconds(100))
    }

    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let tp0 = TopicPartition("t", 0)
    static let tp1 = TopicPartition("t", 1)

    @discardableResult
    static func append(
        _ acc: inout RecordAccumulator, _ tp: TopicPartition, value: [UInt8], key: [UInt8]? = nil, at now: NIODeadline = t0,
        opaque: UInt64 = 0
    ) -> RecordAccumulator.AppendResult {
        key.withRawBytes { k in
            value.withUnsafeBytes { v in
                acc.append(tp, timestamp: 1_700_000_000_000, key: k, value: v, headers: [], target: .opaque(opaque), now: now)
            }
        }
    }

    static func drain(
        _ acc: inout RecordAccumulator, at now: NIODeadline, flushing: Bool = false, leaders: [TopicPartition: Int32] = [tp0: 1, tp1: 1],
        blocked: Set<Int32> = []
    ) -> RecordAccumulator.Drained {
        acc.drain(now: now, flushing: flushing, leader: { leaders[$0] }, canSend: { !blocked.contains($0) })
    }

    /// The values of the records in a drained batch, decoded with the engine's reader.
    static func values(of batch: ProducerBatch) throws -> [[UInt8]] {
        var values: [[UInt8]] = []
        var scratch: [UInt8] = []
        try batch.bytes.withUnsafeReadableBytes { raw in
            let view = try RecordBatch(validating: raw)
            #expect(view.sizeInBytes == raw.count)
            try view.forEachRecord(scratch: &scratch) { values.append($0.valueBytes ?? []) }
        }
        return values
    }

    @Test func aBatchWaitsForLingerThenIsSent() throws {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 10))
        let result = Self.append(&acc, Self.tp0, value: Array("hello".utf8))
        #expect(result.newBatch && !result.batchFull && !result.closedBatch)
        let early = Self.drain(&acc, at: Self.t0 + .milliseconds(9))
        #expect(early.requests.isEmpty)
        #expect(early.nextCheck == Self.t0 + .milliseconds(10))
        let due = Self.drain(&acc, at: Self.t0 + .milliseconds(10))
        let batches = try #require(due.requests[1])
        #expect(batches.count == 1)
        #expect(try Self.values(of: batches[0]) == [Array("hello".utf8)])
        #expect(acc.isEmpty)
    }

    @Test func recordsThatOverflowBatchSizeCloseTheBatchAndItIsSentWithoutLinger() throws {
        var acc = RecordAccumulator(settings: Self.settings(batchSize: 300, lingerMs: 1_000))
        let value = [UInt8](repeating: 7, count: 100)
        #expect(!Self.append(&acc, Self.tp0, value: value).closedBatch)
        #expect(!Self.append(&acc, Self.tp0, value: value).closedBatch)
        // Header (61) + two records (~108 each) leaves no room for a third within 300 bytes.
        #expect(Self.append(&acc, Self.tp0, value: value).closedBatch)
        #expect(acc.batchCount(Self.tp0) == 2)
        let drained = Self.drain(&acc, at: Self.t0)
        let batches = try #require(drained.requests[1])
        #expect(batches.count == 1, "one batch per partition per request")
        #expect(try Self.values(of: batches[0]).count == 2)
        #expect(batches[0].sizeInBytes <= 300)
        // The open batch (one record) still lingers.
        #expect(acc.batchCount(Self.tp0) == 1)
        #expect(Self.drain(&acc, at: Self.t0 + .milliseconds(999)).requests.isEmpty)
        #expect(try Self.values(of: Self.drain(&acc, at: Self.t0 + .milliseconds(1_000)).requests[1]![0]).count == 1)
    }

    @Test func aRecordLargerThanBatchSizeGetsABatchOfItsOwn() throws {
        var acc = RecordAccumulator(settings: Self.settings(batchSize: 100, lingerMs: 1_000))
        let result = Self.append(&acc, Self.tp0, value: [UInt8](repeating: 1, count: 500))
        #expect(result.batchFull)
        let drained = Self.drain(&acc, at: Self.t0)
        #expect(try Self.values(of: drained.requests[1]![0]) == [[UInt8](repeating: 1, count: 500)])
    }

    @Test func batchSizeZeroSendsEveryRecordAlone() throws {
        var acc = RecordAccumulator(settings: Self.settings(batchSize: 0, lingerMs: 0))
        for i in 0..<3 { Self.append(&acc, Self.tp0, value: [UInt8(i)]) }
        #expect(acc.batchCount(Self.tp0) == 3)
        var seen: [[UInt8]] = []
        for _ in 0..<3 {
            let drained = Self.drain(&acc, at: Self.t0)
            seen += try Self.values(of: drained.requests[1]![0])
        }
        #expect(seen == [[0], [1], [2]])
    }

    @Test func flushMakesLingeringBatchesReadyAtOnce() {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 60_000))
        Self.append(&acc, Self.tp0, value: [1])
        Self.append(&acc, Self.tp1, value: [2])
        #expect(Self.drain(&acc, at: Self.t0).requests.isEmpty)
        let flushed = Self.drain(&acc, at: Self.t0, flushing: true)
        #expect(flushed.requests[1]?.count == 2)
    }

    @Test func aRequestStopsAtMaxRequestSizeAndTheRestWaitsForTheNext() {
        var acc = RecordAccumulator(settings: Self.settings(batchSize: 10_000, lingerMs: 0, maxRequest: 700))
        let value = [UInt8](repeating: 3, count: 400)
        Self.append(&acc, Self.tp0, value: value)
        Self.append(&acc, Self.tp1, value: value)
        let first = Self.drain(&acc, at: Self.t0)
        #expect(first.requests[1]?.count == 1)
        let second = Self.drain(&acc, at: Self.t0)
        #expect(second.requests[1]?.count == 1)
        #expect(acc.isEmpty)
    }

    @Test func batchesWaitWhileTheirLeaderCannotTakeMoreRequests() {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 0))
        Self.append(&acc, Self.tp0, value: [1])
        #expect(Self.drain(&acc, at: Self.t0, blocked: [1]).requests.isEmpty)
        #expect(Self.drain(&acc, at: Self.t0).requests[1]?.count == 1)
    }

    @Test func unknownLeadersAreReportedAndTheirBatchesKept() {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 0))
        Self.append(&acc, Self.tp0, value: [1])
        let drained = Self.drain(&acc, at: Self.t0, leaders: [:])
        #expect(drained.requests.isEmpty)
        #expect(drained.unknownLeaderTopics == ["t"])
        #expect(acc.queuedRecords == 1)
        #expect(Self.drain(&acc, at: Self.t0).requests[1]?.count == 1)
    }

    @Test func batchesForDifferentLeadersGoToDifferentRequests() {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 0))
        Self.append(&acc, Self.tp0, value: [1])
        Self.append(&acc, Self.tp1, value: [2])
        let drained = Self.drain(&acc, at: Self.t0, leaders: [Self.tp0: 1, Self.tp1: 2])
        #expect(drained.requests[1]?.map(\.topicPartition) == [Self.tp0])
        #expect(drained.requests[2]?.map(\.topicPartition) == [Self.tp1])
    }

    @Test func aRetriedBatchGoesFirstAfterTheBackoff() throws {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 0))
        Self.append(&acc, Self.tp0, value: [1])
        let batch = Self.drain(&acc, at: Self.t0).requests[1]![0]
        Self.append(&acc, Self.tp0, value: [2], at: Self.t0 + .milliseconds(1))
        acc.reenqueue(batch, now: Self.t0 + .milliseconds(5))
        let during = Self.drain(&acc, at: Self.t0 + .milliseconds(50))
        #expect(during.requests.isEmpty, "the retried batch blocks its partition until the backoff ends")
        #expect(during.nextCheck == Self.t0 + .milliseconds(105))
        let after = Self.drain(&acc, at: Self.t0 + .milliseconds(105))
        let retried = try #require(after.requests[1]?.first)
        #expect(retried.attempts == 1)
        #expect(try Self.values(of: retried) == [[1]])
        #expect(try Self.values(of: Self.drain(&acc, at: Self.t0 + .milliseconds(105)).requests[1]![0]) == [[2]])
    }

    @Test func batchesOlderThanTheDeliveryTimeoutExpire() {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 0, deliveryTimeoutMs: 1_000))
        Self.append(&acc, Self.tp0, value: [1], opaque: 77)
        let drained = Self.drain(&acc, at: Self.t0 + .milliseconds(1_000), leaders: [:])
        #expect(drained.requests.isEmpty)
        #expect(drained.expired.count == 1)
        guard case .failure(.deliveryTimedOut(let topic, let partition, let ms)) = drained.expired[0].result else {
            Issue.record("expected a delivery timeout, got \(drained.expired[0].result)")
            return
        }
        #expect(topic == "t" && partition == 0 && ms == 1_000)
        #expect(acc.bufferedBytes == 0)
        #expect(acc.isEmpty)
    }

    @Test func bufferMemoryIsChargedOnAppendAndReturnedOnRelease() {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 0, memory: 400))
        let size = RecordAccumulator.maxRecordSize(keyCount: nil, valueCount: 150, headers: [])
        #expect(acc.admission(recordSize: size) == .accept)
        Self.append(&acc, Self.tp0, value: [UInt8](repeating: 0, count: 150))
        Self.append(&acc, Self.tp0, value: [UInt8](repeating: 0, count: 150))
        #expect(acc.bufferedBytes > 300)
        #expect(acc.admission(recordSize: size) == .wait)
        let batch = Self.drain(&acc, at: Self.t0).requests[1]![0]
        #expect(acc.admission(recordSize: size) == .wait, "in flight still holds its memory")
        acc.release(batch)
        #expect(acc.bufferedBytes == 0)
        #expect(acc.admission(recordSize: size) == .accept)
    }

    @Test func recordsLargerThanTheRequestOrMemoryLimitAreRefused() {
        let acc = RecordAccumulator(settings: Self.settings(maxRequest: 1_000, memory: 5_000))
        #expect(acc.admission(recordSize: 2_000) == .tooLarge(limit: 1_000))
        let big = RecordAccumulator(settings: Self.settings(maxRequest: 10_000, memory: 5_000))
        #expect(big.admission(recordSize: 6_000) == .tooLarge(limit: 5_000))
    }

    @Test func compressedBatchesDecodeToTheSameRecords() throws {
        for codec in CompressionCodec.allCases {
            var acc = RecordAccumulator(settings: Self.settings(batchSize: 1 << 20, lingerMs: 0, codec: codec))
            let values = (0..<50).map { Array("record number \($0) with some repeated text text text".utf8) }
            for value in values { Self.append(&acc, Self.tp0, value: value) }
            let batch = try #require(Self.drain(&acc, at: Self.t0).requests[1]?.first)
            #expect(batch.recordCount == 50)
            #expect(try Self.values(of: batch) == values, "codec \(codec)")
            let compression = try batch.bytes.withUnsafeReadableBytes { raw throws -> CompressionCodec? in
                try RecordBatch(validating: raw).compression
            }
            #expect(compression == codec)
        }
    }

    @Test func deliveriesKeepTheOrderOfAppends() {
        var acc = RecordAccumulator(settings: Self.settings(lingerMs: 0))
        for i in 0..<10 { Self.append(&acc, Self.tp0, value: [UInt8(i)], opaque: UInt64(100 + i)) }
        let batch = Self.drain(&acc, at: Self.t0).requests[1]![0]
        let opaques: [UInt64] = batch.deliveries.map {
            if case .opaque(let value) = $0 { return value }
            return 0
        }
        #expect(opaques == (100..<110).map(UInt64.init))
    }
}
