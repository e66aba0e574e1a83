import NIOCore
import SamsaLog
import SamsaProtocol
import Testing
@testable import SamsaClient

/// The client's group pieces that need no broker: assignors, the consumer protocol's bytes, config checks.
@Suite struct PartitionAssignorTests {
    static func member(_ id: String, _ topics: [String], instance: String? = nil) -> GroupMemberSubscription {
        GroupMemberSubscription(memberId: id, groupInstanceId: instance, subscription: ConsumerProtocolSubscription(topics: topics))
    }

    @Test func rangeCutsEachTopicIntoContiguousRangesFirstMembersGetOneMore() {
        let result = RangeAssignor().assign(
            partitionsPerTopic: ["t0": 3, "t1": 3], members: [Self.member("c1", ["t0", "t1"]), Self.member("c0", ["t0", "t1"])])
        #expect(Set(result["c0"]!) == [TopicPartition("t0", 0), TopicPartition("t0", 1), TopicPartition("t1", 0), TopicPartition("t1", 1)])
        #expect(Set(result["c1"]!) == [TopicPartition("t0", 2), TopicPartition("t1", 2)])
    }

    @Test func rangeGivesNothingToMembersBeyondThePartitionCount() {
        let result = RangeAssignor().assign(
            partitionsPerTopic: ["t": 1], members: [Self.member("a", ["t"]), Self.member("b", ["t"])])
        #expect(result["a"] == [TopicPartition("t", 0)])
        #expect(result["b"] == [])
    }

    @Test func staticMembersComeFirstInRange() {
        let result = RangeAssignor().assign(
            partitionsPerTopic: ["t": 3], members: [Self.member("a", ["t"]), Self.member("z", ["t"], instance: "i1")])
        #expect(result["z"]!.count == 2)
        #expect(result["a"] == [TopicPartition("t", 2)])
    }

    @Test func roundRobinDealsPartitionsInTurn() {
        let result = RoundRobinAssignor().assign(
            partitionsPerTopic: ["t0": 3, "t1": 2], members: [Self.member("c0", ["t0", "t1"]), Self.member("c1", ["t0", "t1"])])
        let all = (result["c0"]! + result["c1"]!)
        #expect(Set(all).count == 5 && all.count == 5)
        #expect(abs(result["c0"]!.count - result["c1"]!.count) <= 1)
    }

    @Test func unknownTopicsAreLeftOutAndEveryMemberAppears() {
        let result = RangeAssignor().assign(
            partitionsPerTopic: ["t": 2], members: [Self.member("a", ["t", "missing"]), Self.member("b", ["missing"])])
        #expect(Set(result["a"]!) == [TopicPartition("t", 0), TopicPartition("t", 1)])
        #expect(result["b"] == [])
    }

    @Test func assignorsByKafkaNames() {
        #expect(PartitionAssignors.named("range")?.name == "range")
        #expect(PartitionAssignors.named("org.apache.kafka.clients.consumer.RoundRobinAssignor")?.name == "roundrobin")
        #expect(PartitionAssignors.named("sticky-of-my-own") == nil)
    }
}

@Suite struct ConsumerProtocolTests {
    @Test(arguments: [Int16(0), 1, 2, 3])
    func subscriptionRoundTrips(version: Int16) throws {
        let subscription = ConsumerProtocolSubscription(
            topics: ["orders", "users"], ownedPartitions: version >= 1 ? [TopicPartition("orders", 1)] : [],
            generationId: version >= 2 ? 7 : -1, rackId: version >= 3 ? "rack-a" : nil)
        let bytes = try subscription.encode(version: version)
        #expect(bytes.getInteger(at: bytes.readerIndex, as: Int16.self) == version)
        #expect(try ConsumerProtocolSubscription.decode(bytes) == subscription)
    }

    @Test func assignmentRoundTrips() throws {
        let assignment = ConsumerProtocolAssignment(partitions: [TopicPartition("a", 0), TopicPartition("a", 2), TopicPartition("b", 1)])
        let decoded = try ConsumerProtocolAssignment.decode(try assignment.encode())
        #expect(Set(decoded.partitions) == Set(assignment.partitions))
    }

