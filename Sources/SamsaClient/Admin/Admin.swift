import NIOCore
import SamsaProtocol

/// A topic to create: `partitions` and `replicationFactor` of -1 take the broker's defaults.
public struct NewTopic: Sendable, Equatable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int16
    public var configs: [String: String]

    public init(name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A topic and its partitions, as `describeTopics` returns it.
public typealias TopicDescription = TopicMetadata

/// Where a configuration value comes from (Kafka's `ConfigSource`, DescribeConfigs v1+).
public enum ConfigSource: Int8, Sendable, CustomStringConvertible {
    case unknown = 0
    case dynamicTopicConfig = 1
    case dynamicBrokerConfig = 2
    case dynamicDefaultBrokerConfig = 3
    case staticBrokerConfig = 4
    case defaultConfig = 5
    case dynamicBrokerLoggerConfig = 6
    case clientMetricsConfig = 7
    case groupConfig = 8

    public var description: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .dynamicTopicConfig: "DYNAMIC_TOPIC_CONFIG"
        case .dynamicBrokerConfig: "DYNAMIC_BROKER_CONFIG"
        case .dynamicDefaultBrokerConfig: "DYNAMIC_DEFAULT_BROKER_CONFIG"
        case .staticBrokerConfig: "STATIC_BROKER_CONFIG"
        case .defaultConfig: "DEFAULT_CONFIG"
        case .dynamicBrokerLoggerConfig: "DYNAMIC_BROKER_LOGGER_CONFIG"
        case .clientMetricsConfig: "CLIENT_METRICS_CONFIG"
        case .groupConfig: "GROUP_CONFIG"
        }
    }
}

/// One configuration entry of a topic or broker.
public struct ConfigEntry: Sendable, Equatable {
    public var name: String
    public var value: String?
    public var source: ConfigSource
    public var isReadOnly: Bool
    public var isSensitive: Bool

    public init(name: String, value: String?, source: ConfigSource, isReadOnly: Bool = false, isSensitive: Bool = false) {
        self.name = name
        self.value = value
        self.source = source
        self.isReadOnly = isReadOnly
        self.isSensitive = isSensitive
    }

    /// As Kafka's `ConfigEntry.isDefault()`: the value is the built-in default.
    public var isDefault: Bool { source == .defaultConfig }
}

/// The result of creating one topic.
public struct CreateTopicResult: Sendable, Equatable {
    public var name: String
    public var topicId: Uuid
    public var error: ClientError?
}

/// Topic administration: create, delete, list, describe, describe configs, add partitions.
///
/// ```swift
/// let admin = Admin(config: try ClientConfig(bootstrap: "127.0.0.1:9092"))
/// try await admin.createTopic(NewTopic(name: "quickstart-events", partitions: 1, replicationFactor: 1))
/// print(try await admin.listTopics())            // ["quickstart-events"]
/// await admin.close()
/// ```
public final class Admin: Sendable {
    public let cluster: Cluster
    /// The `timeoutMs` sent in CreateTopics, DeleteTopics and CreatePartitions.
    public let operationTimeoutMs: Int32

    public init(config: ClientConfig, operationTimeoutMs: Int32 = 30_000) {
        self.cluster = Cluster(config: config)
        self.operationTimeoutMs = operationTimeoutMs
    }

    public init(cluster: Cluster, operationTimeoutMs: Int32 = 30_000) {
        self.cluster = cluster
        self.operationTimeoutMs = operationTimeoutMs
    }

    public func close() async { await cluster.close() }

    /// Creates topics; each result carries its own error (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS...).
    public func createTopics(_ topics: [NewTopic], validateOnly: Bool = false) async throws(ClientError) -> [CreateTopicResult] {
        let request = CreateTopicsRequest(
            topics: topics.map { topic in
                CreateTopicsRequest.CreatableTopic(
                    name: topic.name, numPartitions: topic.partitions, replicationFactor: topic.replicationFactor,
                    configs: topic.configs.sorted { $0.key < $1.key }.map {
                        CreateTopicsRequest.CreatableTopicConfig(name: $0.key, value: $0.value)
                    })
            },
            timeoutMs: operationTimeoutMs, validateOnly: validateOnly)
        let response = try await controllerRequest(request)
        return response.topics.map { result in
            CreateTopicResult(
                name: result.name, topicId: result.topicId,
                error: result.errorCode == .none
                    ? nil : .broker(result.errorCode, context: "Topic '\(result.name)'", message: result.errorMessage))
        }
    }

