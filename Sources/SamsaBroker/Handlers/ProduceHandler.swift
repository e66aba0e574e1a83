import NIOCore
import SamsaLog
import SamsaProtocol

/// Produce (key 0): appends each partition's record batches to its log, unchanged but for the offsets the log
/// assigns. acks=1 and acks=-1 are the same for a single replica: answered once the bytes are in the log (the page
/// cache; fsync follows `flush.messages` / `flush.ms`). acks=0 gets no response; if such a produce fails, the
/// connection is closed, as Kafka does, so that the producer notices and refreshes its metadata.
///
/// Appends run on the event loop (a write to the page cache takes microseconds), except when a log flushes on
/// append (`flush.messages` set): then the request goes to the blocking pool, behind any earlier such request of
/// the same connection, so appends from one connection keep their order.
struct ProduceHandler: ApiHandler {
    typealias Request = ProduceRequest
    let broker: Broker

    private struct Target: Sendable {
        var topic: Int
        var partition: Int32
        var log: Log?
        var records: ByteBuffer?
    }

    func handle(_ request: ProduceRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let acks = request.acks
        var refusal: (ErrorCode, String)?
        if acks != 0 && acks != 1 && acks != -1 {
            refusal = (.invalidRequiredAcks, "acks must be -1, 0 or 1, was \(acks)")
        } else if request.transactionalId != nil {
            refusal = (.transactionalIdAuthorizationFailed, "transactions are not supported by this broker")
        }
        var targets: [Target] = []
        var offload = false
        for (t, topic) in request.topicData.enumerated() {
            for partition in topic.partitionData {
                let log = broker.logManager.log(TopicPartition(topic.name, partition.index))
                if let log, log.config.flushMessages != .max { offload = true }
                targets.append(Target(topic: t, partition: partition.index, log: log, records: partition.records))
            }
        }
        let names = request.topicData.map(\.name)
        let appends = targets
        let refused = refusal
        let encoder = context.encoder
        let logger = context.logger
        let remote = context.connection.remoteDescription
        return context.connection.runInOrder(executor: broker.executor, offload: offload && refused == nil) {
            var byTopic = names.map { ProduceResponse.TopicProduceResponse(name: $0, partitionResponses: []) }
            var failure: String?
            for target in appends {
                var response = ProduceResponse.PartitionProduceResponse(
                    index: target.partition, errorCode: .none, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1)
                if let (code, message) = refused {
                    response.errorCode = code
                    response.errorMessage = message
                } else if OffsetsTopic.isInternal(names[target.topic]) {
                    response.errorCode = .invalidTopicException
                    response.errorMessage = "Cannot append to internal topic \(names[target.topic])"
                } else if let log = target.log {
                    if let records = target.records {
                        do {
                            let result = try records.withUnsafeReadableBytes { try log.append($0) }
                            response.baseOffset = result.firstOffset
                            response.logAppendTimeMs = result.logAppendTime
                            response.logStartOffset = result.logStartOffset
                        } catch let error as LogError {
                            response.errorCode = error.kafkaErrorCode
                            response.errorMessage = error.description
                            if response.errorCode == .kafkaStorageError {
                                logger.error("produce to \(names[target.topic])-\(target.partition): \(error)")
                            } else {
                                logger.debug("produce to \(names[target.topic])-\(target.partition) from \(remote): \(error)")
                            }
                        }
                    } else {
                        response.errorCode = .corruptMessage
                        response.errorMessage = "the records are null"
                    }
                } else {
                    response.errorCode = .unknownTopicOrPartition
                    response.errorMessage = "This server does not host this topic-partition."
                }
                if response.errorCode != .none && failure == nil {
                    failure = "\(names[target.topic])-\(target.partition): \(response.errorCode): \(response.errorMessage ?? "")"
                }
                byTopic[target.topic].partitionResponses.append(response)
            }
            if acks == 0 {
                return failure.map { .close(reason: "acks=0 produce failed: \($0)") } ?? .none
            }
            return try encoder.encode(ProduceResponse(responses: byTopic, throttleTimeMs: 0))
        }
    }
}
