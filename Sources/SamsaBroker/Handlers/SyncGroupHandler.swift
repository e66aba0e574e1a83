import NIOCore
import SamsaProtocol

/// SyncGroup (key 14): the leader sends the assignment, every member receives its own bytes (untouched); a
/// follower's request waits for the leader's.
struct SyncGroupHandler: ApiHandler {
    typealias Request = SyncGroupRequest
    let broker: Broker

    func handle(_ request: SyncGroupRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let encoder = context.encoder
        let promise = context.eventLoop.makePromise(of: SyncGroupResponse.self)
        broker.groupCoordinator.sync(request, promise: promise)
        return promise.futureResult.flatMapThrowing { try encoder.encode($0) }
    }
}
