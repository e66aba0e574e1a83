import SamsaLog

/// One member of a group as the leader's assignor sees it.
public struct GroupMemberSubscription: Sendable, Equatable {
    public var memberId: String
    /// `group.instance.id` for static members.
    public var groupInstanceId: String?
    public var subscription: ConsumerProtocolSubscription

    public init(memberId: String, groupInstanceId: String? = nil, subscription: ConsumerProtocolSubscription) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.subscription = subscription
    }

    /// Kafka's `MemberInfo` order: static members first, by instance id; then dynamic members by member id.
    static func precedes(_ a: GroupMemberSubscription, _ b: GroupMemberSubscription) -> Bool {
        switch (a.groupInstanceId, b.groupInstanceId) {
        case let (x?, y?): return x.utf16.lexicographicallyPrecedes(y.utf16)
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a.memberId.utf16.lexicographicallyPrecedes(b.memberId.utf16)
        }
    }
}

/// A client-side partition assignor (Kafka's `ConsumerPartitionAssignor`): the group leader runs it over every
/// member's subscription and the partition counts of the subscribed topics, and sends each member its share in
/// SyncGroup. The name is what JoinGroup advertises; the coordinator picks one every member supports.
public protocol PartitionAssignor: Sendable {
    var name: String { get }
    /// Every member's partitions (every member appears, possibly with none). Topics missing from
    /// `partitionsPerTopic` (unknown to the cluster) are left out.
    func assign(partitionsPerTopic: [String: Int32], members: [GroupMemberSubscription]) -> [String: [TopicPartition]]
}

/// Kafka's `RangeAssignor` ("range"): topic by topic, the partitions in order are cut into contiguous ranges, one
/// per subscribed member in `MemberInfo` order; the first `partitions % members` members get one more.
///
/// Two members C0, C1 and topics t0, t1 of 3 partitions each: C0 gets t0-0, t0-1, t1-0, t1-1; C1 gets t0-2, t1-2.
public struct RangeAssignor: PartitionAssignor {
    public let name = "range"

    public init() {}

    public func assign(partitionsPerTopic: [String: Int32], members: [GroupMemberSubscription]) -> [String: [TopicPartition]] {
        var assignment: [String: [TopicPartition]] = [:]
        for member in members { assignment[member.memberId] = [] }
        var consumersPerTopic: [String: [GroupMemberSubscription]] = [:]
        for member in members {
            for topic in Set(member.subscription.topics) { consumersPerTopic[topic, default: []].append(member) }
        }
        for topic in consumersPerTopic.keys.sorted() {
            guard let count = partitionsPerTopic[topic], count > 0 else { continue }
            let consumers = consumersPerTopic[topic]!.sorted(by: GroupMemberSubscription.precedes)
            let perConsumer = Int(count) / consumers.count
            let withExtra = Int(count) % consumers.count
            for (i, consumer) in consumers.enumerated() {
                let start = perConsumer * i + min(i, withExtra)
                let length = perConsumer + (i < withExtra ? 1 : 0)
                for p in start..<(start + length) {
                    assignment[consumer.memberId]!.append(TopicPartition(topic, Int32(p)))
                }
            }
        }
        return assignment
    }
}

/// Kafka's `RoundRobinAssignor` ("roundrobin"): every subscribed partition, sorted by topic then partition, goes
/// to the next member in `MemberInfo` order (circularly) that subscribes to its topic.
public struct RoundRobinAssignor: PartitionAssignor {
    public let name = "roundrobin"

    public init() {}

    public func assign(partitionsPerTopic: [String: Int32], members: [GroupMemberSubscription]) -> [String: [TopicPartition]] {
        var assignment: [String: [TopicPartition]] = [:]
        for member in members { assignment[member.memberId] = [] }
        let sorted = members.sorted(by: GroupMemberSubscription.precedes)
        guard !sorted.isEmpty else { return assignment }
        let subscribed = sorted.map { Set($0.subscription.topics) }
        var topics = Set<String>()
        for set in subscribed { topics.formUnion(set) }
        var next = 0
        for topic in topics.sorted() {
            guard let count = partitionsPerTopic[topic] else { continue }
            for p in 0..<count {
                // Some member subscribes to `topic`, so this ends within one lap.
                while !subscribed[next].contains(topic) { next = (next + 1) % sorted.count }
                assignment[sorted[next].memberId]!.append(TopicPartition(topic, p))
                next = (next + 1) % sorted.count
            }
        }
        return assignment
    }
}

/// The assignors `partition.assignment.strategy` may name.
public enum PartitionAssignors {
    /// By the names Kafka's clients accept (the Java class names too).
    public static func named(_ name: String) -> (any PartitionAssignor)? {
        switch name.trimmingWhitespace() {
        case "range", "org.apache.kafka.clients.consumer.RangeAssignor": RangeAssignor()
        case "roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor": RoundRobinAssignor()
        default: nil
        }
    }
}
