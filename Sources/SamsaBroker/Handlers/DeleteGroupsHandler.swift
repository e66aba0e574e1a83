import NIOCore
import SamsaProtocol

/// DeleteGroups (key 42): deletes empty groups and their committed offsets (NON_EMPTY_GROUP for groups with
/// members, GROUP_ID_NOT_FOUND for unknown ones).
struct DeleteGroupsHandler: ApiHandler {
    typealias Request = DeleteGroupsRequest
    let broker: Broker

    func handle(_ request: DeleteGroupsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        context.reply(DeleteGroupsResponse(throttleTimeMs: 0, results: broker.groupCoordinator.deleteGroups(request.groupsNames)))
    }
}
