import NIOCore
import SamsaProtocol

/// ListGroups (key 16): every group with its protocol type, and (v4) its state; v4 may filter by state names.
struct ListGroupsHandler: ApiHandler {
    typealias Request = ListGroupsRequest
    let broker: Broker

    func handle(_ request: ListGroupsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let groups = broker.groupCoordinator.listGroups(states: context.apiVersion >= 4 ? request.statesFilter : [])
        return context.reply(ListGroupsResponse(throttleTimeMs: 0, errorCode: .none, groups: groups))
    }
}
