import NIOCore
import SamsaLog
import SamsaProtocol
import Synchronization
import Testing
@testable import SamsaClient

/// A one-broker, one-topic ("t") log for consumer tests: batches of `batchSize` records each, record i has value
/// "v<i>" and timestamp 1000 + i. Fetches answer at once (no long poll) and cut the data at the partition's
/// max bytes like Kafka does (always at least one whole batch, the last one possibly cut short).
final class FakeLog: Sendable {
    final class State: Sendable {
        let port = Mutex(0)
        let batches = Mutex<[Int32: [[UInt8]]]>([:])
        let fetches = Mutex<[Int64]>([])
    }

    let state = State()
    let broker: FakeBroker

    init(partitions: Int32 = 1, records: Int, batchSize: Int) async throws {
        var logs: [Int32: [[UInt8]]] = [:]
        for p in 0..<partitions {
            var batches: [[UInt8]] = []
            var offset = 0
            while offset < records {
                var builder = RecordBatchBuilder(baseOffset: Int64(offset))
                for i in offset..<min(records, offset + batchSize) {
                    builder.append(timestamp: 1_000 + Int64(i), key: nil, value: Array("v\(i)".utf8))
                }
                batches.append(try builder.build())
                offset += batchSize
            }
            logs[p] = batches
        }
        state.batches.withLock { $0 = logs }
        let state = self.state
        broker = try await FakeBroker { header, body in
            switch header.apiKey {
            case .apiVersions?:
                return [FakeBroker.apiVersions(header)]
            case .metadata?:
                return [FakeBroker.frame(MetadataResponse(
                    brokers: [.init(nodeId: 1, host: "127.0.0.1", port: Int32(state.port.withLock { $0 }))],
                    clusterId: "fake", controllerId: 1,
                    topics: [.init(name: "t", partitions: (0..<partitions).map {
                        .init(partitionIndex: $0, leaderId: 1, replicaNodes: [1], isrNodes: [1])
                    })]), header)]
            case .listOffsets?:
                let request = try! ListOffsetsRequest.decode(body, version: header.requestApiVersion)
                let end = Int64(records)
                let answers = request.topics.map { topic in
                    ListOffsetsResponse.ListOffsetsTopicResponse(name: topic.name, partitions: topic.partitions.map { p in
                        let offset: Int64 = switch p.timestamp {
                        case -2: 0
                        case -1: end
                        default: p.timestamp - 1_000 < end ? max(0, p.timestamp - 1_000) : -1
                        }
                        return .init(partitionIndex: p.partitionIndex, errorCode: .none, timestamp: -1, offset: offset)
                    })
                }
                return [FakeBroker.frame(ListOffsetsResponse(topics: answers), header)]
            case .fetch?:
                let request = try! FetchRequest.decode(body, version: header.requestApiVersion)
                let logs = state.batches.withLock { $0 }
                let answers = request.topics.map { topic in
                    FetchResponse.FetchableTopicResponse(topic: topic.topic, partitions: topic.partitions.map { p in
                        state.fetches.withLock { $0.append(p.fetchOffset) }
                        let end = Int64(records)
                        guard p.fetchOffset >= 0, p.fetchOffset <= end else {
                            return .init(partitionIndex: p.partition, errorCode: .offsetOutOfRange, highWatermark: end)
                        }
                        var data: [UInt8] = []
                        for batch in logs[p.partition] ?? [] {
                            let base = Int64(batch.count >= 8 ? batch[0..<8].reduce(0) { $0 << 8 | Int64($1) } : 0)
                            if base + Int64(batchSize) <= p.fetchOffset { continue }
                            if !data.isEmpty && data.count + batch.count > Int(p.partitionMaxBytes) {
                                // Kafka may send a trailing partial batch; the consumer must ignore it.
                                data += batch[0..<min(batch.count - 1, Int(p.partitionMaxBytes) - data.count)]
                                break
                            }
                            data += batch
                        }
                        return .init(partitionIndex: p.partition, errorCode: .none, highWatermark: end,
                                     records: .bytes(ByteBuffer(bytes: data)))
                    })
                }
                return [FakeBroker.frame(FetchResponse(responses: answers), header)]
            default:
                return nil
            }
        }
        state.port.withLock { $0 = broker.port }
    }

    func consumer(reset: OffsetSpec? = .earliest, maxPartitionBytes: Int32 = 1 << 20) -> Consumer {
        var config = ConsumerConfig(client: FakeBroker.config(broker))
        config.autoOffsetReset = reset
        config.maxPartitionFetchBytes = maxPartitionBytes
        config.fetchMaxWaitMs = 10
        return Consumer(config: config)
    }

    func stop() async { await broker.stop() }
}

@Suite struct ConsumerTests {
    static func values(_ consumer: Consumer, count: Int) async throws -> [String] {
        var out: [String] = []
        for _ in 0..<200 where out.count < count {
            let records = try await consumer.poll(timeout: .milliseconds(200))
            out += try records.records().map { String(decoding: $0.value ?? [], as: UTF8.self) }
        }
        return out
    }

