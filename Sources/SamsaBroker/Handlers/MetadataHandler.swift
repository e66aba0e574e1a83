import NIOCore
import SamsaLog
import SamsaProtocol

/// Metadata (key 3): this broker, and the topics asked for (all of them for a null list, or an empty one in v0),
/// each partition led by this broker. Topics that do not exist are created first when the request allows it
/// (v4+) and `auto.create.topics.enable` is on, with `num.partitions` partitions.
struct MetadataHandler: ApiHandler {
    typealias Request = MetadataRequest
    let broker: Broker

    func handle(_ request: MetadataRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let listenerName = context.connection.listenerName
        let allTopics = request.topics == nil || (context.apiVersion == 0 && request.topics?.isEmpty == true)
        let wanted = request.topics ?? []
        var toCreate: [String] = []
        if !allTopics && request.allowAutoTopicCreation && broker.config.autoCreateTopics {
            var seen = Set<String>()
            for entry in wanted {
                guard let name = entry.name, TopicPartition.isValidTopicName(name), broker.topics.topic(name) == nil,
                    seen.insert(name).inserted
                else { continue }
                toCreate.append(name)
            }
        }
        let broker = self.broker
        let encoder = context.encoder
        let version = context.apiVersion
        guard !toCreate.isEmpty else {
            return context.reply(Self.response(broker: broker, listenerName: listenerName, all: allTopics, wanted: wanted, version: version))
        }
        let partitions = broker.config.numPartitions
        let creations = toCreate
        return context.offload {
            for name in creations {
                if name == OffsetsTopic.name {
                    // Asking for it creates it as the group coordinator would (compacted, its partition count).
                    do { try broker.groupCoordinator.offsetsTopic.create() } catch {
                        broker.logger.warning("auto-creating topic \(name): \(error)")
                    }
                    continue
                }
                do {
                    try broker.topics.create(name: name, partitions: partitions)
                } catch TopicError.alreadyExists {
                    // Created meanwhile by another request: fine.
                } catch {
                    broker.logger.warning("auto-creating topic \(name): \(error)")
                }
            }
            return try encoder.encode(
                Self.response(broker: broker, listenerName: listenerName, all: allTopics, wanted: wanted, version: version))
        }
    }

    static func response(
        broker: Broker, listenerName: String, all: Bool, wanted: [MetadataRequest.MetadataRequestTopic], version: Int16
    ) -> MetadataResponse {
        let nodeId = broker.config.nodeId
        let listener = broker.advertisedListener(listenerName) ?? broker.config.advertisedListeners[0]
        var topics: [MetadataResponse.MetadataResponseTopic] = []
        func describe(_ topic: TopicMetadata) -> MetadataResponse.MetadataResponseTopic {
            MetadataResponse.MetadataResponseTopic(
                errorCode: .none, name: topic.name, topicId: topic.id, isInternal: OffsetsTopic.isInternal(topic.name),
                partitions: (0..<topic.partitionCount).map { p in
                    MetadataResponse.MetadataResponsePartition(
                        errorCode: .none, partitionIndex: p, leaderId: nodeId, leaderEpoch: 0, replicaNodes: [nodeId],
                        isrNodes: [nodeId], offlineReplicas: [])
                })
        }
        if all {
            topics = broker.topics.all.values.sorted { $0.name < $1.name }.map(describe)
        } else {
            var seen = Set<String>()
            for entry in wanted {
                if let name = entry.name {
                    guard seen.insert(name).inserted else { continue }
                    if let topic = broker.topics.topic(name) {
                        topics.append(describe(topic))
                    } else {
                        let code: ErrorCode = TopicPartition.isValidTopicName(name) ? .unknownTopicOrPartition : .invalidTopicException
                        topics.append(MetadataResponse.MetadataResponseTopic(errorCode: code, name: name))
                    }
                } else if let topic = broker.topics.topic(id: entry.topicId) {
                    guard seen.insert(topic.name).inserted else { continue }
                    topics.append(describe(topic))
                } else {
                    topics.append(MetadataResponse.MetadataResponseTopic(errorCode: .unknownTopicId, name: nil, topicId: entry.topicId))
                }
            }
        }
        return MetadataResponse(
            throttleTimeMs: 0,
            brokers: [MetadataResponse.MetadataResponseBroker(nodeId: nodeId, host: listener.host, port: Int32(listener.port), rack: nil)],
            clusterId: broker.clusterId, controllerId: nodeId, topics: topics)
    }
}
