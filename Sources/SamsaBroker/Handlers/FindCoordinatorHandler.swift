import NIOCore
import SamsaProtocol

/// FindCoordinator (key 10): this broker coordinates every group and transactional id. v0-3 ask for one key, v4
/// for a batch. Group keys need `__consumer_offsets`, which is created here on first use (off the event loop), as
/// Kafka does; if that fails the answer is COORDINATOR_NOT_AVAILABLE. Transaction keys are answered too (so that a
/// transactional producer gets as far as InitProducerId, which refuses it clearly); other key types (share groups)
/// are INVALID_REQUEST.
struct FindCoordinatorHandler: ApiHandler {
    typealias Request = FindCoordinatorRequest
    let broker: Broker

    static let groupKeyType: Int8 = 0
    static let transactionKeyType: Int8 = 1

    func handle(_ request: FindCoordinatorRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let version = context.apiVersion
        let keys = version >= 4 ? request.coordinatorKeys : [request.key]
        let keyType = request.keyType
        let nodeId = broker.config.nodeId
        let listener = broker.advertisedListener(context.connection.listenerName) ?? broker.config.advertisedListeners[0]
        let encoder = context.encoder
        let answer: @Sendable (Bool) throws -> Reply = { groupsReady in
            let error: ErrorCode =
                switch keyType {
                case Self.groupKeyType: groupsReady ? .none : .coordinatorNotAvailable
                case Self.transactionKeyType: .none
                default: .invalidRequest
                }
            let message: String? =
                switch error {
                case .none: nil
                case .coordinatorNotAvailable: "The coordinator is not available."
                default: "Unsupported coordinator key type \(keyType)."
                }
            let found = error == .none
            if version >= 4 {
                return try encoder.encode(
                    FindCoordinatorResponse(
                        throttleTimeMs: 0,
                        coordinators: keys.map {
                            .init(
                                key: $0, nodeId: found ? nodeId : -1, host: found ? listener.host : "",
                                port: found ? Int32(listener.port) : -1, errorCode: error, errorMessage: message)
                        }))
            }
            return try encoder.encode(
                FindCoordinatorResponse(
                    throttleTimeMs: 0, errorCode: error, errorMessage: message, nodeId: found ? nodeId : -1,
                    host: found ? listener.host : "", port: found ? Int32(listener.port) : -1))
        }
        guard keyType == Self.groupKeyType, !keys.isEmpty else {
            return context.eventLoop.makeCompletedFuture { try answer(false) }
        }
        return broker.groupCoordinator.ensureReady(on: context.eventLoop, executor: context.executor)
            .flatMapThrowing(answer)
    }
}
