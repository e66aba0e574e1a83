import NIOCore
import SamsaProtocol
import Testing

@testable import SamsaBroker

/// The classic group protocol through the wire: joins, the rebalance state machine, assignments, heartbeats,
/// leaving, and the errors for bad input.
@Suite struct GroupMembershipTests {
    @Test func newDynamicMemberIsAskedToRejoinWithAnIdFromV4ButNotBefore() throws {
        let broker = try GroupTestBroker()
        let c = try broker.connect(clientId: "app")
        let v5 = try c.roundTrip(JoinGroupRequest.consumer("g"), version: 5)
        #expect(v5.errorCode == .memberIdRequired)
        #expect(v5.memberId.hasPrefix("app-") && v5.memberId.count == "app-".count + 36)
        #expect(broker.coordinator.state(of: "g") == .empty)

        // v3 adds the member at once; the join completes after the initial delay: generation 1, it leads.
        try c.send(JoinGroupRequest.consumer("h"), version: 3)
        #expect(broker.coordinator.state(of: "h") == .preparingRebalance)
        broker.advance(ms: 100)
        let v3 = try #require(try c.receive(JoinGroupResponse.self))
        #expect(v3.errorCode == .none)
        #expect(v3.generationId == 1)
        #expect(v3.leader == v3.memberId)
        #expect(v3.members.map(\.memberId) == [v3.memberId])
        #expect(broker.coordinator.state(of: "h") == .completingRebalance)
    }

    @Test func firstRebalanceWaitsForTheInitialDelayAndIsExtendedByEachNewMember() throws {
        let broker = try GroupTestBroker(["group.initial.rebalance.delay.ms": "3000"])
        let a = try broker.connect(clientId: "a")
        let b = try broker.connect(clientId: "b")
        let idA = try a.beginJoin("g")
        #expect(broker.coordinator.state(of: "g") == .preparingRebalance)
        broker.advance(ms: 2000)
        #expect(!a.hasResponse)
        let idB = try b.beginJoin("g")
        broker.advance(ms: 2000)
        // B joined during the delay: the join phase is extended by another 3000 ms, to t=6000.
        #expect(!a.hasResponse && !b.hasResponse)
        broker.advance(ms: 2000)
        let joinA = try #require(try a.receive(JoinGroupResponse.self))
        let joinB = try #require(try b.receive(JoinGroupResponse.self))
        #expect(joinA.generationId == 1 && joinB.generationId == 1)
        #expect(joinA.leader == idA && joinB.leader == idA)
        #expect(Set(joinA.members.map(\.memberId)) == [idA, idB])
        #expect(joinB.members.isEmpty, "only the leader gets the member list")
        #expect(joinA.protocolName == "range")
    }

