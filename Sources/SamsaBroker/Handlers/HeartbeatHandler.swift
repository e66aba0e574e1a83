import NIOCore
import SamsaProtocol

/// Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
struct HeartbeatHandler: ApiHandler {
    typealias Request = HeartbeatRequest
    let broker: Broker

    func handle(_ request: HeartbeatRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        context.reply(HeartbeatResponse(throttleTimeMs: 0, errorCode: broker.groupCoordinator.heartbeat(request)))
    }
}
