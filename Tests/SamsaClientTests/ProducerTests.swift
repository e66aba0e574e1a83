import NIOCore
import SamsaLog
import SamsaProtocol
import Synchronization
import Testing
@testable import SamsaClient

/// A one-broker cluster on a fake broker: Metadata names the broker itself as leader of every partition of
/// topic "t"; Produce answers are decided by `produce` (per request number, starting at 1).
final class FakeCluster: Sendable {
    struct Appended: Sendable, Equatable {
        var partition: Int32
        var baseOffset: Int64
        var values: [[UInt8]]
    }

    final class State: Sendable {
        let port = Mutex(0)
        let produceCount = Mutex(0)
        let metadataCount = Mutex(0)
        let logEnd = Mutex<[Int32: Int64]>([:])
        let appended = Mutex<[Appended]>([])
        let initProducerIdCount = Mutex(0)
        /// (producer id, epoch, base sequence) of every batch received, answered or not.
        let stamps = Mutex<[Stamp]>([])
    }

    struct Stamp: Sendable, Equatable {
        var producerId: Int64
        var epoch: Int16
        var baseSequence: Int32
    }

    let state = State()
    let partitions: Int32
    let broker: FakeBroker
    var produceCount: Int { state.produceCount.withLock { $0 } }
    var metadataCount: Int { state.metadataCount.withLock { $0 } }
    var appended: [Appended] { state.appended.withLock { $0 } }
    var stamps: [Stamp] { state.stamps.withLock { $0 } }
    var initProducerIdCount: Int { state.initProducerIdCount.withLock { $0 } }

    /// nil: append and answer success; an error code: answer it for every partition; `.close`: drop the connection.
    enum Answer: Sendable { case append, error(ErrorCode), close, silence, appendThenClose }

    init(partitions: Int32 = 2, produce: @escaping @Sendable (Int) -> Answer = { _ in .append }) async throws {
        self.partitions = partitions
        let state = self.state
        broker = try await FakeBroker { header, body in
            switch header.apiKey {
            case .apiVersions?:
                return [FakeBroker.apiVersions(header)]
            case .metadata?:
                state.metadataCount.withLock { $0 += 1 }
                let response = MetadataResponse(
                    brokers: [.init(nodeId: 1, host: "127.0.0.1", port: Int32(state.port.withLock { $0 }))],
                    clusterId: "fake", controllerId: 1,
                    topics: [.init(name: "t", partitions: (0..<partitions).map {
                        .init(partitionIndex: $0, leaderId: 1, replicaNodes: [1], isrNodes: [1])
                    })])
                return [FakeBroker.frame(response, header)]
            case .initProducerId?:
                // Producer ids 1000, 1001, ... in order of asking.
                let n = state.initProducerIdCount.withLock { count in
                    count += 1
                    return count
                }
                return [FakeBroker.frame(InitProducerIdResponse(producerId: 999 + Int64(n), producerEpoch: 0), header)]
            case .produce?:
                let n = state.produceCount.withLock { count in
                    count += 1
                    return count
                }
                let request = try! ProduceRequest.decode(body, version: header.requestApiVersion)
                let answer = produce(n)
                for topic in request.topicData {
                    for data in topic.partitionData {
                        data.records!.withUnsafeReadableBytes { raw in
                            let batch = try! RecordBatch(validating: raw)
                            state.stamps.withLock {
                                $0.append(Stamp(producerId: batch.producerId, epoch: batch.producerEpoch, baseSequence: batch.baseSequence))
                            }
                        }
                    }
                }
                if case .close = answer { return nil }
                if case .silence = answer { return [] }
                var results: [ProduceResponse.TopicProduceResponse] = []
                for topic in request.topicData {
                    var partitionResults: [ProduceResponse.PartitionProduceResponse] = []
                    for data in topic.partitionData {
                        if case .error(let code) = answer {
                            partitionResults.append(.init(index: data.index, errorCode: code, baseOffset: -1))
                            continue
                        }
                        var values: [[UInt8]] = []
                        var scratch: [UInt8] = []
                        data.records!.withUnsafeReadableBytes { raw in
                            let batch = try! RecordBatch(validating: raw)
                            try! batch.forEachRecord(scratch: &scratch) { values.append($0.valueBytes ?? []) }
                        }
                        let base = state.logEnd.withLock { ends in
                            defer { ends[data.index, default: 0] += Int64(values.count) }
                            return ends[data.index, default: 0]
                        }
                        state.appended.withLock { $0.append(Appended(partition: data.index, baseOffset: base, values: values)) }
                        partitionResults.append(.init(index: data.index, errorCode: .none, baseOffset: base))
                    }
                    results.append(.init(name: topic.name, partitionResponses: partitionResults))
                }
                if case .appendThenClose = answer { return nil }
                if header.requestApiVersion >= 0 && request.acks == 0 { return [] }
                return [FakeBroker.frame(ProduceResponse(responses: results), header)]
            default:
                return nil
            }
        }
        state.port.withLock { $0 = broker.port }
    }

