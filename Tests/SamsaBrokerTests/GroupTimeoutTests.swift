import NIOCore
import SamsaProtocol
import Testing

@testable import SamsaBroker

/// Session, rebalance and sync timeouts, driven by moving the event loop's clock by hand: nothing happens until
/// the test moves time, and it happens exactly when the timeout says.
@Suite struct GroupTimeoutTests {
    @Test func aMemberThatStopsHeartbeatingIsRemovedAfterItsSessionTimeout() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formStableGroup(broker, size: 2)
        let (a, b) = (members[0], members[1])
        // The join phase completed at t=200 (the 100 ms initial delay, extended once because B joined during it),
        // which started both 10 s sessions; a SyncGroup in Stable does not renew one. formStableGroup left the
        // clock at t=1000. A keeps heartbeating, B does not.
        broker.advance(ms: 6000)
        #expect(try a.connection.heartbeat(group, generation: 1, memberId: a.id) == .none)
        broker.advance(ms: 3199)
        #expect(broker.coordinator.state(of: group) == .stable, "B's session has 1 ms left")
        broker.advance(ms: 1)
        #expect(broker.coordinator.state(of: group) == .preparingRebalance)
        #expect(try a.connection.heartbeat(group, generation: 1, memberId: a.id) == .rebalanceInProgress)
        #expect(try b.connection.heartbeat(group, generation: 1, memberId: b.id) == .unknownMemberId)
        try a.connection.send(JoinGroupRequest.consumer(group, memberId: a.id), version: 5)
        let rejoined = try #require(try a.connection.receive(JoinGroupResponse.self))
        #expect(rejoined.generationId == 2)
        #expect(rejoined.members.map(\.memberId) == [a.id])
    }

    @Test func membersThatDoNotRejoinAreDroppedWhenTheRebalanceTimeoutPasses() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formStableGroup(broker, size: 2)
        let (a, b) = (members[0], members[1])
        // The leader rejoins: a rebalance that waits up to the rebalance timeout (30 s) for B.
        try a.connection.send(JoinGroupRequest.consumer(group, memberId: a.id), version: 5)
        for _ in 0..<5 {
            broker.advance(ms: 5000)
            // B stays alive but ignores the rebalance.
            #expect(try b.connection.heartbeat(group, generation: 1, memberId: b.id) == .rebalanceInProgress)
        }
        broker.advance(ms: 4999)
        #expect(!a.connection.hasResponse)
        broker.advance(ms: 1)
        let joined = try #require(try a.connection.receive(JoinGroupResponse.self))
        #expect(joined.generationId == 2)
        #expect(joined.members.map(\.memberId) == [a.id])
        #expect(try b.connection.heartbeat(group, generation: 2, memberId: b.id) == .unknownMemberId)
    }

    @Test func membersThatNeverSendSyncGroupAreRemovedAndTheGroupRebalances() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formGroup(broker, size: 2)
        let (a, b) = (members[0], members[1])
        let sync = try a.connection.roundTrip(
            SyncGroupRequest(groupId: group, generationId: 1, memberId: a.id, assignments: [.init(memberId: a.id, assignment: ByteBuffer(bytes: [1]))]),
            version: 3)
        #expect(sync.errorCode == .none)
        #expect(broker.coordinator.state(of: group) == .stable)
        // Both heartbeat (their sessions live) but B never syncs: the sync timer started when the join phase
        // completed (t=200) runs out after the rebalance timeout (30 s), at t=30200, and B is removed.
        for _ in 0..<5 {
            broker.advance(ms: 5000)
            #expect(try a.connection.heartbeat(group, generation: 1, memberId: a.id) == .none)
            #expect(try b.connection.heartbeat(group, generation: 1, memberId: b.id) == .none)
        }
        broker.advance(ms: 4199)
        #expect(broker.coordinator.state(of: group) == .stable)
        broker.advance(ms: 1)
        #expect(broker.coordinator.state(of: group) == .preparingRebalance)
        #expect(try b.connection.heartbeat(group, generation: 1, memberId: b.id) == .unknownMemberId)
        #expect(try a.connection.heartbeat(group, generation: 1, memberId: a.id) == .rebalanceInProgress)
    }

    @Test func aPendingMemberIdHoldsTheRebalanceOnlyUntilItsSessionTimeout() throws {
        let broker = try GroupTestBroker()
        let (group, members) = try formStableGroup(broker, size: 1)
        let a = members[0]
        // A new client is given a member id but never comes back with it.
        let newcomer = try broker.connect(clientId: "late")
        let pending = try newcomer.roundTrip(JoinGroupRequest.consumer(group, sessionTimeoutMs: 8000), version: 5)
        #expect(pending.errorCode == .memberIdRequired)
        // The leader rejoins: the rebalance waits for the pending member...
        try a.connection.send(JoinGroupRequest.consumer(group, memberId: a.id), version: 5)
        broker.advance(ms: 7999)
        #expect(!a.connection.hasResponse)
        // ...until the pending member's session timeout, well before the rebalance timeout.
        broker.advance(ms: 1)
        let joined = try #require(try a.connection.receive(JoinGroupResponse.self))
        #expect(joined.generationId == 2)
        #expect(joined.members.map(\.memberId) == [a.id])
    }

    @Test func aCommitKeepsAMemberSessionAliveLikeAHeartbeat() throws {
        let broker = try GroupTestBroker()
        let c = try broker.connect()
        try c.createTopic("t", partitions: 1)
        let (group, members) = try formStableGroup(broker, size: 1)
        let a = members[0]
        for i in 0..<4 {
            broker.advance(ms: 8000)
            #expect(try a.connection.commit(group, [("t", 0, Int64(i))], generation: 1, memberId: a.id)["t"]?[0] == ErrorCode.none)
        }
        #expect(broker.coordinator.state(of: group) == .stable)
        broker.advance(ms: 10_000)
        #expect(broker.coordinator.state(of: group) == .empty, "no heartbeat, no commit: the member is gone")
    }

    @Test func closingTheBrokerAnswersParkedRequestsAndStopsTimers() throws {
        let broker = try GroupTestBroker()
        let c = try broker.connect()
        _ = try c.beginJoin("g")
        #expect(!c.hasResponse)
        broker.coordinator.close()
        let answer = try #require(try c.receive(JoinGroupResponse.self))
        #expect(answer.errorCode == .notCoordinator)
        // No timer fires after the close: the group stays as it was.
        broker.advance(ms: 600_000)
        #expect(broker.coordinator.state(of: "g") == .preparingRebalance)
    }
}
