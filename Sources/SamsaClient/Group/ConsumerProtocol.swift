import NIOCore
import SamsaLog
import SamsaProtocol

/// The consumer protocol: what consumers put in JoinGroup's protocol metadata (their subscription) and what the
/// leader puts in SyncGroup (each member's assignment). The broker passes both through untouched; only
/// consumers read them, so they must match Kafka's `ConsumerProtocolSubscription` / `ConsumerProtocolAssignment`
/// (versions 0-3, never flexible) byte for byte for Java, librdkafka and kafka-python members to share a group.
///
/// As in Kafka, a newer version than we know is read with the fields we know (versions only ever add fields
/// at the end), so that a group can mix client versions.
public enum ConsumerProtocol {
    /// JoinGroup's protocol type for consumers.
    public static let protocolType = "consumer"
    /// The version this client writes.
    public static let subscriptionVersion: Int16 = 3
    public static let assignmentVersion: Int16 = 3
}

/// A member's subscription (JoinGroup protocol metadata).
public struct ConsumerProtocolSubscription: Sendable, Equatable {
    public var topics: [String]
    public var userData: ByteBuffer?
    /// v1+: the partitions the member owns now (cooperative assignors use it; the eager ones ignore it).
    public var ownedPartitions: [TopicPartition]
    /// v2+: the generation the owned partitions are from (-1: none).
    public var generationId: Int32
    /// v3+: the member's rack (`client.rack`).
    public var rackId: String?

    public init(
        topics: [String], userData: ByteBuffer? = nil, ownedPartitions: [TopicPartition] = [], generationId: Int32 = -1,
        rackId: String? = nil
    ) {
        self.topics = topics
        self.userData = userData
        self.ownedPartitions = ownedPartitions
        self.generationId = generationId
        self.rackId = rackId
    }

    /// The bytes of this subscription at `version` (0...3).
    public func encode(version: Int16 = ConsumerProtocol.subscriptionVersion) throws(ProtocolError) -> ByteBuffer {
        precondition((0...3).contains(version), "consumer protocol subscription versions are 0...3")
        var writer = WireWriter()
        writer.writeInt16(version)
        try writer.writeArrayCount(topics.count, compact: false, "ConsumerProtocolSubscription.Topics")
        for topic in topics { try writer.writeString(topic, compact: false, "ConsumerProtocolSubscription.Topics") }
        try writer.writeNullableBytes(userData, compact: false, "ConsumerProtocolSubscription.UserData")
        if version >= 1 {
            try ConsumerProtocolWire.writePartitions(ownedPartitions, to: &writer, "ConsumerProtocolSubscription.OwnedPartitions")
        }
        if version >= 2 { writer.writeInt32(generationId) }
        if version >= 3 { try writer.writeNullableString(rackId, compact: false, "ConsumerProtocolSubscription.RackId") }
        return writer.buffer
    }

    /// Reads a subscription of any version; fields a newer version added after ours are ignored.
    public static func decode(_ buffer: ByteBuffer) throws(ProtocolError) -> ConsumerProtocolSubscription {
        var reader = WireReader(buffer)
        let version = try reader.readInt16("ConsumerProtocolSubscription.Version")
        guard version >= 0 else {
            throw ProtocolError(.unsupportedVersion(apiKey: -1, version: version), field: "ConsumerProtocolSubscription.Version")
        }
        let count = try reader.readArrayCount(compact: false, minElementSize: 2, "ConsumerProtocolSubscription.Topics")
        var topics: [String] = []
        topics.reserveCapacity(count)
        for _ in 0..<count { topics.append(try reader.readString(compact: false, "ConsumerProtocolSubscription.Topics")) }
        let userData = try reader.readNullableBytes(compact: false, "ConsumerProtocolSubscription.UserData")
        var subscription = ConsumerProtocolSubscription(topics: topics, userData: userData)
        if version >= 1 {
            subscription.ownedPartitions = try ConsumerProtocolWire.readPartitions(&reader, "ConsumerProtocolSubscription.OwnedPartitions")
        }
        if version >= 2 { subscription.generationId = try reader.readInt32("ConsumerProtocolSubscription.GenerationId") }
        if version >= 3 { subscription.rackId = try reader.readNullableString(compact: false, "ConsumerProtocolSubscription.RackId") }
        return subscription
    }
}

