import NIOCore
import SamsaLog
import SamsaProtocol

/// CreateTopics (key 19): validates names, partition counts, the replication factor (1: a single broker),
/// replica assignments and configs (`LogConfig(properties:)`, INVALID_CONFIG with its message), then creates
/// the topics (or, with `validate_only`, only says whether it would). Topic creation writes files: it runs off
/// the event loop.
struct CreateTopicsHandler: ApiHandler {
    typealias Request = CreateTopicsRequest
    let broker: Broker

    func handle(_ request: CreateTopicsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let broker = self.broker
        let encoder = context.encoder
        return context.offload {
            var counts: [String: Int] = [:]
            for topic in request.topics { counts[topic.name, default: 0] += 1 }
            let results = request.topics.map { topic -> CreateTopicsResponse.CreatableTopicResult in
                var result = CreateTopicsResponse.CreatableTopicResult(name: topic.name, errorCode: .none, errorMessage: nil, configs: [])
                if counts[topic.name, default: 0] > 1 {
                    result.errorCode = .invalidRequest
                    result.errorMessage = "Create topics request from client contains multiple entries for the topic \(topic.name)."
                    return result
                }
                do throws(TopicError) {
                    let created = try Self.create(topic, validateOnly: request.validateOnly, broker: broker)
                    result.topicId = request.validateOnly ? .zero : created.id
                    result.numPartitions = created.partitionCount
                    result.replicationFactor = 1
                    result.configs = broker.describeTopicConfig(created).map {
                        CreateTopicsResponse.CreatableTopicConfigs(
                            name: $0.name, value: $0.value, readOnly: $0.readOnly, configSource: $0.source.rawValue,
                            isSensitive: false)
                    }
                } catch {
                    result.errorCode = error.errorCode
                    result.errorMessage = error.description
                }
                return result
            }
            return try encoder.encode(CreateTopicsResponse(throttleTimeMs: 0, topics: results))
        }
    }

    static func create(
        _ topic: CreateTopicsRequest.CreatableTopic, validateOnly: Bool, broker: Broker
    ) throws(TopicError) -> TopicMetadata {
        guard TopicPartition.isValidTopicName(topic.name) else { throw .invalidTopicName(topic.name) }
        if topic.name == OffsetsTopic.name {
            // Made by the group coordinator, with its own settings, when a group first needs it.
            if broker.topics.topic(topic.name) != nil { throw .alreadyExists(topic.name) }
            throw .invalidRequest("The internal topic \(OffsetsTopic.name) is created by the broker when a group first needs it.")
        }
        let nodeId = broker.config.nodeId
        var partitions = topic.numPartitions
        if !topic.assignments.isEmpty {
            guard topic.numPartitions == -1, topic.replicationFactor == -1 else {
                throw .invalidRequest("Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
            }
            let indexes = topic.assignments.map(\.partitionIndex).sorted()
            guard indexes == Array(0..<Int32(indexes.count)) else {
                throw .invalidReplicaAssignment("Partitions should be a consecutive 0-based integer sequence, found \(indexes).")
            }
            for assignment in topic.assignments where assignment.brokerIds != [nodeId] {
                throw .invalidReplicaAssignment(
                    "Partition \(assignment.partitionIndex) is assigned to \(assignment.brokerIds); the only broker is \(nodeId).")
            }
            partitions = Int32(topic.assignments.count)
        } else {
            if partitions == -1 { partitions = broker.config.numPartitions }
            guard partitions > 0 else {
                throw .invalidPartitions("Number of partitions was set to an invalid non-positive value.")
            }
            let replicationFactor = topic.replicationFactor == -1 ? broker.config.defaultReplicationFactor : topic.replicationFactor
            guard replicationFactor == 1 else {
                throw .invalidReplicationFactor(
                    "Unable to replicate the partition \(replicationFactor) time(s): The target replication factor of \(replicationFactor) cannot be reached because only 1 broker(s) are registered.")
            }
        }
        var overrides: [String: String] = [:]
        for config in topic.configs {
            guard let value = config.value else {
                throw .invalidConfig("Null value not supported for topic configs: \(config.name)")
            }
            overrides[config.name] = value
        }
        return try broker.topics.create(name: topic.name, partitions: partitions, overrides: overrides, validateOnly: validateOnly)
    }
}
