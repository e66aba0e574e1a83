import NIOCore
import SamsaProtocol

/// The one thing the coordinator reads from the consumer protocol's opaque member metadata: the topics a member
/// subscribes to, for offset expiration and OffsetDelete (GROUP_SUBSCRIBED_TO_TOPIC). Read as Kafka does, with the
/// version-0 layout that every later version extends: int16 version, then `[topic string]`. Everything else in
/// the bytes (user data, owned partitions, rack) is ignored; assignments are never parsed.
enum ConsumerProtocol {
    /// The protocol type of Java-style consumer groups.
    static let protocolType = "consumer"

    /// The subscribed topics in a member's metadata; nil when the bytes do not hold a subscription.
    static func subscribedTopics(_ metadata: ByteBuffer) -> Set<String>? {
        var r = WireReader(metadata)
        do {
            let version = try r.readInt16("ConsumerProtocolSubscription.Version")
            guard version >= 0 else { return nil }
            let count = try r.readArrayCount(compact: false, minElementSize: 2, "ConsumerProtocolSubscription.Topics")
            var topics = Set<String>()
            for _ in 0..<count { topics.insert(try r.readString(compact: false, "ConsumerProtocolSubscription.Topics")) }
            return topics
        } catch {
            return nil
        }
    }
}
