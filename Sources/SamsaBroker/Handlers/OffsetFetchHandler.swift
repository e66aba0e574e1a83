import NIOCore
import SamsaProtocol

/// OffsetFetch (key 9): committed offsets of one group (v0-7) or several (v8), of the partitions asked for (-1
/// where none is committed) or of all (a null topic list, v2+).
struct OffsetFetchHandler: ApiHandler {
    typealias Request = OffsetFetchRequest
    let broker: Broker

    func handle(_ request: OffsetFetchRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let coordinator = broker.groupCoordinator
        if context.apiVersion >= 8 {
            let groups = request.groups.map { group in
                coordinator.fetchOffsets(
                    groupId: group.groupId, topics: group.topics?.map { (name: $0.name, partitions: $0.partitionIndexes) })
            }
            return context.reply(OffsetFetchResponse(throttleTimeMs: 0, groups: groups))
        }
        let result = coordinator.fetchOffsets(
            groupId: request.groupId, topics: request.topics?.map { (name: $0.name, partitions: $0.partitionIndexes) })
        return context.reply(
            OffsetFetchResponse(
                throttleTimeMs: 0,
                topics: result.topics.map { topic in
                    .init(
                        name: topic.name,
                        partitions: topic.partitions.map {
                            .init(
                                partitionIndex: $0.partitionIndex, committedOffset: $0.committedOffset,
                                committedLeaderEpoch: $0.committedLeaderEpoch, metadata: $0.metadata, errorCode: $0.errorCode)
                        })
                },
                errorCode: result.errorCode))
    }
}
