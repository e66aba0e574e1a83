import NIOCore
import SamsaLog
import SamsaProtocol

/// Where one written batch landed.
public struct BatchAck: Sendable, Equatable {
    /// The offset the broker gave the batch's first record.
    public var baseOffset: Int64
    /// The broker's append time (-1 for CreateTime topics).
    public var logAppendTime: Int64
}

/// Writes record batches that are already encoded (a stored log being replayed) to one partition, exactly as
/// they are: compressed bytes, producer ids, sequences and timestamps untouched; the broker assigns offsets.
///
/// One batch per Produce request (Kafka's Produce v3+ carries one batch per partition), up to `maxInFlight`
/// requests pipelined on the leader's connection; the broker answers a connection's requests in order, so
/// batches land in the order written. There are no retries (a resent batch could land out of order): the
/// first failure fails every later write.
///
/// ```swift
/// let writer = try await BatchWriter.open(cluster: cluster, TopicPartition("orders", 0))
/// let ack = try await writer.write(batchBytes).get()
/// ```
public final class BatchWriter: Sendable {
    public let topicPartition: TopicPartition
    public let acks: Int16
    public let timeoutMs: Int32
    private let connection: BrokerConnection

    private init(topicPartition: TopicPartition, connection: BrokerConnection, acks: Int16, timeoutMs: Int32) {
        self.topicPartition = topicPartition
        self.connection = connection
        self.acks = acks
        self.timeoutMs = timeoutMs
    }

    /// Finds the partition's leader (the topic must exist) and connects to it.
    public static func open(
        cluster: Cluster, _ tp: TopicPartition, acks: Int16 = -1, timeoutMs: Int32 = 30_000
    ) async throws(ClientError) -> BatchWriter {
        precondition(acks != 0, "a batch writer waits for acknowledgements")
        var attempt = 0
        while true {
            attempt += 1
            let metadata = try await cluster.refreshMetadata(topics: [tp.topic])
            guard let topic = metadata.topics[tp.topic] else { throw .unknownTopic(tp.topic) }
            guard topic.partition(tp.partition) != nil else {
                throw .unknownPartition(topic: tp.topic, partition: tp.partition)
            }
            if let leader = metadata.leader(topic: tp.topic, partition: tp.partition) {
                let connection = try await cluster.connection(to: leader)
                return BatchWriter(topicPartition: tp, connection: connection, acks: acks, timeoutMs: timeoutMs)
            }
            if attempt >= 20 {
                throw .broker(.leaderNotAvailable, context: "\(tp)", message: nil)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Sends one whole batch; the future fails with the broker's error for it.
    public func write(_ batch: ByteBuffer) -> EventLoopFuture<BatchAck> {
        let tp = topicPartition
        let request = ProduceRequest(
            transactionalId: nil, acks: acks, timeoutMs: timeoutMs,
            topicData: [.init(name: tp.topic, partitionData: [.init(index: tp.partition, records: batch)])])
        return connection.send(request).flatMapThrowing { response in
            guard let result = response.responses.first(where: { $0.name == tp.topic })?.partitionResponses
                .first(where: { $0.index == tp.partition })
            else {
                throw ClientError.protocolViolation("Produce response does not mention \(tp)")
            }
            guard result.errorCode == .none else {
                throw ClientError.broker(result.errorCode, context: "\(tp)", message: result.errorMessage)
            }
            return BatchAck(baseOffset: result.baseOffset, logAppendTime: result.logAppendTimeMs)
        }
    }

    /// The event loop the writer's futures complete on.
    public var eventLoop: any EventLoop { connection.eventLoop }
}
