import NIOCore
import SamsaLog
import Testing
@testable import SamsaClient

@Suite struct ConsumerRecordsTests {
    static let tp = TopicPartition("t", 0)

    static func batch(base: Int64, values: [String], codec: CompressionCodec = .none, control: Bool = false) throws -> [UInt8] {
        var builder = RecordBatchBuilder(baseOffset: base, codec: codec, isControl: control)
        for (i, value) in values.enumerated() {
            if control {
                let marker = ControlRecord(kind: .commit)
                builder.append(timestamp: 1_000 + Int64(i), key: marker.keyBytes, value: marker.valueBytes)
            } else {
                builder.append(timestamp: 1_000 + Int64(i), key: Array("k\(i)".utf8), value: Array(value.utf8))
            }
        }
        return try builder.build()
    }

    static func records(_ bytes: [UInt8], start: Int64, check: Bool = true) throws -> [ConsumerRecord] {
        let buffer = ByteBuffer(bytes: bytes)
        let (length, next) = FetchedBatches.completeBatches(in: buffer)
        let fetch = CompletedFetch(
            topicPartition: tp, records: buffer.getSlice(at: 0, length: length)!, startOffset: start,
            nextOffset: next ?? start, highWatermark: 100, epoch: 0)
        return try ConsumerRecords(fetches: [fetch], checkCRCs: check).records()
    }

    @Test func aPartialTrailingBatchIsCutOffAndTheNextOffsetIsAfterTheLastWholeOne() throws {
        let first = try Self.batch(base: 0, values: ["a", "b"])
        let second = try Self.batch(base: 2, values: ["c"])
        for cut in 0..<second.count {
            let buffer = ByteBuffer(bytes: first + second[0..<cut])
            let (length, next) = FetchedBatches.completeBatches(in: buffer)
            #expect(length == first.count, "cut at \(cut)")
            #expect(next == 2)
        }
        let whole = FetchedBatches.completeBatches(in: ByteBuffer(bytes: first + second))
        #expect(whole.bytes == first.count + second.count)
        #expect(whole.nextOffset == 3)
        #expect(FetchedBatches.completeBatches(in: ByteBuffer(bytes: Array(first[0..<30]))).nextOffset == nil)
    }

    @Test func controlBatchesAreSkippedButCountTowardThePosition() throws {
        let data = try Self.batch(base: 0, values: ["a"]) + Self.batch(base: 1, values: ["marker"], control: true)
            + Self.batch(base: 2, values: ["b"])
        let records = try Self.records(data, start: 0)
        #expect(records.map(\.offset) == [0, 2])
        #expect(records.map { String(decoding: $0.value!, as: UTF8.self) } == ["a", "b"])
        #expect(FetchedBatches.completeBatches(in: ByteBuffer(bytes: data)).nextOffset == 3)
    }

    @Test func recordsBeforeTheFetchOffsetInACompressedBatchAreNotReturned() throws {
        for codec in CompressionCodec.allCases {
            let data = try Self.batch(base: 10, values: ["a", "b", "c", "d"], codec: codec)
            let records = try Self.records(data, start: 12)
            #expect(records.map(\.offset) == [12, 13], "codec \(codec)")
            #expect(records.map(\.key) == [Array("k2".utf8), Array("k3".utf8)])
            #expect(records.allSatisfy { $0.topic == "t" && $0.partition == 0 && $0.timestampType == .createTime })
        }
    }

    @Test func aCorruptBatchNamesItsPartitionAndOffset() throws {
        var data = try Self.batch(base: 7, values: ["hello"])
        data[data.count - 2] ^= 0xFF
        do {
            _ = try Self.records(data, start: 7)
            Issue.record("a flipped byte must fail the CRC")
        } catch let error as ClientError {
            guard case .corruptRecords(let topic, let partition, let offset, let reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(topic == "t" && partition == 0 && offset == 7)
            #expect(reason.contains("CRC"))
        }
    }

    @Test func forEachStopsWhenTheBodySaysSo() throws {
        let data = try Self.batch(base: 0, values: ["a", "b", "c"]) + Self.batch(base: 3, values: ["d"])
        let buffer = ByteBuffer(bytes: data)
        let fetch = CompletedFetch(topicPartition: Self.tp, records: buffer, startOffset: 0, nextOffset: 4, highWatermark: 4, epoch: 0)
        var seen: [Int64] = []
        var scratch: [UInt8] = []
        let finished = try ConsumerRecords(fetches: [fetch], checkCRCs: true).forEach(scratch: &scratch) { record in
            seen.append(record.offset)
            return seen.count < 2
        }
        #expect(!finished)
        #expect(seen == [0, 1])
    }

    /// A caller that stops part-way (console-consumer --max-messages in a group) seeks back to what it did not
    /// use: the stopping partition after its last record, the partitions not reached at their start.
    @Test func resumePositionsAfterStoppingPartWay() throws {
        let tp1 = TopicPartition("t", 1), tp2 = TopicPartition("t", 2)
        func fetch(_ tp: TopicPartition, base: Int64, _ values: [String]) throws -> CompletedFetch {
            let buffer = ByteBuffer(bytes: try Self.batch(base: base, values: values))
            return CompletedFetch(
                topicPartition: tp, records: buffer, startOffset: base, nextOffset: base + Int64(values.count),
                highWatermark: 100, epoch: 0)
        }
        let records = ConsumerRecords(
            fetches: [try fetch(Self.tp, base: 10, ["a", "b"]), try fetch(tp1, base: 20, ["c", "d", "e"]), try fetch(tp2, base: 5, ["f"])],
            checkCRCs: true)
        var scratch: [UInt8] = []
        var last: (topic: String, partition: Int32, offset: Int64)?
        var count = 0
        try records.forEach(scratch: &scratch) { record in
            last = (record.topic, record.partition, record.offset)
            count += 1
            return count < 3
        }
        #expect(last?.partition == 1 && last?.offset == 20)
        #expect(records.resumePositions(stoppedAfter: last) == [tp1: 21, tp2: 5])
        #expect(records.resumePositions(stoppedAfter: nil) == [Self.tp: 10, tp1: 20, tp2: 5])
    }
}
