import SamsaProtocol

/// Why a topic operation was refused, as Kafka says it: each case maps to one error code and a message.
public enum TopicError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidTopicName(String)
    case alreadyExists(String)
    case unknownTopic(String)
    case unknownTopicId(Uuid)
    case invalidPartitions(String)
    case invalidReplicationFactor(String)
    case invalidReplicaAssignment(String)
    case invalidConfig(String)
    case invalidRequest(String)
    case deletionDisabled
    case storage(String)

    public var errorCode: ErrorCode {
        switch self {
        case .invalidTopicName: .invalidTopicException
        case .alreadyExists: .topicAlreadyExists
        case .unknownTopic: .unknownTopicOrPartition
        case .unknownTopicId: .unknownTopicId
        case .invalidPartitions: .invalidPartitions
        case .invalidReplicationFactor: .invalidReplicationFactor
        case .invalidReplicaAssignment: .invalidReplicaAssignment
        case .invalidConfig: .invalidConfig
        case .invalidRequest: .invalidRequest
        case .deletionDisabled: .topicDeletionDisabled
        case .storage: .kafkaStorageError
        }
    }

    public var description: String {
        switch self {
        case .invalidTopicName(let name):
            "Topic name '\(name)' is illegal: it must be 1-249 characters of [a-zA-Z0-9._-], not '.' or '..'"
        case .alreadyExists(let name): "Topic '\(name)' already exists."
        case .unknownTopic(let name): "Topic '\(name)' does not exist."
        case .unknownTopicId(let id): "Topic id \(id) does not exist."
        case .invalidPartitions(let message), .invalidReplicationFactor(let message),
            .invalidReplicaAssignment(let message), .invalidConfig(let message), .invalidRequest(let message),
            .storage(let message):
            message
        case .deletionDisabled: "Topic deletion is disabled (delete.topic.enable=false)."
        }
    }
}
