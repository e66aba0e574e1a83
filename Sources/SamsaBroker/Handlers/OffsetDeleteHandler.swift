import NIOCore
import SamsaProtocol

/// OffsetDelete (key 47): removes a group's committed offsets for topics it does not subscribe to
/// (GROUP_SUBSCRIBED_TO_TOPIC otherwise; NON_EMPTY_GROUP for a running group of another protocol type).
struct OffsetDeleteHandler: ApiHandler {
    typealias Request = OffsetDeleteRequest
    let broker: Broker

    func handle(_ request: OffsetDeleteRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        context.reply(broker.groupCoordinator.deleteOffsets(request))
    }
}
