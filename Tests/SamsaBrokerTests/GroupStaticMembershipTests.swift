import NIOCore
import SamsaProtocol
import Testing

@testable import SamsaBroker

/// Static membership (group.instance.id, KIP-345): an instance keeps its place and assignment across restarts
/// without a rebalance, and an older incarnation is fenced.
@Suite struct GroupStaticMembershipTests {
    /// A stable group: static member "s1" (the leader) and a dynamic member, assigned [1] and [2].
    func stableStaticGroup(_ broker: GroupTestBroker) throws -> (s: TestMember, d: TestMember) {
        let s = try broker.connect(clientId: "s")
        let d = try broker.connect(clientId: "d")
        try s.send(JoinGroupRequest.consumer("g", instanceId: "s1"), version: 5)
        #expect(!s.hasResponse, "a static member needs no MEMBER_ID_REQUIRED round")
        let dynamicId = try d.beginJoin("g")
        broker.advance(ms: 1000)
        let joinS = try #require(try s.receive(JoinGroupResponse.self))
        _ = try #require(try d.receive(JoinGroupResponse.self))
        #expect(joinS.memberId.hasPrefix("s1-"))
        #expect(joinS.leader == joinS.memberId)
        #expect(joinS.members.first { $0.memberId == joinS.memberId }?.groupInstanceId == "s1")
        let sync = try s.roundTrip(
            SyncGroupRequest(
                groupId: "g", generationId: 1, memberId: joinS.memberId, groupInstanceId: "s1",
                assignments: [.init(memberId: joinS.memberId, assignment: ByteBuffer(bytes: [1])), .init(memberId: dynamicId, assignment: ByteBuffer(bytes: [2]))]),
            version: 5)
        #expect(sync.errorCode == .none)
        _ = try d.roundTrip(SyncGroupRequest(groupId: "g", generationId: 1, memberId: dynamicId), version: 5)
        #expect(broker.coordinator.state(of: "g") == .stable)
        return (TestMember(connection: s, id: joinS.memberId), TestMember(connection: d, id: dynamicId))
    }

    @Test func aRestartedStaticInstanceTakesItsPlaceWithoutARebalanceAndFencesTheOldOne() throws {
        let broker = try GroupTestBroker()
        let (s, d) = try stableStaticGroup(broker)
        // The instance restarts: no member id, same instance id and protocols.
        let restarted = try broker.connect(clientId: "s")
        let join = try restarted.roundTrip(JoinGroupRequest.consumer("g", instanceId: "s1"), version: 5)
        #expect(join.errorCode == .none)
        #expect(join.memberId != s.id && join.memberId.hasPrefix("s1-"))
        #expect(join.generationId == 1, "no new generation")
        #expect(broker.coordinator.state(of: "g") == .stable)
        // Its old assignment comes back to it.
        let sync = try restarted.roundTrip(
            SyncGroupRequest(groupId: "g", generationId: 1, memberId: join.memberId, groupInstanceId: "s1"), version: 5)
        #expect(Array(sync.assignment.readableBytesView) == [1])
        // The old incarnation is fenced; the other member is undisturbed.
        #expect(try s.connection.heartbeat("g", generation: 1, memberId: s.id, instanceId: "s1") == .fencedInstanceId)
        #expect(try restarted.heartbeat("g", generation: 1, memberId: join.memberId, instanceId: "s1") == .none)
        #expect(try d.connection.heartbeat("g", generation: 1, memberId: d.id) == .none)
        let describe = try d.connection.roundTrip(DescribeGroupsRequest(groups: ["g"]), version: 4)
        #expect(Set(try #require(describe.groups.first).members.map(\.memberId)) == [join.memberId, d.id])
    }

    @Test func fromV9TheLeaderRejoiningStaticallyIsToldToSkipTheAssignment() throws {
        let broker = try GroupTestBroker()
        _ = try stableStaticGroup(broker)
        let restarted = try broker.connect(clientId: "s")
        let join = try restarted.roundTrip(JoinGroupRequest.consumer("g", instanceId: "s1"), version: 9)
        #expect(join.errorCode == .none)
        #expect(join.skipAssignment)
        #expect(join.leader == join.memberId)
        #expect(join.members.count == 2)
    }

