import NIOCore
import SamsaProtocol

/// JoinGroup (key 11): joins a member to a classic group; the answer waits until the join phase of the
/// rebalance completes (or comes at once: MEMBER_ID_REQUIRED for a new dynamic member from v4, errors, a follower
/// rejoining a stable group). Creates `__consumer_offsets` first if it does not exist yet.
struct JoinGroupHandler: ApiHandler {
    typealias Request = JoinGroupRequest
    let broker: Broker

    func handle(_ request: JoinGroupRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let coordinator = broker.groupCoordinator
        let encoder = context.encoder
        let version = context.apiVersion
        let loop = context.eventLoop
        let groupContext = GroupRequestContext(
            clientId: context.header.clientId ?? "", clientHost: context.clientHost, apiVersion: version)
        return coordinator.ensureReady(on: loop, executor: context.executor).flatMap { ready in
            guard ready else {
                return loop.makeSucceededFuture(JoinGroupResponse(errorCode: .coordinatorNotAvailable, memberId: request.memberId))
            }
            let promise = loop.makePromise(of: JoinGroupResponse.self)
            coordinator.join(request, context: groupContext, promise: promise)
            return promise.futureResult
        }.flatMapThrowing { response in
            var response = response
            if version < 7 && response.protocolName == nil { response.protocolName = "" }
            return try encoder.encode(response)
        }
    }
}
