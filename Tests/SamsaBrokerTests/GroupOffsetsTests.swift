import NIOCore
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

/// Committed offsets and group metadata in `__consumer_offsets`: commits and fetches through the wire, the
/// checks a commit goes through, and what a restarted broker reloads.
@Suite struct GroupOffsetsTests {
    @Test func findCoordinatorNamesThisBrokerAndCreatesTheOffsetsTopic() throws {
        let broker = try GroupTestBroker()
        let c = try broker.connect()
        #expect(broker.broker.topics.topic(OffsetsTopic.name) == nil, "created when first needed, not at start")
        let v3 = try c.roundTrip(FindCoordinatorRequest(key: "g", keyType: 0), version: 3)
        #expect(v3.errorCode == .none)
        #expect(v3.nodeId == broker.broker.config.nodeId)
        #expect(v3.host == "127.0.0.1" && v3.port == 9092)
        let v4 = try c.roundTrip(FindCoordinatorRequest(keyType: 0, coordinatorKeys: ["a", "b"]), version: 4)
        #expect(v4.coordinators.map(\.key) == ["a", "b"])
        #expect(v4.coordinators.allSatisfy { $0.errorCode == .none && $0.port == 9092 })
        // offsets.topic.num.partitions=3 in the harness; the topic is compacted.
        let topic = try #require(broker.broker.topics.topic(OffsetsTopic.name))
        #expect(topic.partitionCount == 3)
        #expect(broker.coordinator.isReady)
    }

    @Test func offsetsCommittedByAMemberAndBySimpleCommitsSurviveARestart() throws {
        let broker = try GroupTestBroker()
        let admin = try broker.connect()
        try admin.createTopic("t", partitions: 3)
        try admin.createTopic("u", partitions: 1)
        let (group, members) = try formStableGroup(broker, size: 1)
        let member = members[0]
        let result = try member.connection.commit(
            group, [("t", 0, 10), ("t", 1, 20), ("t", 2, 30)], generation: 1, memberId: member.id, metadata: "m")
        #expect(result["t"] == [0: .none, 1: .none, 2: .none])
        // A simple consumer (no membership, generation -1) commits for a group of its own.
        #expect(try admin.commit("simple", [("u", 0, 7)])["u"] == [0: .none])
        // A later commit replaces the earlier one.
        #expect(try member.connection.commit(group, [("t", 1, 21)], generation: 1, memberId: member.id)["t"] == [1: .none])

        let expected: [String: [Int32: Int64]] = ["t": [0: 10, 1: 21, 2: 30]]
        #expect(try admin.committed(group) == expected)
        #expect(try admin.committed("simple") == ["u": [0: 7]])

        try broker.restart()
        let after = try broker.connect()
        #expect(try after.committed(group) == expected)
        #expect(try after.committed("simple") == ["u": [0: 7]])
        // The single-group form (v1-7) for named partitions: -1 where nothing was committed; the metadata kept.
        let v5 = try after.roundTrip(
            OffsetFetchRequest(groupId: group, topics: [.init(name: "t", partitionIndexes: [0, 2]), .init(name: "u", partitionIndexes: [0])]),
            version: 5)
        #expect(v5.errorCode == .none)
        #expect(v5.topics.map(\.name) == ["t", "u"])
        #expect(v5.topics[0].partitions.map(\.committedOffset) == [10, 30])
        #expect(v5.topics[0].partitions.map(\.metadata) == ["m", "m"])
        #expect(v5.topics[1].partitions.map(\.committedOffset) == [-1])
        // A group nobody committed for has nothing.
        #expect(try after.committed("nobody").isEmpty)
    }

