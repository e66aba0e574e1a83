import NIOCore
import SamsaProtocol

/// DescribeGroups (key 15): each group's state, protocol and members (metadata while Stable, assignments always).
/// A group the broker does not have is described as Dead, as Kafka does.
struct DescribeGroupsHandler: ApiHandler {
    typealias Request = DescribeGroupsRequest
    let broker: Broker

    /// READ, DELETE and DESCRIBE (AclOperation codes 3, 6, 8): what anyone may do to a group without an authorizer.
    static let groupOperations: Int32 = (1 << 3) | (1 << 6) | (1 << 8)

    func handle(_ request: DescribeGroupsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let operations = context.apiVersion >= 3 && request.includeAuthorizedOperations ? Self.groupOperations : Int32.min
        let groups = broker.groupCoordinator.describeGroups(request.groups, authorizedOperations: operations)
        return context.reply(DescribeGroupsResponse(throttleTimeMs: 0, groups: groups))
    }
}
