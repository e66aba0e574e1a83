import NIOCore
import SamsaProtocol

/// LeaveGroup (key 13): members leave their group, which rebalances without them. v0-2 name one member by id
/// and get its result as the top-level error; v3+ name several (static members by instance id alone) and get one
/// result each.
struct LeaveGroupHandler: ApiHandler {
    typealias Request = LeaveGroupRequest
    let broker: Broker

    func handle(_ request: LeaveGroupRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let version = context.apiVersion
        let members = version >= 3 ? request.members : [LeaveGroupRequest.MemberIdentity(memberId: request.memberId)]
        var response = broker.groupCoordinator.leave(groupId: request.groupId, members: members)
        if version < 3 {
            let memberError = response.members.first { $0.errorCode != .none }?.errorCode ?? .none
            response = LeaveGroupResponse(throttleTimeMs: 0, errorCode: response.errorCode != .none ? response.errorCode : memberError)
        }
        return context.reply(response)
    }
}