    /// Creates one topic; throws its error.
    @discardableResult
    public func createTopic(_ topic: NewTopic, validateOnly: Bool = false) async throws(ClientError) -> CreateTopicResult {
        let results = try await createTopics([topic], validateOnly: validateOnly)
        guard let result = results.first(where: { $0.name == topic.name }) else {
            throw .protocolViolation("CreateTopics response does not mention '\(topic.name)'")
        }
        if let error = result.error { throw error }
        return result
    }

    /// Deletes topics by name; throws the first topic's error.
    public func deleteTopics(_ names: [String]) async throws(ClientError) {
        let request = DeleteTopicsRequest(
            topics: names.map { DeleteTopicsRequest.DeleteTopicState(name: $0) }, topicNames: names,
            timeoutMs: operationTimeoutMs)
        let response = try await controllerRequest(request)
        for result in response.responses where result.errorCode != .none {
            throw .broker(result.errorCode, context: "Topic '\(result.name ?? "?")'", message: result.errorMessage)
        }
        for name in names { await cluster.invalidate(topic: name) }
    }

    /// Every topic name, sorted; internal topics only when asked.
    public func listTopics(includeInternal: Bool = false) async throws(ClientError) -> [String] {
        let metadata = try await cluster.refreshMetadata(topics: nil)
        return metadata.topics.values.filter { includeInternal || !$0.isInternal }.map(\.name).sorted()
    }

    /// Describes topics (nil: every topic), sorted by name. Throws `unknownTopic` for a named topic that does
    /// not exist.
    public func describeTopics(_ names: [String]? = nil, includeInternal: Bool = false) async throws(ClientError) -> [TopicDescription] {
        let metadata = try await cluster.refreshMetadata(topics: names)
        if let names {
            var result: [TopicDescription] = []
            for name in names {
                guard let topic = metadata.topics[name] else { throw .unknownTopic(name) }
                result.append(topic)
            }
            return result.sorted { $0.name < $1.name }
        }
        return metadata.topics.values.filter { includeInternal || !$0.isInternal }.sorted { $0.name < $1.name }
    }

    /// A topic's configuration: every entry, with where its value comes from.
    public func describeTopicConfig(_ topic: String) async throws(ClientError) -> [ConfigEntry] {
        let request = DescribeConfigsRequest(resources: [
            DescribeConfigsRequest.DescribeConfigsResource(resourceType: 2, resourceName: topic, configurationKeys: nil)
        ])
        let connection = try await cluster.anyConnection()
        let version = try connection.version(for: DescribeConfigsRequest.self)
        let response = try await connection.request(request)
        guard let result = response.results.first else {
            throw .protocolViolation("DescribeConfigs response without results")
        }
        if result.errorCode != .none {
            throw .broker(result.errorCode, context: "Topic '\(topic)'", message: result.errorMessage)
        }
        return result.configs.map { entry in
            let source: ConfigSource
            if version == 0 {
                source = entry.isDefault ? .defaultConfig : .dynamicTopicConfig
            } else {
                source = ConfigSource(rawValue: entry.configSource) ?? .unknown
            }
            return ConfigEntry(
                name: entry.name, value: entry.value, source: source, isReadOnly: entry.readOnly,
                isSensitive: entry.isSensitive)
        }
    }

    /// Raises a topic's partition count to `totalCount`.
    public func createPartitions(topic: String, totalCount: Int32) async throws(ClientError) {
        let request = CreatePartitionsRequest(
            topics: [CreatePartitionsRequest.CreatePartitionsTopic(name: topic, count: totalCount, assignments: nil)],
            timeoutMs: operationTimeoutMs)
        let response = try await controllerRequest(request)
        for result in response.results where result.errorCode != .none {
            throw .broker(result.errorCode, context: "Topic '\(result.name)'", message: result.errorMessage)
        }
        await cluster.invalidate(topic: topic)
    }

    /// The brokers of the cluster, by node id.
    public func describeCluster() async throws(ClientError) -> ClusterMetadata {
        try await cluster.refreshMetadata(topics: [])
    }

    /// Sends to the controller; NOT_CONTROLLER refreshes metadata and tries once more.
    private func controllerRequest<M: KafkaRequestMessage>(_ request: M) async throws(ClientError) -> M.Response {
        var attempt = 0
        while true {
            let connection = try await cluster.controllerConnection()
            do {
                return try await connection.request(request)
            } catch {
                attempt += 1
                if attempt >= 3 || !error.isRetriable { throw error }
                await cluster.forget(connection)
                _ = try? await cluster.refreshMetadata(topics: [])
            }
        }
    }
}