    /// Java's consumer (v0 subscription, as Kafka 2.x sends): version, topics array, null user data.
    @Test func decodesAVersion0SubscriptionFromJava() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        buffer.writeInteger(Int32(1))
        buffer.writeInteger(Int16(6))
        buffer.writeString("orders")
        buffer.writeInteger(Int32(-1))
        let decoded = try ConsumerProtocolSubscription.decode(buffer)
        #expect(decoded.topics == ["orders"] && decoded.userData == nil && decoded.ownedPartitions.isEmpty)
    }

    @Test func truncatedBytesAreAnErrorNotACrash() throws {
        var bytes = try ConsumerProtocolSubscription(topics: ["orders"]).encode()
        bytes.moveWriterIndex(to: bytes.writerIndex - 3)
        #expect(throws: ProtocolError.self) { try ConsumerProtocolSubscription.decode(bytes) }
    }
}

@Suite struct GroupConfigTests {
    static func config() throws -> ConsumerConfig {
        ConsumerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092"))
    }

    @Test func groupPropertiesAreApplied() throws {
        var config = try Self.config()
        try config.apply([
            "group.id": "billing", "session.timeout.ms": "10000", "heartbeat.interval.ms": "1000",
            "enable.auto.commit": "false", "partition.assignment.strategy": "roundrobin",
        ])
        #expect(config.groupId == "billing")
        #expect(config.sessionTimeoutMs == 10_000 && config.heartbeatIntervalMs == 1_000)
        #expect(config.enableAutoCommit == false)
        #expect(config.assignors.map(\.name) == ["roundrobin"])
    }

    @Test func heartbeatMustBeBelowTheSessionTimeout() throws {
        var config = try Self.config()
        config.groupId = "g"
        config.sessionTimeoutMs = 1_000
        config.heartbeatIntervalMs = 1_000
        #expect(throws: ClientError.self) { try config.validateGroupSettings() }
    }

    @Test func groupOperationsWithoutAGroupIdSayWhy() async throws {
        let consumer = Consumer(config: try Self.config())
        await #expect(throws: ClientError.invalidConfig(name: "group.id", value: "", reason: "a consumer group needs a group.id")) {
            try await consumer.subscribe(["t"])
        }
        await consumer.close()
    }
}

@Suite struct IdempotenceTests {
    static let tp = TopicPartition("t", 0)

    static func batch(records: Int, to tp: TopicPartition = tp) throws -> ProducerBatch {
        var acc = RecordAccumulator(settings: RecordAccumulatorTests.settings(batchSize: 1 << 16))
        for i in 0..<records { RecordAccumulatorTests.append(&acc, tp, value: Array("v\(i)".utf8)) }
        let drained = acc.drain(now: RecordAccumulatorTests.t0, flushing: true, leader: { _ in 1 }, canSend: { _ in true })
        return try #require(drained.requests[1]?.first)
    }

    @Test func stampingWritesTheHeaderAndAValidCRC() throws {
        var batch = try Self.batch(records: 3)
        batch.stamp(producerId: 4242, epoch: 3, baseSequence: 17)
        try batch.bytes.withUnsafeReadableBytes { raw in
            let view = try RecordBatch(validating: raw)
            #expect(view.producerId == 4242)
            #expect(view.producerEpoch == 3)
            #expect(view.baseSequence == 17)
            #expect(view.recordCount == 3)
        }
        #expect(try RecordAccumulatorTests.values(of: batch) == [Array("v0".utf8), Array("v1".utf8), Array("v2".utf8)])
    }

    @Test func sequencesFollowRecordCountsPerPartition() throws {
        var state = IdempotenceState()
        #expect(!state.isReady)
        state.received(ProducerIdAndEpoch(producerId: 7, epoch: 0))
        var first = try Self.batch(records: 3)
        state.prepareToSend(&first)
        #expect(first.baseSequence == 0 && state.inFlight == [Self.tp])
        state.completed(first)
        var second = try Self.batch(records: 2)
        state.prepareToSend(&second)
        #expect(second.baseSequence == 3)
        state.completed(second)
        var other = try Self.batch(records: 1, to: TopicPartition("t", 1))
        state.prepareToSend(&other)
        #expect(other.baseSequence == 0)
    }