    func config(acks: Int16 = 1, lingerMs: Int64 = 0, retries: Int = 10, requestTimeoutMs: Int64 = 5_000) -> ProducerConfig {
        var config = ProducerConfig(client: FakeBroker.config(broker, requestTimeoutMs: requestTimeoutMs))
        config.acks = acks
        config.lingerMs = lingerMs
        config.retries = retries
        config.retryBackoffMs = 10
        config.client.reconnectBackoffMs = 0
        return config
    }

    func stop() async { await broker.stop() }
}

@Suite struct ProducerTests {
    @Test func keyedRecordsAreAcknowledgedWithConsecutiveOffsetsOnTheirMurmur2Partition() async throws {
        let cluster = try await FakeCluster(partitions: 3)
        let producer = Producer(config: cluster.config())
        var results: [RecordMetadata] = []
        for i in 0..<12 {
            let key = Array("key-\(i)".utf8)
            let metadata = try await producer.sendAndWait(topic: "t", key: key, value: Array("v\(i)".utf8))
            #expect(metadata.partition == Partitioner.partition(forKey: key, partitionCount: 3))
            results.append(metadata)
        }
        await producer.close()
        await cluster.stop()
        for p in Int32(0)..<3 {
            let offsets = results.filter { $0.partition == p }.map(\.offset)
            #expect(offsets == (0..<Int64(offsets.count)).map { $0 })
        }
    }

    @Test func queuedRecordsAreBatchedAndEveryDeliveryReported() async throws {
        let cluster = try await FakeCluster(partitions: 1)
        let reports = Mutex<[DeliveryReport]>([])
        var config = cluster.config(lingerMs: 50)
        config.batchSizeBytes = 1 << 20
        let producer = Producer(config: config) { report in reports.withLock { $0.append(report) } }
        for i in 0..<500 {
            try await producer.send(topic: "t", key: nil, value: Array("record \(i)".utf8), target: .opaque(UInt64(i)))
        }
        await producer.close()
        await cluster.stop()
        let delivered = reports.withLock { $0 }
        #expect(delivered.count == 500)
        #expect(delivered.allSatisfy { $0.error == nil })
        #expect(delivered.sorted { $0.opaque < $1.opaque }.map(\.offset) == (0..<500).map(Int64.init))
        // Lingering gathers the 500 records into a few requests, not 500.
        #expect(cluster.produceCount < 20)
        let values = cluster.appended.flatMap(\.values)
        #expect(values == (0..<500).map { Array("record \($0)".utf8) })
    }

    @Test func aRetriableErrorRefreshesMetadataAndTheBatchIsSentAgain() async throws {
        let cluster = try await FakeCluster(partitions: 1) { n in n == 1 ? .error(.notLeaderOrFollower) : .append }
        let producer = Producer(config: cluster.config())
        let metadata = try await producer.sendAndWait(topic: "t", key: nil, value: Array("once".utf8))
        await producer.close()
        await cluster.stop()
        #expect(metadata.offset == 0)
        #expect(cluster.produceCount == 2)
        #expect(cluster.metadataCount >= 2, "NOT_LEADER_OR_FOLLOWER makes the producer ask again")
        #expect(cluster.appended.map(\.values) == [[Array("once".utf8)]], "appended exactly once")
    }

    @Test func aDroppedConnectionIsMadeAgainAndTheBatchRetried() async throws {
        let cluster = try await FakeCluster(partitions: 1) { n in n == 1 ? .close : .append }
        let producer = Producer(config: cluster.config())
        let metadata = try await producer.sendAndWait(topic: "t", key: nil, value: Array("survivor".utf8))
        await producer.close()
        await cluster.stop()
        #expect(metadata.offset == 0)
        #expect(cluster.produceCount == 2)
    }