    @Test func aParkedJoinOfTheOldIncarnationIsFenced() throws {
        let broker = try GroupTestBroker()
        let (s, d) = try stableStaticGroup(broker)
        // The old incarnation rejoins with a new subscription and waits for d...
        try s.connection.send(
            JoinGroupRequest.consumer("g", memberId: s.id, instanceId: "s1", protocols: [("range", subscription(["t", "u"]))]), version: 5)
        #expect(broker.coordinator.state(of: "g") == .preparingRebalance)
        #expect(!s.connection.hasResponse)
        // ...when a new incarnation of the same instance joins: the parked request is fenced at once.
        let restarted = try broker.connect(clientId: "s")
        try restarted.send(JoinGroupRequest.consumer("g", instanceId: "s1"), version: 5)
        let fenced = try #require(try s.connection.receive(JoinGroupResponse.self))
        #expect(fenced.errorCode == .fencedInstanceId)
        #expect(!restarted.hasResponse)
        // The rebalance completes when d rejoins, with the new incarnation in the old one's place.
        try d.connection.send(JoinGroupRequest.consumer("g", memberId: d.id), version: 5)
        let joined = try #require(try restarted.receive(JoinGroupResponse.self))
        #expect(joined.errorCode == .none)
        #expect(joined.generationId == 2)
        #expect(joined.leader == joined.memberId)
        #expect(Set(joined.members.map(\.memberId)) == [joined.memberId, d.id])
        #expect(try #require(try d.connection.receive(JoinGroupResponse.self)).generationId == 2)
    }

    @Test func aStaticMemberThatDoesNotRejoinKeepsItsPlaceThroughARebalance() throws {
        let broker = try GroupTestBroker()
        let (s, d) = try stableStaticGroup(broker)
        // The dynamic member changes its subscription; the static member does not rejoin (it is "restarting").
        try d.connection.send(JoinGroupRequest.consumer("g", memberId: d.id, protocols: [("range", subscription(["t", "u"]))]), version: 5)
        for _ in 0..<3 {
            broker.advance(ms: 9000)
            #expect(try s.connection.heartbeat("g", generation: 1, memberId: s.id, instanceId: "s1") == .rebalanceInProgress)
        }
        broker.advance(ms: 3000)
        // After the rebalance timeout, dynamic members that did not rejoin would be gone; the static one stays.
        let joined = try #require(try d.connection.receive(JoinGroupResponse.self))
        #expect(joined.generationId == 2)
        #expect(joined.leader == d.id, "the leader that did not rejoin hands over to one that did")
        #expect(Set(joined.members.map(\.memberId)) == [s.id, d.id])
    }

    @Test func leaveGroupByInstanceIdAloneRemovesTheStaticMember() throws {
        let broker = try GroupTestBroker()
        let (s, d) = try stableStaticGroup(broker)
        let leave = try d.connection.roundTrip(
            LeaveGroupRequest(groupId: "g", members: [.init(memberId: "", groupInstanceId: "s1"), .init(memberId: "", groupInstanceId: "nobody")]),
            version: 4)
        #expect(leave.members.map(\.errorCode) == [.none, .unknownMemberId])
        #expect(try s.connection.heartbeat("g", generation: 1, memberId: s.id, instanceId: "s1") == .unknownMemberId)
        #expect(broker.coordinator.state(of: "g") == .preparingRebalance)
    }

    @Test func aMemberIdThatDoesNotMatchTheInstanceIsFenced() throws {
        let broker = try GroupTestBroker()
        let (s, d) = try stableStaticGroup(broker)
        #expect(try d.connection.heartbeat("g", generation: 1, memberId: d.id, instanceId: "s1") == .fencedInstanceId)
        let leave = try d.connection.roundTrip(
            LeaveGroupRequest(groupId: "g", members: [.init(memberId: d.id, groupInstanceId: "s1")]), version: 3)
        #expect(leave.members.map(\.errorCode) == [.fencedInstanceId])
        #expect(try s.connection.heartbeat("g", generation: 1, memberId: s.id, instanceId: "s1") == .none)
        #expect(broker.coordinator.state(of: "g") == .stable)
    }
}
