import SamsaLog
import SamsaProtocol

/// Why a client call failed. Each case says what and where, in one line a person can act on.
///
/// ```swift
/// do { try await admin.createTopics([NewTopic(name: "orders", partitions: 3)]) }
/// catch let error as ClientError { print(error) }   // Topic 'orders' already exists.
/// ```
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A bootstrap or broker address that is not `host:port`.
    case invalidAddress(String)
    /// A configuration value that cannot be used (`name`, the value given, why).
    case invalidConfig(name: String, value: String, reason: String)
    /// The TCP connection could not be made.
    case connectionFailed(host: String, port: Int, reason: String)
    /// The connection closed with requests outstanding (or before a request could be written).
    case connectionClosed(host: String, port: Int)
    /// No response within `request.timeout.ms`.
    case requestTimedOut(api: ApiKey, host: String, port: Int, timeoutMs: Int64)
    /// The broker does not offer any version of `api` that this client speaks.
    case unsupportedApi(api: ApiKey, brokerVersions: ClosedRange<Int16>?, clientVersions: ClosedRange<Int16>)
    /// A frame from the broker was malformed, too large, or out of order.
    case protocolViolation(String)
    /// A message could not be encoded or decoded.
    case protocolError(ProtocolError)
    /// The broker answered with an error code (`context` says for what: a topic, a partition, a request).
    case broker(ErrorCode, context: String, message: String?)
    /// A topic the caller named is unknown to the cluster.
    case unknownTopic(String)
    /// A partition the caller named does not exist.
    case unknownPartition(topic: String, partition: Int32)
    /// A record larger than `max.request.size` (or the batch limit).
    case recordTooLarge(size: Int, limit: Int)
    /// `send` waited `max.block.ms` for buffer memory or metadata.
    case timedOut(what: String, afterMs: Int64)
    /// The record was not acknowledged within `delivery.timeout.ms`.
    case deliveryTimedOut(topic: String, partition: Int32, afterMs: Int64)
    /// Records fetched from the broker were not valid batches.
    case corruptRecords(topic: String, partition: Int32, offset: Int64, reason: String)
    /// An offset commit that cannot succeed: the member left the group or the group rebalanced since the
    /// records were polled (Kafka's `CommitFailedException`).
    case commitFailed(group: String, reason: String)
    /// A group member can go no further (fenced by another instance, unsupported protocol...).
    case groupFailed(group: String, reason: String)
    /// Partitions without a committed offset while `auto.offset.reset` is `none`.
    case noOffsetForPartition([TopicPartition])
    /// The idempotent producer's state for a partition cannot be recovered (its batches fail).
    case producerFenced(topic: String, partition: Int32, reason: String)
    /// The client was closed.
    case closed

    public var description: String {
        switch self {
        case .invalidAddress(let address):
            return "invalid broker address '\(address)' (expected host:port)"
        case .invalidConfig(let name, let value, let reason):
            return "invalid value '\(value)' for \(name): \(reason)"
        case .connectionFailed(let host, let port, let reason):
            return "could not connect to \(host):\(port): \(reason)"
        case .connectionClosed(let host, let port):
            return "connection to \(host):\(port) closed"
        case .requestTimedOut(let api, let host, let port, let timeoutMs):
            return "\(api.name) request to \(host):\(port) timed out after \(timeoutMs) ms"
        case .unsupportedApi(let api, let broker, let client):
            let offered = broker.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "none"
            return "the broker does not support \(api.name) in versions \(client.lowerBound)-\(client.upperBound) (it offers \(offered))"
        case .protocolViolation(let what):
            return "protocol violation: \(what)"
        case .protocolError(let error):
            return "protocol error: \(error)"
        case .broker(let code, let context, let message):
            let text = message.flatMap { $0.isEmpty ? nil : $0 } ?? code.explanation
            return "\(context): \(code.name ?? "error \(code.rawValue)"): \(text)"
        case .unknownTopic(let topic):
            return "Topic '\(topic)' does not exist"
        case .unknownPartition(let topic, let partition):
            return "Partition \(partition) of topic '\(topic)' does not exist"
        case .recordTooLarge(let size, let limit):
            return "The message is \(size) bytes when serialized which is larger than \(limit), the maximum request size"
        case .timedOut(let what, let afterMs):
            return "\(what) after \(afterMs) ms"
        case .deliveryTimedOut(let topic, let partition, let afterMs):
            return "record for \(topic)-\(partition) not delivered within delivery.timeout.ms (\(afterMs) ms)"
        case .corruptRecords(let topic, let partition, let offset, let reason):
            return "corrupt records in \(topic)-\(partition) at offset \(offset): \(reason)"
        case .commitFailed(let group, let reason):
            return "commit of group '\(group)' cannot be completed: \(reason)"
        case .groupFailed(let group, let reason):
            return "group '\(group)': \(reason)"
        case .noOffsetForPartition(let partitions):
            return "Undefined offset with no reset policy for partitions: [\(partitions.map(\.description).joined(separator: ", "))]"
        case .producerFenced(let topic, let partition, let reason):
            return "\(topic)-\(partition): \(reason)"
        case .closed:
            return "the client is closed"
        }
    }

    /// Whether retrying the same operation later may succeed (Kafka's RetriableException family).
    public var isRetriable: Bool {
        switch self {
        case .connectionFailed, .connectionClosed, .requestTimedOut: return true
        case .broker(let code, _, _): return code.isRetriable
        default: return false
        }
    }
}

