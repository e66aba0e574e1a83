import NIOCore
import SamsaProtocol
import Testing

@testable import SamsaBroker

/// The record a new group is written with before its first rebalance completes.
@Suite struct GroupNewGroupRecordTests {
    @Test func aGroupRestartedBeforeItsFirstRebalanceCompletesIsEmptyAndTakesNewMembers() throws {
        let broker = try GroupTestBroker()
        let old = try broker.connect(clientId: "old")
        // JoinGroup v3 has no MEMBER_ID_REQUIRED round: the member is added at once, and its JoinGroup waits for
        // the initial rebalance delay. The broker restarts before that ends.
        try old.send(JoinGroupRequest.consumer("g"), version: 3)
        #expect(broker.coordinator.state(of: "g") == .preparingRebalance)
        try broker.restart()

        // The group comes back empty, as Kafka writes it (no member without a generation or a protocol)...
        #expect(broker.coordinator.state(of: "g") == .empty)
        let c = try broker.connect(clientId: "new")
        let described = try #require(try c.roundTrip(DescribeGroupsRequest(groups: ["g"]), version: 5).groups.first)
        #expect(described.groupState == "Empty" && described.members.isEmpty)
        // ...and a new member forms its first generation at once, instead of INCONSISTENT_GROUP_PROTOCOL until
        // the session of the member that never rejoined ends.
        try c.send(JoinGroupRequest.consumer("g"), version: 3)
        broker.advance(ms: 1000)
        let joined = try #require(try c.receive(JoinGroupResponse.self))
        #expect(joined.errorCode == .none)
        #expect(joined.generationId == 1)
        #expect(joined.protocolName == "range")
        #expect(joined.members.map(\.memberId) == [joined.memberId])
    }
}