/// A member's assignment (SyncGroup assignment bytes).
public struct ConsumerProtocolAssignment: Sendable, Equatable {
    /// The assigned partitions, grouped by topic in the encoding.
    public var partitions: [TopicPartition]
    public var userData: ByteBuffer?

    public init(partitions: [TopicPartition], userData: ByteBuffer? = nil) {
        self.partitions = partitions
        self.userData = userData
    }

    /// The bytes at `version` (0...3; the versions differ only in their number).
    public func encode(version: Int16 = ConsumerProtocol.assignmentVersion) throws(ProtocolError) -> ByteBuffer {
        precondition((0...3).contains(version), "consumer protocol assignment versions are 0...3")
        var writer = WireWriter()
        writer.writeInt16(version)
        try ConsumerProtocolWire.writePartitions(partitions, to: &writer, "ConsumerProtocolAssignment.AssignedPartitions")
        try writer.writeNullableBytes(userData, compact: false, "ConsumerProtocolAssignment.UserData")
        return writer.buffer
    }

    /// Reads an assignment of any version. An empty buffer is an empty assignment (what a coordinator sends a
    /// member that the leader gave nothing, or when the leader's SyncGroup left it out).
    public static func decode(_ buffer: ByteBuffer) throws(ProtocolError) -> ConsumerProtocolAssignment {
        guard buffer.readableBytes > 0 else { return ConsumerProtocolAssignment(partitions: []) }
        var reader = WireReader(buffer)
        let version = try reader.readInt16("ConsumerProtocolAssignment.Version")
        guard version >= 0 else {
            throw ProtocolError(.unsupportedVersion(apiKey: -1, version: version), field: "ConsumerProtocolAssignment.Version")
        }
        let partitions = try ConsumerProtocolWire.readPartitions(&reader, "ConsumerProtocolAssignment.AssignedPartitions")
        let userData = try reader.readNullableBytes(compact: false, "ConsumerProtocolAssignment.UserData")
        return ConsumerProtocolAssignment(partitions: partitions, userData: userData)
    }
}

/// The `[]TopicPartition` layout both messages share: topic name, then its partitions as int32s.
enum ConsumerProtocolWire {
    static func writePartitions(_ partitions: [TopicPartition], to writer: inout WireWriter, _ field: StaticString) throws(ProtocolError) {
        // Grouped by topic in first-seen order, partitions in the order given (Kafka's encoder keeps both).
        var order: [String] = []
        var byTopic: [String: [Int32]] = [:]
        for tp in partitions {
            if byTopic[tp.topic] == nil { order.append(tp.topic) }
            byTopic[tp.topic, default: []].append(tp.partition)
        }
        try writer.writeArrayCount(order.count, compact: false, field)
        for topic in order {
            try writer.writeString(topic, compact: false, field)
            let indexes = byTopic[topic]!
            try writer.writeArrayCount(indexes.count, compact: false, field)
            for index in indexes { writer.writeInt32(index) }
        }
    }

    static func readPartitions(_ reader: inout WireReader, _ field: StaticString) throws(ProtocolError) -> [TopicPartition] {
        let topics = try reader.readArrayCount(compact: false, minElementSize: 6, field)
        var result: [TopicPartition] = []
        for _ in 0..<topics {
            let topic = try reader.readString(compact: false, field)
            let count = try reader.readArrayCount(compact: false, minElementSize: 4, field)
            result.reserveCapacity(result.count + count)
            for _ in 0..<count { result.append(TopicPartition(topic, try reader.readInt32(field))) }
        }
        return result
    }
}
