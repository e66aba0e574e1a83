import SamsaLog

/// Kafka's `ConfigSource` numbers (DescribeConfigs, CreateTopics v5+).
enum ConfigSource: Int8 {
    case unknown = 0
    case dynamicTopicConfig = 1
    case dynamicBrokerConfig = 2
    case dynamicDefaultBrokerConfig = 3
    case staticBrokerConfig = 4
    case defaultConfig = 5
}

/// Kafka's `ConfigType` numbers (DescribeConfigs v3+).
enum ConfigType: Int8 {
    case unknown = 0
    case boolean = 1
    case string = 2
    case int = 3
    case short = 4
    case long = 5
    case double = 6
    case list = 7
    case password = 9
}

/// One setting as DescribeConfigs shows it.
struct DescribedConfig: Equatable {
    struct Synonym: Equatable {
        var name: String
        var value: String
        var source: ConfigSource
    }
    var name: String
    var value: String
    var source: ConfigSource
    var type: ConfigType
    var readOnly: Bool
    /// Where the value could come from, most specific first (the first is the effective one).
    var synonyms: [Synonym]
}

extension Broker {
    /// Kafka's types for topic keys (anything else is a string).
    static let topicConfigTypes: [String: ConfigType] = [
        "segment.bytes": .int, "segment.ms": .long, "segment.jitter.ms": .long, "segment.index.bytes": .int,
        "index.interval.bytes": .int, "flush.messages": .long, "flush.ms": .long, "retention.ms": .long,
        "retention.bytes": .long, "cleanup.policy": .list, "max.message.bytes": .int, "message.timestamp.type": .string,
        "min.cleanable.dirty.ratio": .double, "delete.retention.ms": .long, "min.compaction.lag.ms": .long,
        "max.compaction.lag.ms": .long, "file.delete.delay.ms": .long, "compression.type": .string,
    ]

    /// Every setting of a topic: its override (DYNAMIC_TOPIC_CONFIG), else the broker's `log.*` key if the
    /// configuration sets it (STATIC_BROKER_CONFIG), else Kafka's default (DEFAULT_CONFIG).
    func describeTopicConfig(_ topic: TopicMetadata) -> [DescribedConfig] {
        let effective = topics.config(for: topic).properties
        let kafkaDefaults = Dictionary(LogConfig().properties.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        return effective.map { key, value in
            var synonyms: [DescribedConfig.Synonym] = []
            if let override = topic.overrides[key] {
                synonyms.append(.init(name: key, value: override, source: .dynamicTopicConfig))
            }
            let brokerKeys = BrokerConfig.logKeySynonyms.filter { $0.topic == key }.map(\.broker)
                + BrokerConfig.derivedLogKeys.filter { $0.topic == key }.sorted { $0.factorMs < $1.factorMs }.map(\.broker)
            for brokerKey in brokerKeys {
                if let set = config.staticKeys[brokerKey] {
                    synonyms.append(.init(name: brokerKey, value: set, source: .staticBrokerConfig))
                }
            }
            if let brokerKey = brokerKeys.first {
                synonyms.append(.init(name: brokerKey, value: kafkaDefaults[key] ?? value, source: .defaultConfig))
            }
            let source: ConfigSource =
                topic.overrides[key] != nil
                ? .dynamicTopicConfig : synonyms.first(where: { $0.source == .staticBrokerConfig }) != nil ? .staticBrokerConfig : .defaultConfig
            return DescribedConfig(
                name: key, value: value, source: source, type: Self.topicConfigTypes[key] ?? .string, readOnly: false,
                synonyms: synonyms)
        }
    }

    /// The broker's own settings (read-only: they come from server.properties).
    func describeBrokerConfig() -> [DescribedConfig] {
        let listeners = config.listeners.map(\.description).joined(separator: ",")
        let advertised = config.advertisedListeners.map { advertisedListener($0.name) ?? $0 }.map(\.description)
            .joined(separator: ",")
        var entries: [(String, String, ConfigType)] = [
            ("node.id", "\(config.nodeId)", .int), ("broker.id", "\(config.nodeId)", .int),
            ("listeners", listeners, .string), ("advertised.listeners", advertised, .string),
            ("log.dirs", config.logDirectory, .string), ("num.partitions", "\(config.numPartitions)", .int),
            ("default.replication.factor", "\(config.defaultReplicationFactor)", .int),
            ("auto.create.topics.enable", "\(config.autoCreateTopics)", .boolean),
            ("delete.topic.enable", "\(config.deleteTopicEnable)", .boolean),
            ("socket.request.max.bytes", "\(config.socketRequestMaxBytes)", .int),
            ("fetch.max.bytes", "\(config.fetchMaxBytes)", .int),
            ("socket.send.buffer.bytes", "\(config.socketSendBufferBytes)", .int),
            ("socket.receive.buffer.bytes", "\(config.socketReceiveBufferBytes)", .int),
            ("num.network.threads", "\(config.numNetworkThreads)", .int), ("num.io.threads", "\(config.numIoThreads)", .int),
            ("queued.max.requests", "\(config.maxInFlightRequestsPerConnection)", .int),
        ]
        let defaults = Dictionary(config.logDefaults.properties.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        for (brokerKey, topicKey) in BrokerConfig.logKeySynonyms {
            guard let value = defaults[topicKey] else { continue }
            entries.append((brokerKey, value, Self.topicConfigTypes[topicKey] ?? .string))
        }
        for (key, value) in config.staticKeys where BrokerConfig.derivedLogKeys.contains(where: { $0.broker == key }) {
            entries.append((key, value, .long))
        }
        return entries.map { name, value, type in
            let source: ConfigSource = config.staticKeys[name] != nil ? .staticBrokerConfig : .defaultConfig
            return DescribedConfig(
                name: name, value: value, source: source, type: type, readOnly: true,
                synonyms: [.init(name: name, value: value, source: source)])
        }
    }
}