    @Test func theGroupAndItsMembersAreReloadedAndMustHeartbeatWithinTheirSession() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formStableGroup(broker, size: 2)
        try broker.restart()
        #expect(broker.coordinator.state(of: group) == .stable)
        let c = try broker.connect()
        let described = try #require(try c.roundTrip(DescribeGroupsRequest(groups: [group]), version: 5).groups.first)
        #expect(described.groupState == "Stable")
        #expect(described.protocolType == "consumer" && described.protocolData == "range")
        #expect(Set(described.members.map(\.memberId)) == Set(members.map(\.id)))
        #expect(described.members.first { $0.memberId == members[1].id }.map { Array($0.memberAssignment.readableBytesView) } == [1])
        // The members reconnect and carry on in generation 1.
        #expect(try c.heartbeat(group, generation: 1, memberId: members[0].id) == .none)
        #expect(try c.heartbeat(group, generation: 2, memberId: members[0].id) == .illegalGeneration)
        // The other never comes back: its session, counted from the load, ends and the group rebalances.
        broker.advance(ms: 9000)
        #expect(try c.heartbeat(group, generation: 1, memberId: members[0].id) == .none)
        broker.advance(ms: 1000)
        #expect(broker.coordinator.state(of: group) == .preparingRebalance)
        #expect(try c.heartbeat(group, generation: 1, memberId: members[1].id) == .unknownMemberId)
    }

    @Test func commitsAreCheckedAgainstTheGroup() throws {
        let broker = try GroupTestBroker(["offset.metadata.max.bytes": "10"])
        let admin = try broker.connect()
        try admin.createTopic("t", partitions: 2)
        let (group, members) = try formGroup(broker, size: 1)
        let m = members[0]
        // CompletingRebalance: the member has no assignment yet.
        #expect(try m.connection.commit(group, [("t", 0, 1)], generation: 1, memberId: m.id)["t"] == [0: .rebalanceInProgress])
        _ = try m.connection.roundTrip(
            SyncGroupRequest(groupId: group, generationId: 1, memberId: m.id, assignments: [.init(memberId: m.id, assignment: ByteBuffer())]),
            version: 3)
        #expect(try m.connection.commit(group, [("t", 0, 1)], generation: 2, memberId: m.id)["t"] == [0: .illegalGeneration])
        #expect(try m.connection.commit(group, [("t", 0, 1)], generation: 1, memberId: "stranger")["t"] == [0: .unknownMemberId])
        // A commit without membership for a group that has members.
        #expect(try admin.commit(group, [("t", 0, 1)])["t"] == [0: .unknownMemberId])
        // A generation for a group that does not exist.
        #expect(try admin.commit("other", [("t", 0, 1)], generation: 3, memberId: "x")["t"] == [0: .illegalGeneration])
        // Partitions that do not exist, and metadata over offset.metadata.max.bytes, fail alone.
        let mixed = try m.connection.commit(group, [("t", 0, 5), ("t", 7, 5), ("nope", 0, 5)], generation: 1, memberId: m.id)
        #expect(mixed["t"] == [0: .none, 7: .unknownTopicOrPartition])
        #expect(mixed["nope"] == [0: .unknownTopicOrPartition])
        let long = try m.connection.commit(group, [("t", 1, 9)], generation: 1, memberId: m.id, metadata: String(repeating: "x", count: 11))
        #expect(long["t"] == [1: .offsetMetadataTooLarge])
        #expect(try admin.committed(group) == ["t": [0: 5]])
        #expect(try admin.committed("other").isEmpty)
    }

    @Test func offsetDeleteAndDeleteGroupsWriteTombstonesThatSurviveARestart() throws {
        let broker = try GroupTestBroker()
        let admin = try broker.connect()
        try admin.createTopic("t", partitions: 1)
        try admin.createTopic("u", partitions: 1)
        let (group, members) = try formStableGroup(broker, size: 1)
        let m = members[0]
        #expect(try m.connection.commit(group, [("t", 0, 3), ("u", 0, 4)], generation: 1, memberId: m.id)["t"] == [0: .none])
        #expect(try admin.commit("simple", [("t", 0, 8)])["t"] == [0: .none])

        // The group subscribes to "t" (see JoinGroupRequest.consumer): its offsets stay while it runs; "u"'s go.
        let deleted = try admin.roundTrip(
            OffsetDeleteRequest(groupId: group, topics: [.init(name: "t", partitions: [.init(partitionIndex: 0)]), .init(name: "u", partitions: [.init(partitionIndex: 0)])]),
            version: 0)
        #expect(deleted.errorCode == .none)
        #expect(deleted.topics.map { $0.partitions[0].errorCode } == [.groupSubscribedToTopic, .none])
        #expect(try admin.roundTrip(OffsetDeleteRequest(groupId: "nope"), version: 0).errorCode == .groupIdNotFound)

        let refused = try admin.roundTrip(DeleteGroupsRequest(groupsNames: [group, "simple", "nope"]), version: 2)
        #expect(refused.results.map(\.errorCode) == [.nonEmptyGroup, .none, .groupIdNotFound])
        let listed = try admin.roundTrip(ListGroupsRequest(), version: 4)
        #expect(listed.groups.map(\.groupId) == [group])
        #expect(listed.groups.first?.groupState == "Stable")

        try broker.restart()
        let after = try broker.connect()
        #expect(try after.committed(group) == ["t": [0: 3]])
        #expect(try after.committed("simple").isEmpty)
        #expect(try after.roundTrip(ListGroupsRequest(), version: 4).groups.map(\.groupId) == [group])
    }
}