    @Test func leaderAssignmentReachesEveryMemberUntouchedAndTheGroupIsStable() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formGroup(broker, size: 3)
        // Followers sync first: their answers wait for the leader's.
        for member in members.dropFirst() {
            try member.connection.send(
                SyncGroupRequest(groupId: group, generationId: 1, memberId: member.id, protocolType: "consumer", protocolName: "range"),
                version: 5)
            #expect(!member.connection.hasResponse)
        }
        #expect(broker.coordinator.state(of: group) == .completingRebalance)
        // Assignment bytes the broker does not parse: one is not even a valid consumer assignment.
        let bytes: [String: [UInt8]] = [
            members[0].id: [0, 1, 2, 3], members[1].id: Array(repeating: 0xFF, count: 300), members[2].id: [],
        ]
        let leader = try members[0].connection.roundTrip(
            SyncGroupRequest(
                groupId: group, generationId: 1, memberId: members[0].id, protocolType: "consumer", protocolName: "range",
                assignments: members.map { .init(memberId: $0.id, assignment: ByteBuffer(bytes: bytes[$0.id]!)) }),
            version: 5)
        #expect(leader.errorCode == .none)
        #expect(Array(leader.assignment.readableBytesView) == bytes[members[0].id]!)
        #expect(leader.protocolName == "range" && leader.protocolType == "consumer")
        for member in members.dropFirst() {
            let answer = try #require(try member.connection.receive(SyncGroupResponse.self))
            #expect(answer.errorCode == .none)
            #expect(Array(answer.assignment.readableBytesView) == bytes[member.id]!)
        }
        #expect(broker.coordinator.state(of: group) == .stable)
        // A late SyncGroup in Stable gets the member's assignment at once.
        let again = try members[1].connection.roundTrip(
            SyncGroupRequest(groupId: group, generationId: 1, memberId: members[1].id), version: 3)
        #expect(Array(again.assignment.readableBytesView) == bytes[members[1].id]!)
    }

    @Test func heartbeatsCheckMemberGenerationAndState() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formStableGroup(broker, size: 2)
        let a = members[0]
        #expect(try a.connection.heartbeat(group, generation: 1, memberId: a.id) == .none)
        #expect(try a.connection.heartbeat(group, generation: 7, memberId: a.id) == .illegalGeneration)
        #expect(try a.connection.heartbeat(group, generation: 1, memberId: "stranger") == .unknownMemberId)
        #expect(try a.connection.heartbeat("no-such-group", generation: 1, memberId: a.id) == .unknownMemberId)
        #expect(try a.connection.heartbeat("", generation: 1, memberId: a.id) == .invalidGroupId)
        // The leader rejoining starts a rebalance: the other member learns it from its heartbeat.
        try a.connection.send(JoinGroupRequest.consumer(group, memberId: a.id), version: 5)
        #expect(broker.coordinator.state(of: group) == .preparingRebalance)
        #expect(try members[1].connection.heartbeat(group, generation: 1, memberId: members[1].id) == .rebalanceInProgress)
        try members[1].connection.send(JoinGroupRequest.consumer(group, memberId: members[1].id), version: 5)
        let joined = try #require(try a.connection.receive(JoinGroupResponse.self))
        #expect(joined.generationId == 2)
        #expect(try #require(try members[1].connection.receive(JoinGroupResponse.self)).generationId == 2)
    }

    @Test func syncGroupErrors() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formGroup(broker, size: 1)
        let c = members[0].connection
        let id = members[0].id
        #expect(try c.roundTrip(SyncGroupRequest(groupId: group, generationId: 2, memberId: id), version: 5).errorCode == .illegalGeneration)
        #expect(try c.roundTrip(SyncGroupRequest(groupId: group, generationId: 1, memberId: "x"), version: 5).errorCode == .unknownMemberId)
        #expect(try c.roundTrip(SyncGroupRequest(groupId: "nope", generationId: 1, memberId: id), version: 5).errorCode == .unknownMemberId)
        #expect(
            try c.roundTrip(
                SyncGroupRequest(groupId: group, generationId: 1, memberId: id, protocolType: "connect"), version: 5
            ).errorCode == .inconsistentGroupProtocol)
        #expect(
            try c.roundTrip(
                SyncGroupRequest(groupId: group, generationId: 1, memberId: id, protocolName: "roundrobin"), version: 5
            ).errorCode == .inconsistentGroupProtocol)
        #expect(try c.roundTrip(SyncGroupRequest(groupId: "", generationId: 1, memberId: id), version: 5).errorCode == .invalidGroupId)
    }

    @Test func joinGroupRefusesBadInputWithKafkasCodes() throws {
        let broker = try GroupTestBroker(["group.min.session.timeout.ms": "6000", "group.max.session.timeout.ms": "60000"])
        let c = try broker.connect()
        #expect(try c.roundTrip(JoinGroupRequest.consumer(""), version: 5).errorCode == .invalidGroupId)
        #expect(try c.roundTrip(JoinGroupRequest.consumer("g", sessionTimeoutMs: 5999), version: 5).errorCode == .invalidSessionTimeout)
        #expect(try c.roundTrip(JoinGroupRequest.consumer("g", sessionTimeoutMs: 60_001), version: 5).errorCode == .invalidSessionTimeout)
        // No protocol type, or no protocols: nothing to agree on.
        #expect(try c.roundTrip(JoinGroupRequest.consumer("g", protocolType: ""), version: 3).errorCode == .inconsistentGroupProtocol)
        #expect(try c.roundTrip(JoinGroupRequest.consumer("g", protocols: []), version: 3).errorCode == .inconsistentGroupProtocol)
        // A member id the group does not know.
        #expect(try c.roundTrip(JoinGroupRequest.consumer("g", memberId: "ghost"), version: 5).errorCode == .unknownMemberId)

        try c.send(JoinGroupRequest.consumer("g", sessionTimeoutMs: 10_000), version: 3)
        broker.advance(ms: 100)
        #expect(try #require(try c.receive(JoinGroupResponse.self)).errorCode == .none)
        // Once the group has a type, another type, or protocols no member shares, are inconsistent.
        let other = try broker.connect()
        let wrongType = try other.roundTrip(JoinGroupRequest.consumer("g", protocolType: "connect"), version: 3)
        #expect(wrongType.errorCode == .inconsistentGroupProtocol)
        #expect(wrongType.memberId == "")
        let noCommonProtocol = try other.roundTrip(
            JoinGroupRequest.consumer("g", protocols: [("cooperative-sticky", subscription(["t"]))]), version: 3)
        #expect(noCommonProtocol.errorCode == .inconsistentGroupProtocol)
        #expect(broker.coordinator.state(of: "g") == .completingRebalance, "refused members do not disturb the group")
    }

    @Test func theProtocolMostMembersPreferAmongThoseAllSupportIsSelected() throws {
        let broker = try GroupTestBroker(["group.initial.rebalance.delay.ms": "100"])
        let offers: [[(String, ByteBuffer)]] = [
            [("range", subscription(["t"])), ("roundrobin", subscription(["t"]))],
            [("sticky", subscription(["t"])), ("roundrobin", subscription(["t"])), ("range", subscription(["t"]))],
            [("roundrobin", subscription(["t"])), ("range", subscription(["t"]))],
        ]
        var connections: [GroupConnection] = []
        for offer in offers {
            let c = try broker.connect()
            try c.send(JoinGroupRequest.consumer("g", protocols: offer), version: 3)
            connections.append(c)
        }
        broker.advance(ms: 1000)
        // "sticky" is not offered by all; of the others, two members prefer roundrobin.
        let answers = try connections.map { try #require(try $0.receive(JoinGroupResponse.self)) }
        #expect(answers.allSatisfy { $0.protocolName == "roundrobin" })
        let leader = try #require(answers.first { !$0.members.isEmpty })
        #expect(leader.members.count == 3)
    }

    @Test func leaveGroupRebalancesTheRestAndV3LeavesSeveralAtOnce() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formStableGroup(broker, size: 3)
        let leave = try members[2].connection.roundTrip(LeaveGroupRequest(groupId: group, memberId: members[2].id), version: 1)
        #expect(leave.errorCode == .none)
        #expect(broker.coordinator.state(of: group) == .preparingRebalance)
        #expect(try members[0].connection.heartbeat(group, generation: 1, memberId: members[0].id) == .rebalanceInProgress)
        for m in members.prefix(2) { try m.connection.send(JoinGroupRequest.consumer(group, memberId: m.id), version: 5) }
        let rejoined = try #require(try members[0].connection.receive(JoinGroupResponse.self))
        #expect(rejoined.generationId == 2)
        #expect(Set(rejoined.members.map(\.memberId)) == Set(members.prefix(2).map(\.id)))
        _ = try members[1].connection.receive(JoinGroupResponse.self)

        let batch = try members[0].connection.roundTrip(
            LeaveGroupRequest(
                groupId: group,
                members: [.init(memberId: members[0].id), .init(memberId: members[1].id), .init(memberId: "unknown")]),
            version: 3)
        #expect(batch.errorCode == .none)
        #expect(batch.members.map(\.errorCode) == [.none, .none, .unknownMemberId])
        #expect(broker.coordinator.state(of: group) == .empty)
        let missing = try members[0].connection.roundTrip(LeaveGroupRequest(groupId: "nope", memberId: "m"), version: 2)
        #expect(missing.errorCode == .unknownMemberId)
    }

    @Test func aStableFollowerRejoiningWithTheSameMetadataGetsTheCurrentGeneration() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formStableGroup(broker, size: 2)
        let follower = members[1]
        let again = try follower.connection.roundTrip(JoinGroupRequest.consumer(group, memberId: follower.id), version: 5)
        #expect(again.errorCode == .none)
        #expect(again.generationId == 1)
        #expect(broker.coordinator.state(of: group) == .stable)
        // Different metadata from the follower: a rebalance.
        try follower.connection.send(
            JoinGroupRequest.consumer(group, memberId: follower.id, protocols: [("range", subscription(["t", "u"]))]), version: 5)
        #expect(broker.coordinator.state(of: group) == .preparingRebalance)
    }
}

