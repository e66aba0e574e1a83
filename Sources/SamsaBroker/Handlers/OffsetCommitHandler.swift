import NIOCore
import SamsaProtocol

/// OffsetCommit (key 8): stores committed offsets in `__consumer_offsets` (created first if needed). Partitions
/// that do not exist get UNKNOWN_TOPIC_OR_PARTITION; the rest are checked against the group (ILLEGAL_GENERATION,
/// UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS...) and written together.
struct OffsetCommitHandler: ApiHandler {
    typealias Request = OffsetCommitRequest
    let broker: Broker

    func handle(_ request: OffsetCommitRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let coordinator = broker.groupCoordinator
        let encoder = context.encoder
        let version = context.apiVersion
        return coordinator.ensureReady(on: context.eventLoop, executor: context.executor).flatMapThrowing { ready in
            guard ready else {
                return try encoder.encode(
                    OffsetCommitResponse(
                        throttleTimeMs: 0,
                        topics: request.topics.map { topic in
                            .init(
                                name: topic.name,
                                partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: .coordinatorNotAvailable) })
                        }))
            }
            return try encoder.encode(coordinator.commitOffsets(request, apiVersion: version))
        }
    }
}
