import NIOCore
import SamsaLog
import SamsaProtocol

/// ListOffsets (key 2): per partition, the earliest offset (-2), the latest (-1, the high watermark, which is
/// also the last stable offset: there are no transactions), the offset of the largest timestamp (-3, v7), or the
/// first offset whose record timestamp is at or after the one given (-1/-1 when every record is older).
struct ListOffsetsHandler: ApiHandler {
    typealias Request = ListOffsetsRequest
    let broker: Broker

    static let latest: Int64 = -1
    static let earliest: Int64 = -2
    static let maxTimestamp: Int64 = -3

    func handle(_ request: ListOffsetsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let version = context.apiVersion
        let topics = request.topics.map { topic in
            ListOffsetsResponse.ListOffsetsTopicResponse(
                name: topic.name,
                partitions: topic.partitions.map { partition in
                    Self.lookUp(broker.logManager.log(TopicPartition(topic.name, partition.partitionIndex)), partition, version: version)
                })
        }
        return context.reply(ListOffsetsResponse(throttleTimeMs: 0, topics: topics))
    }

    static func lookUp(
        _ log: Log?, _ partition: ListOffsetsRequest.ListOffsetsPartition, version: Int16
    ) -> ListOffsetsResponse.ListOffsetsPartitionResponse {
        var response = ListOffsetsResponse.ListOffsetsPartitionResponse(
            partitionIndex: partition.partitionIndex, errorCode: .none, timestamp: -1, offset: -1, leaderEpoch: -1)
        guard let log else {
            response.errorCode = .unknownTopicOrPartition
            return response
        }
        do {
            switch partition.timestamp {
            case latest:
                response.offset = log.highWatermark
                response.leaderEpoch = 0
            case earliest:
                response.offset = log.logStartOffset
                response.leaderEpoch = 0
            case maxTimestamp where version < 7:
                response.errorCode = .unsupportedVersion
            case maxTimestamp:
                if let found = try log.maxTimestampOffset() {
                    response.offset = found.offset
                    response.timestamp = found.timestamp
                    response.leaderEpoch = 0
                }
            default:
                if let found = try log.offset(forTimestamp: partition.timestamp) {
                    response.offset = found.offset
                    response.timestamp = found.timestamp
                    response.leaderEpoch = 0
                }
            }
        } catch {
            response.errorCode = error.kafkaErrorCode
        }
        return response
    }
}
