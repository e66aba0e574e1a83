import NIOCore
import SamsaProtocol

/// One partition as the cluster describes it: its leader, replicas and in-sync replicas.
public struct PartitionMetadata: Sendable, Equatable {
    public var partition: Int32
    /// -1 when the partition has no leader.
    public var leader: Int32
    public var leaderEpoch: Int32
    public var replicas: [Int32]
    public var isr: [Int32]
    public var offlineReplicas: [Int32]
    public var errorCode: ErrorCode

    public init(
        partition: Int32, leader: Int32, leaderEpoch: Int32 = -1, replicas: [Int32] = [], isr: [Int32] = [],
        offlineReplicas: [Int32] = [], errorCode: ErrorCode = .none
    ) {
        self.partition = partition
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.replicas = replicas
        self.isr = isr
        self.offlineReplicas = offlineReplicas
        self.errorCode = errorCode
    }
}

/// One topic as the cluster describes it, partitions sorted by index.
public struct TopicMetadata: Sendable, Equatable {
    public var name: String
    public var topicId: Uuid
    public var isInternal: Bool
    public var partitions: [PartitionMetadata]
    public var errorCode: ErrorCode

    public init(name: String, topicId: Uuid = .zero, isInternal: Bool = false, partitions: [PartitionMetadata], errorCode: ErrorCode = .none) {
        self.name = name
        self.topicId = topicId
        self.isInternal = isInternal
        self.partitions = partitions.sorted { $0.partition < $1.partition }
        self.errorCode = errorCode
    }

    public func partition(_ index: Int32) -> PartitionMetadata? {
        if index >= 0, Int(index) < partitions.count, partitions[Int(index)].partition == index { return partitions[Int(index)] }
        return partitions.first { $0.partition == index }
    }
}

/// What the client knows of the cluster: brokers, controller, topics and their leaders.
public struct ClusterMetadata: Sendable, Equatable {
    public var clusterId: String?
    public var controllerId: Int32
    public var brokers: [Int32: BrokerAddress]
    public var topics: [String: TopicMetadata]
    /// When each topic was last refreshed.
    public var refreshedAt: [String: NIODeadline]

    public init(
        clusterId: String? = nil, controllerId: Int32 = -1, brokers: [Int32: BrokerAddress] = [:],
        topics: [String: TopicMetadata] = [:]
    ) {
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.brokers = brokers
        self.topics = topics
        self.refreshedAt = [:]
    }

    /// The leader of a partition, nil when unknown or leaderless.
    public func leader(topic: String, partition: Int32) -> Int32? {
        guard let p = topics[topic]?.partition(partition), p.leader >= 0, brokers[p.leader] != nil else { return nil }
        return p.leader
    }

    /// Folds a Metadata response in: brokers and controller are replaced; the topics in the response replace
    /// their earlier entries (topics that now report UNKNOWN_TOPIC_OR_PARTITION are removed).
    public mutating func merge(_ response: MetadataResponse, now: NIODeadline = .now()) {
        var brokers: [Int32: BrokerAddress] = [:]
        for broker in response.brokers {
            brokers[broker.nodeId] = BrokerAddress(host: broker.host, port: Int(broker.port))
        }
        self.brokers = brokers
        self.controllerId = response.controllerId
        if let clusterId = response.clusterId { self.clusterId = clusterId }
        for topic in response.topics {
            guard let name = topic.name else { continue }
            if topic.errorCode == .unknownTopicOrPartition || topic.errorCode == .invalidTopicException {
                topics[name] = nil
                refreshedAt[name] = nil
                continue
            }
            topics[name] = TopicMetadata(
                name: name, topicId: topic.topicId, isInternal: topic.isInternal,
                partitions: topic.partitions.map {
                    PartitionMetadata(
                        partition: $0.partitionIndex, leader: $0.leaderId, leaderEpoch: $0.leaderEpoch,
                        replicas: $0.replicaNodes, isr: $0.isrNodes, offlineReplicas: $0.offlineReplicas,
                        errorCode: $0.errorCode)
                },
                errorCode: topic.errorCode)
            refreshedAt[name] = now
        }
    }

    /// Replaces the whole topic list (a Metadata request for all topics).
    public mutating func replaceAll(_ response: MetadataResponse, now: NIODeadline = .now()) {
        topics = [:]
        refreshedAt = [:]
        merge(response, now: now)
    }
}