// MARK: Forming groups

struct TestMember {
    let connection: GroupConnection
    let id: String
}

/// `size` members joined (v5, dynamic) to a new group: generation 1, CompletingRebalance; the first is the leader.
func formGroup(_ broker: GroupTestBroker, size: Int, group: String = "g") throws -> (String, [TestMember]) {
    var members: [TestMember] = []
    for i in 0..<size {
        let c = try broker.connect(clientId: "m\(i)")
        let first = try c.roundTrip(JoinGroupRequest.consumer(group), version: 5)
        try #require(first.errorCode == .memberIdRequired)
        members.append(TestMember(connection: c, id: first.memberId))
    }
    for m in members {
        try m.connection.send(JoinGroupRequest.consumer(group, memberId: m.id), version: 5)
    }
    // Past the initial delay (100 ms, extended once by the members that joined after the first).
    broker.advance(ms: 1000)
    for (i, m) in members.enumerated() {
        let joined = try #require(try m.connection.receive(JoinGroupResponse.self))
        try #require(joined.errorCode == .none)
        #expect(joined.generationId == 1)
        #expect(joined.leader == members[0].id)
        #expect(joined.members.count == (i == 0 ? size : 0))
    }
    return (group, members)
}

/// `size` members in a Stable group at generation 1, each assigned the bytes of its index.
func formStableGroup(_ broker: GroupTestBroker, size: Int, group: String = "g") throws -> (String, [TestMember]) {
    let (group, members) = try formGroup(broker, size: size, group: group)
    let sync = try members[0].connection.roundTrip(
        SyncGroupRequest(
            groupId: group, generationId: 1, memberId: members[0].id,
            assignments: members.enumerated().map { .init(memberId: $1.id, assignment: ByteBuffer(bytes: [UInt8($0)])) }),
        version: 3)
    try #require(sync.errorCode == .none)
    for (i, m) in members.enumerated().dropFirst() {
        let answer = try m.connection.roundTrip(SyncGroupRequest(groupId: group, generationId: 1, memberId: m.id), version: 3)
        #expect(Array(answer.assignment.readableBytesView) == [UInt8(i)])
    }
    #expect(broker.coordinator.state(of: group) == .stable)
    return (group, members)
}