/// InitProducerId for idempotent producers: ids and epoch bumps (KIP-360), and the log fencing the old epoch.
@Suite struct ProducerEpochTests {
    func idempotentBatch(_ value: String, producerId: Int64, epoch: Int16, sequence: Int32) throws -> [UInt8] {
        var builder = RecordBatchBuilder(producerId: producerId, producerEpoch: epoch, baseSequence: sequence)
        builder.append(timestamp: 1_700_000_000_000, key: Array("k".utf8), value: Array(value.utf8))
        return try builder.build()
    }

    @Test func presentingTheCurrentEpochBumpsItAndOlderEpochsAreFenced() throws {
        let broker = try TestBroker()
        let c = try broker.connect()
        try c.createTopic("t")
        let first = try c.roundTrip(InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000), version: 4)
        #expect(first.errorCode == .none && first.producerEpoch == 0)
        let id = first.producerId
        #expect(try c.produce("t", try idempotentBatch("a", producerId: id, epoch: 0, sequence: 0)).errorCode == .none)

        let bumped = try c.roundTrip(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000, producerId: id, producerEpoch: 0), version: 4)
        #expect(bumped.errorCode == .none)
        #expect(bumped.producerId == id && bumped.producerEpoch == 1)
        // A retry of the same bump (its answer was lost) gets the same answer, not a second bump.
        let retried = try c.roundTrip(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000, producerId: id, producerEpoch: 0), version: 4)
        #expect(retried.producerId == id && retried.producerEpoch == 1)

        // The new epoch starts its sequences at 0; once the log has seen it, the old epoch is fenced.
        #expect(try c.produce("t", try idempotentBatch("b", producerId: id, epoch: 1, sequence: 0)).errorCode == .none)
        #expect(try c.produce("t", try idempotentBatch("c", producerId: id, epoch: 0, sequence: 1)).errorCode == .invalidProducerEpoch)

        // Another bump from epoch 1 to 2; then presenting epoch 0 again is fenced (PRODUCER_FENCED from v4,
        // INVALID_PRODUCER_EPOCH before).
        let second = try c.roundTrip(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000, producerId: id, producerEpoch: 1), version: 4)
        #expect(second.producerId == id && second.producerEpoch == 2)
        let fenced = try c.roundTrip(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000, producerId: id, producerEpoch: 0), version: 4)
        #expect(fenced.errorCode == .producerFenced)
        let fencedV3 = try c.roundTrip(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000, producerId: id, producerEpoch: 0), version: 3)
        #expect(fencedV3.errorCode == .invalidProducerEpoch)
        // A negative id or epoch with the other set is malformed.
        let bad = try c.roundTrip(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000, producerId: id, producerEpoch: -1), version: 4)
        #expect(bad.errorCode == .invalidRequest)

        let log = try #require(broker.broker.logManager.log(TopicPartition("t", 0)))
        let stored = try Batches.records(try #require(try log.read(from: 0, maxBytes: 1 << 20).slice).readBytes())
        #expect(stored.map(\.value) == ["a", "b"])
    }

    @Test func anIdNeverHandedOutGetsAFreshIdAtEpochZero() throws {
        let broker = try TestBroker()
        let c = try broker.connect()
        let answer = try c.roundTrip(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60000, producerId: 999_999, producerEpoch: 3), version: 4)
        #expect(answer.errorCode == .none)
        #expect(answer.producerId != 999_999 && answer.producerEpoch == 0)
    }
}
