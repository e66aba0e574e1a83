/// The lines `kafka-topics.sh --describe` prints, from this client's metadata.
///
/// ```
/// Topic: quickstart-events	TopicId: NPmZHyhbR9y00wMglMH2sg	PartitionCount: 1	ReplicationFactor: 1	Configs: segment.bytes=1073741824
/// 	Topic: quickstart-events	Partition: 0	Leader: 1	Replicas: 1	Isr: 1	Elr: N/A	LastKnownElr: N/A
/// ```
///
/// `Elr` and `LastKnownElr` come from DescribeTopicPartitions, which this client does not use; Kafka's tool
/// prints `N/A` for them in that case too.
public enum TopicCommandFormat {
    /// The topic line: `Configs` lists the entries whose value is not the built-in default, in the order the
    /// broker returned them.
    public static func topicLine(_ topic: TopicDescription, configs: [ConfigEntry]) -> String {
        let overrides = configs.filter { !$0.isDefault }.map { "\($0.name)=\($0.value ?? "null")" }.joined(separator: ",")
        var line = "Topic: \(topic.name)"
        if topic.topicId != .zero { line += "\tTopicId: \(topic.topicId)" }
        line += "\tPartitionCount: \(topic.partitions.count)"
        line += "\tReplicationFactor: \(topic.partitions.first?.replicas.count ?? 0)"
        line += "\tConfigs: \(overrides)"
        return line
    }

    /// One partition line (it starts with a tab).
    public static func partitionLine(topic: String, _ partition: PartitionMetadata) -> String {
        let leader = partition.leader >= 0 ? String(partition.leader) : "none"
        let replicas = partition.replicas.map(String.init).joined(separator: ",")
        let isr = partition.isr.map(String.init).joined(separator: ",")
        return "\tTopic: \(topic)\tPartition: \(partition.partition)\tLeader: \(leader)\tReplicas: \(replicas)\tIsr: \(isr)"
            + "\tElr: N/A\tLastKnownElr: N/A"
    }

    /// Kafka's warning for names with both kinds of collision characters: printed for any `.` or `_`.
    public static func collisionWarning(for topic: String) -> String? {
        guard topic.contains(".") || topic.contains("_") else { return nil }
        return "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could "
            + "collide. To avoid issues it is best to use either, but not both."
    }
}
