import NIOCore
import SamsaLog
import SamsaProtocol

/// DeleteRecords (key 21): moves each partition's log start offset up to the offset given (-1: the high
/// watermark); the new low watermark is checkpointed before the answer, so it survives a crash.
struct DeleteRecordsHandler: ApiHandler {
    typealias Request = DeleteRecordsRequest
    let broker: Broker

    func handle(_ request: DeleteRecordsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let broker = self.broker
        let encoder = context.encoder
        return context.offload {
            var changed = false
            let topics = request.topics.map { topic in
                DeleteRecordsResponse.DeleteRecordsTopicResult(
                    name: topic.name,
                    partitions: topic.partitions.map { partition in
                        var result = DeleteRecordsResponse.DeleteRecordsPartitionResult(
                            partitionIndex: partition.partitionIndex, lowWatermark: -1, errorCode: .none)
                        guard !OffsetsTopic.isInternal(topic.name) else {
                            result.errorCode = .invalidTopicException
                            return result
                        }
                        guard let log = broker.logManager.log(TopicPartition(topic.name, partition.partitionIndex)) else {
                            result.errorCode = .unknownTopicOrPartition
                            return result
                        }
                        do throws(LogError) {
                            let offset = partition.offset == -1 ? log.highWatermark : partition.offset
                            result.lowWatermark = try log.deleteRecords(before: offset)
                            changed = true
                        } catch {
                            result.errorCode = error.kafkaErrorCode
                        }
                        return result
                    })
            }
            if changed {
                do { try broker.logManager.checkpoint() } catch { broker.logger.error("checkpoint after DeleteRecords: \(error)") }
            }
            return try encoder.encode(DeleteRecordsResponse(throttleTimeMs: 0, topics: topics))
        }
    }
}