extension ErrorCode {
    /// Kafka's retriable errors: the codes whose exceptions extend `RetriableException` (directly or through
    /// `InvalidMetadataException`) in the Java client.
    public var isRetriable: Bool { Self.retriable.contains(self) }

    /// Errors after which the client's view of leaders is stale and metadata must be refreshed.
    public var invalidatesMetadata: Bool { Self.invalidMetadata.contains(self) }

    static let invalidMetadata: Set<ErrorCode> = [
        .unknownTopicOrPartition, .leaderNotAvailable, .notLeaderOrFollower, .replicaNotAvailable,
        .networkException, .kafkaStorageError, .listenerNotFound, .fencedLeaderEpoch,
        .preferredLeaderNotAvailable, .eligibleLeadersNotAvailable, .unknownTopicId, .inconsistentTopicId,
    ]

    static let retriable: Set<ErrorCode> = invalidMetadata.union([
        .corruptMessage, .requestTimedOut, .coordinatorLoadInProgress, .coordinatorNotAvailable, .notCoordinator,
        .notEnoughReplicas, .notEnoughReplicasAfterAppend, .notController, .fetchSessionIdNotFound,
        .invalidFetchSessionEpoch, .unknownLeaderEpoch, .offsetNotAvailable, .unstableOffsetCommit,
        .throttlingQuotaExceeded, .concurrentTransactions, .fetchSessionTopicIdError,
    ])

    /// A short explanation for codes a CLI user meets; the code's name otherwise.
    public var explanation: String {
        switch self {
        case .topicAlreadyExists: return "the topic already exists"
        case .unknownTopicOrPartition: return "this server does not host this topic-partition"
        case .invalidPartitions: return "invalid number of partitions"
        case .invalidReplicationFactor: return "invalid replication factor"
        case .invalidConfig: return "invalid configuration"
        case .messageTooLarge: return "the request included a message larger than the max message size the server will accept"
        case .invalidTopicException: return "the request attempted to perform an operation on an invalid topic"
        case .notLeaderOrFollower: return "this server is not the leader for that topic-partition"
        case .leaderNotAvailable: return "there is no leader for this topic-partition as we are in the middle of a leadership election"
        case .offsetOutOfRange: return "the requested offset is not within the range of offsets maintained by the server"
        case .corruptMessage: return "the message contents do not match the message CRC or the message is otherwise corrupt"
        case .unsupportedVersion: return "the version of API is not supported"
        case .policyViolation: return "request parameters do not satisfy the configured policy"
        case .groupIdNotFound: return "The group id does not exist."
        case .nonEmptyGroup: return "The group is not empty."
        case .invalidGroupId: return "The configured groupId is invalid."
        case .coordinatorNotAvailable: return "The coordinator is not available."
        case .notCoordinator: return "This is not the correct coordinator."
        case .coordinatorLoadInProgress: return "The coordinator is loading and hence can't process requests."
        case .unknownMemberId: return "The coordinator is not aware of this member."
        case .illegalGeneration: return "Specified group generation id is not valid."
        case .rebalanceInProgress: return "The group is rebalancing, so a rejoin is needed."
        case .fencedInstanceId: return "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id."
        case .inconsistentGroupProtocol: return "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list."
        case .groupMaxSizeReached: return "The consumer group has reached its max size."
        case .outOfOrderSequenceNumber: return "The broker received an out of order sequence number."
        case .invalidProducerEpoch: return "Producer attempted to produce with an old epoch."
        case .unknownProducerId: return "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question."
        default: return name ?? "error code \(rawValue)"
        }
    }
}