    @Test func aRetryKeepsItsStampAndANewIdRestartsAtZero() throws {
        var state = IdempotenceState()
        state.received(ProducerIdAndEpoch(producerId: 7, epoch: 0))
        var batch = try Self.batch(records: 5)
        state.prepareToSend(&batch)
        state.completed(batch)
        #expect(state.verdict(for: .notLeaderOrFollower, batch: batch, canRetry: true, message: nil) == .retry)
        state.prepareToSend(&batch)
        #expect(batch.baseSequence == 0 && batch.producerId == 7)
        state.completed(batch)

        #expect(state.verdict(for: .outOfOrderSequenceNumber, batch: batch, canRetry: true, message: nil) == .retryWithNewSequence)
        #expect(state.needsProducerId)
        state.received(ProducerIdAndEpoch(producerId: 8, epoch: 0))
        batch.needsNewSequence = true
        state.prepareToSend(&batch)
        #expect(batch.producerId == 8 && batch.baseSequence == 0)
    }

    @Test func duplicatesAreDeliveredFencingFails() throws {
        var state = IdempotenceState()
        state.received(ProducerIdAndEpoch(producerId: 7, epoch: 0))
        var batch = try Self.batch(records: 1)
        state.prepareToSend(&batch)
        #expect(state.verdict(for: .duplicateSequenceNumber, batch: batch, canRetry: true, message: nil) == .delivered)
        guard case .fail(.producerFenced) = state.verdict(for: .invalidProducerEpoch, batch: batch, canRetry: true, message: nil) else {
            Issue.record("INVALID_PRODUCER_EPOCH must fail the batch")
            return
        }
    }

    @Test func sequencesWrapAsKafkas() {
        #expect(IdempotenceState.incrementSequence(Int32.max - 1, by: 1) == Int32.max)
        #expect(IdempotenceState.incrementSequence(Int32.max, by: 1) == 0)
        #expect(IdempotenceState.incrementSequence(Int32.max - 1, by: 5) == 3)
    }

    @Test func kafkasConflictingSettingsAreRefused() throws {
        var config = ProducerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092"))
        #expect(throws: ClientError.self) { try config.apply(["enable.idempotence": "true", "acks": "1"]) }
        config = ProducerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092"))
        #expect(throws: ClientError.self) { try config.apply(["enable.idempotence": "true", "max.in.flight.requests.per.connection": "6"]) }
        config = ProducerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092"))
        try config.apply(["enable.idempotence": "true", "acks": "all"])
        #expect(config.enableIdempotence)
    }
}

@Suite struct ConsumerGroupCommandFormatTests {
    @Test func describeTableHasKafkasColumnsAndLag() {
        let table = ConsumerGroupCommandFormat.offsetsTable([
            .init(group: "billing", topic: "orders", partition: 0, currentOffset: 42, logEndOffset: 50,
                  consumerId: nil, host: nil, clientId: nil),
            .init(group: "billing", topic: "orders", partition: 1, currentOffset: nil, logEndOffset: 7,
                  consumerId: "c-1", host: "/127.0.0.1", clientId: "c"),
        ])
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "")
        #expect(lines[1].split(separator: " ") == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"])
        #expect(lines[2].split(separator: " ") == ["billing", "orders", "0", "42", "50", "8", "-", "-", "-"])
        #expect(lines[3].split(separator: " ") == ["billing", "orders", "1", "-", "7", "-", "c-1", "/127.0.0.1", "c"])
        // Kafka's widths: %-15s for the group, %-10s for the partition.
        #expect(lines[1].hasPrefix("GROUP           TOPIC           PARTITION  CURRENT-OFFSET  "))
    }

    @Test func resetAndDeleteLines() {
        let table = ConsumerGroupCommandFormat.resetTable(group: "g", offsets: [(TopicPartition("t", 0), 5)])
        #expect(table.split(separator: "\n").map { $0.split(separator: " ") } == [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], ["g", "t", "0", "5"]])
        #expect(ConsumerGroupCommandFormat.deleted(["a", "b"]) == "Deletion of requested consumer groups ('a, b') was successful.")
        #expect(ConsumerGroupCommandFormat.stateNotice(group: "g", state: "Stable") == nil)
        #expect(ConsumerGroupCommandFormat.stateNotice(group: "g", state: "Empty") == "\nConsumer group 'g' has no active members.")
    }
}