    @Test func readsEveryRecordInOrderFromTheEarliestOffset() async throws {
        let log = try await FakeLog(records: 100, batchSize: 7)
        let consumer = log.consumer(reset: .earliest)
        let tp = TopicPartition("t", 0)
        try await consumer.assign([tp])
        let values = try await Self.values(consumer, count: 100)
        #expect(values == (0..<100).map { "v\($0)" })
        #expect(consumer.position(tp) == 100)
        #expect(consumer.highWatermark(tp) == 100)
        await consumer.close()
        await log.stop()
    }

    @Test func partialTrailingBatchesAreFetchedAgainWhole() async throws {
        let log = try await FakeLog(records: 60, batchSize: 10)
        // Each batch is ~150 bytes: a 200-byte limit cuts every response inside its second batch.
        let consumer = log.consumer(reset: .earliest, maxPartitionBytes: 200)
        try await consumer.assign([TopicPartition("t", 0)])
        let values = try await Self.values(consumer, count: 60)
        #expect(values == (0..<60).map { "v\($0)" })
        let fetched = log.state.fetches.withLock { $0 }
        #expect(Array(fetched.prefix(6)) == [0, 10, 20, 30, 40, 50], "each fetch starts after the last whole batch")
        await consumer.close()
        await log.stop()
    }

    @Test func seekToAnOffsetInsideABatchSkipsTheRecordsBeforeIt() async throws {
        let log = try await FakeLog(records: 30, batchSize: 10)
        let consumer = log.consumer(reset: .latest)
        let tp = TopicPartition("t", 0)
        try await consumer.assign([tp])
        try await consumer.seek(tp, to: .offset(13))
        #expect(try await Self.values(consumer, count: 17) == (13..<30).map { "v\($0)" })
        try await consumer.seek(tp, to: .timestamp(1_025))
        #expect(try await Self.values(consumer, count: 5) == (25..<30).map { "v\($0)" })
        try await consumer.seek(tp, to: .earliest)
        #expect(try await Self.values(consumer, count: 3).prefix(3) == ["v0", "v1", "v2"])
        await consumer.close()
        await log.stop()
    }

    @Test func latestReadsNothingUntilNewRecordsAndPollTimesOutEmpty() async throws {
        let log = try await FakeLog(records: 20, batchSize: 5)
        let consumer = log.consumer(reset: .latest)
        let tp = TopicPartition("t", 0)
        try await consumer.assign([tp])
        // The position resolves with a ListOffsets round trip, which a loaded machine may stretch past one poll.
        for _ in 0..<20 where consumer.position(tp) == nil {
            let records = try await consumer.poll(timeout: .milliseconds(300))
            #expect(records.isEmpty)
        }
        #expect(consumer.position(tp) == 20)
        #expect(try await consumer.poll(timeout: .milliseconds(300)).isEmpty)
        await consumer.close()
        await log.stop()
    }

    @Test func anOutOfRangeOffsetResetsByAutoOffsetReset() async throws {
        let log = try await FakeLog(records: 10, batchSize: 5)
        let consumer = log.consumer(reset: .earliest)
        let tp = TopicPartition("t", 0)
        try await consumer.assign([tp])
        try await consumer.seek(tp, to: .offset(500))
        #expect(try await Self.values(consumer, count: 10) == (0..<10).map { "v\($0)" })
        await consumer.close()
        await log.stop()
    }

    @Test func withoutAResetPolicyAnOutOfRangeOffsetIsAnError() async throws {
        let log = try await FakeLog(records: 10, batchSize: 5)
        let consumer = log.consumer(reset: nil)
        let tp = TopicPartition("t", 0)
        try await consumer.assign([tp])
        try await consumer.seek(tp, to: .offset(500))
        var failure: ClientError?
        for _ in 0..<20 where failure == nil {
            do { _ = try await consumer.poll(timeout: .milliseconds(100)) } catch { failure = error }
        }
        guard case .broker(let code, _, _)? = failure else {
            Issue.record("expected OFFSET_OUT_OF_RANGE, got \(String(describing: failure))")
            return
        }
        #expect(code == .offsetOutOfRange)
        await consumer.close()
        await log.stop()
    }

    @Test func everyPartitionIsReadAndUnknownPartitionsAreRefused() async throws {
        let log = try await FakeLog(partitions: 3, records: 12, batchSize: 4)
        let consumer = log.consumer(reset: .earliest)
        #expect(try await consumer.partitions(of: "t").count == 3)
        await #expect(throws: ClientError.unknownPartition(topic: "t", partition: 9)) {
            try await consumer.assign([TopicPartition("t", 9)])
        }
        await #expect(throws: ClientError.unknownTopic("nope")) { try await consumer.assign([TopicPartition("nope", 0)]) }
        try await consumer.assign(try await consumer.partitions(of: "t"))
        let values = try await Self.values(consumer, count: 36)
        #expect(values.count == 36)
        #expect(Set(values) == Set((0..<12).map { "v\($0)" }))
        await consumer.close()
        await log.stop()
    }
}