    @Test func aNonRetriableErrorFailsTheRecordWithItsCode() async throws {
        let cluster = try await FakeCluster(partitions: 1) { _ in .error(.messageTooLarge) }
        let producer = Producer(config: cluster.config())
        do {
            _ = try await producer.sendAndWait(topic: "t", key: nil, value: [1, 2, 3])
            Issue.record("expected MESSAGE_TOO_LARGE")
        } catch {
            guard case .broker(let code, let context, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(code == .messageTooLarge)
            #expect(context == "t-0")
        }
        await producer.close()
        await cluster.stop()
        #expect(cluster.produceCount == 1, "not retried")
    }

    @Test func retriesStopAtTheConfiguredCount() async throws {
        let cluster = try await FakeCluster(partitions: 1) { _ in .error(.notEnoughReplicas) }
        let producer = Producer(config: cluster.config(retries: 2))
        await #expect(throws: ClientError.self) { _ = try await producer.sendAndWait(topic: "t", key: nil, value: [1]) }
        await producer.close()
        await cluster.stop()
        #expect(cluster.produceCount == 3, "the first attempt and two retries")
    }

    @Test func acksZeroReportsWithoutWaitingForAnAnswer() async throws {
        let cluster = try await FakeCluster(partitions: 1)
        let producer = Producer(config: cluster.config(acks: 0))
        let metadata = try await producer.sendAndWait(topic: "t", key: nil, value: [9])
        #expect(metadata.offset == -1)
        await producer.close()
        // The broker still got the records.
        try await Task.sleep(for: .milliseconds(50))
        #expect(cluster.appended.flatMap(\.values) == [[9]])
        await cluster.stop()
    }

    @Test func aRecordAboveMaxRequestSizeIsRefusedAtOnce() async throws {
        let cluster = try await FakeCluster(partitions: 1)
        var config = cluster.config()
        config.maxRequestSizeBytes = 1_000
        let producer = Producer(config: config)
        do {
            try await producer.send(topic: "t", key: nil, value: [UInt8](repeating: 0, count: 2_000))
            Issue.record("expected recordTooLarge")
        } catch {
            guard case .recordTooLarge(_, let limit) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(limit == 1_000)
        }
        await producer.close()
        await cluster.stop()
        #expect(cluster.produceCount == 0)
    }

    @Test func anExplicitPartitionOutsideTheTopicIsRefused() async throws {
        let cluster = try await FakeCluster(partitions: 2)
        let producer = Producer(config: cluster.config())
        await #expect(throws: ClientError.unknownPartition(topic: "t", partition: 5)) {
            try await producer.send(topic: "t", partition: 5, key: nil, value: [1])
        }
        let metadata = try await producer.sendAndWait(topic: "t", partition: 1, key: nil, value: [1])
        #expect(metadata.partition == 1)
        await producer.close()
        await cluster.stop()
    }
}

@Suite struct IdempotentProducerTests {
    static func config(_ cluster: FakeCluster) -> ProducerConfig {
        var config = cluster.config(acks: -1)
        config.enableIdempotence = true
        return config
    }

    @Test func batchesCarryTheProducerIdAndConsecutiveSequences() async throws {
        let cluster = try await FakeCluster(partitions: 1)
        let producer = Producer(config: Self.config(cluster))
        for i in 0..<3 {
            _ = try await producer.sendAndWait(topic: "t", key: nil, value: Array("r\(i)".utf8))
        }
        await producer.close()
        await cluster.stop()
        #expect(cluster.initProducerIdCount == 1)
        #expect(cluster.stamps == [.init(producerId: 1000, epoch: 0, baseSequence: 0), .init(producerId: 1000, epoch: 0, baseSequence: 1),
                                   .init(producerId: 1000, epoch: 0, baseSequence: 2)])
    }

    /// The answer is lost after the broker wrote the batch: the retry carries the same stamp, so a broker that
    /// deduplicates (Kafka, samsa) writes it once.
    @Test func aRetryAfterALostAnswerKeepsItsSequence() async throws {
        let cluster = try await FakeCluster(partitions: 1) { n in n == 1 ? .appendThenClose : .append }
        let producer = Producer(config: Self.config(cluster))
        _ = try await producer.sendAndWait(topic: "t", key: nil, value: Array("once".utf8))
        _ = try await producer.sendAndWait(topic: "t", key: nil, value: Array("next".utf8))
        await producer.close()
        await cluster.stop()
        #expect(cluster.stamps.map(\.baseSequence) == [0, 0, 1])
        #expect(Set(cluster.stamps.map(\.producerId)) == [1000])
    }

    @Test func anOutOfOrderSequenceGetsANewProducerIdAndStartsAgainAtZero() async throws {
        let cluster = try await FakeCluster(partitions: 1) { n in n == 2 ? .error(.outOfOrderSequenceNumber) : .append }
        let producer = Producer(config: Self.config(cluster))
        _ = try await producer.sendAndWait(topic: "t", key: nil, value: Array("a".utf8))
        _ = try await producer.sendAndWait(topic: "t", key: nil, value: Array("b".utf8))
        await producer.close()
        await cluster.stop()
        #expect(cluster.initProducerIdCount == 2)
        #expect(cluster.stamps == [.init(producerId: 1000, epoch: 0, baseSequence: 0), .init(producerId: 1000, epoch: 0, baseSequence: 1),
                                   .init(producerId: 1001, epoch: 0, baseSequence: 0)])
        #expect(cluster.appended.flatMap(\.values) == [Array("a".utf8), Array("b".utf8)])
    }

    @Test func withoutIdempotenceBatchesCarryNoStamp() async throws {
        let cluster = try await FakeCluster(partitions: 1)
        let producer = Producer(config: cluster.config())
        _ = try await producer.sendAndWait(topic: "t", key: nil, value: Array("plain".utf8))
        await producer.close()
        await cluster.stop()
        #expect(cluster.initProducerIdCount == 0)
        #expect(cluster.stamps == [.init(producerId: -1, epoch: -1, baseSequence: -1)])
    }
}
