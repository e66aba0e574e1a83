/// The group coordinator's settings, with Kafka's keys and defaults (read by `BrokerConfig`).
///
/// ```swift
/// var config = try BrokerConfig(properties: ["group.initial.rebalance.delay.ms": "0"])
/// config.groups.initialRebalanceDelayMs      // 0
/// ```
public struct GroupCoordinatorConfig: Sendable, Equatable {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of a new (empty) group waits for more
    /// members, extended by this much each time one joins, up to the rebalance timeout.
    public var initialRebalanceDelayMs: Int32 = 3000
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`: the session timeouts a JoinGroup may ask
    /// for (INVALID_SESSION_TIMEOUT outside them).
    public var minSessionTimeoutMs: Int32 = 6000
    public var maxSessionTimeoutMs: Int32 = 1_800_000
    /// `group.max.size`: members one group may have (GROUP_MAX_SIZE_REACHED beyond).
    public var maxSize: Int32 = Int32.max
    /// How long a new member's parked JoinGroup may wait before the member is dropped (Kafka's
    /// `classicGroupNewMemberJoinTimeoutMs`, 5 minutes, not configurable there either).
    public var newMemberJoinTimeoutMs: Int32 = 300_000
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when the broker creates it.
    public var offsetsTopicPartitions: Int32 = 50
    /// `offsets.topic.segment.bytes`: `segment.bytes` of `__consumer_offsets`.
    public var offsetsTopicSegmentBytes: Int32 = 104_857_600
    /// `offsets.retention.minutes`: how long the offsets of an empty group (or a simple consumer's) are kept.
    public var offsetsRetentionMs: Int64 = 7 * 24 * 60 * 60 * 1000
    /// `offsets.retention.check.interval.ms`: how often expired offsets are looked for.
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000
    /// `offset.metadata.max.bytes`: the longest metadata string (UTF-8 bytes) a commit may carry
    /// (OFFSET_METADATA_TOO_LARGE); at most 32767, what a stored record can hold.
    public var offsetMetadataMaxBytes: Int32 = 4096

    public init() {}

    /// The keys `BrokerConfig` reads into this struct.
    static let keys: Set<String> = [
        "group.initial.rebalance.delay.ms", "group.min.session.timeout.ms", "group.max.session.timeout.ms",
        "group.max.size", "offsets.topic.num.partitions", "offsets.topic.segment.bytes", "offsets.retention.minutes",
        "offsets.retention.check.interval.ms", "offset.metadata.max.bytes",
    ]

    /// Reads the keys present in `map`; a bad value names its key.
    init(properties map: [String: String]) throws(ConfigError) {
        func int(_ key: String, _ range: ClosedRange<Int64>) throws(ConfigError) -> Int64? {
            guard let text = map[key] else { return nil }
            guard let value = Int64(text), range.contains(value) else {
                throw ConfigError(key: key, value: text, reason: "expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        let int32Max = Int64(Int32.max)
        if let n = try int("group.initial.rebalance.delay.ms", 0...int32Max) { initialRebalanceDelayMs = Int32(n) }
        if let n = try int("group.min.session.timeout.ms", 1...int32Max) { minSessionTimeoutMs = Int32(n) }
        if let n = try int("group.max.session.timeout.ms", 1...int32Max) { maxSessionTimeoutMs = Int32(n) }
        guard minSessionTimeoutMs <= maxSessionTimeoutMs else {
            throw ConfigError(
                key: "group.min.session.timeout.ms", value: "\(minSessionTimeoutMs)",
                reason: "must not exceed group.max.session.timeout.ms (\(maxSessionTimeoutMs))")
        }
        if let n = try int("group.max.size", 1...int32Max) { maxSize = Int32(n) }
        if let n = try int("offsets.topic.num.partitions", 1...Int64(TopicManager.maxPartitionsPerTopic)) {
            offsetsTopicPartitions = Int32(n)
        }
        if let n = try int("offsets.topic.segment.bytes", 14...int32Max) { offsetsTopicSegmentBytes = Int32(n) }
        if let n = try int("offsets.retention.minutes", 1...(Int64.max / 60_000)) { offsetsRetentionMs = n * 60_000 }
        if let n = try int("offsets.retention.check.interval.ms", 1...int32Max) { offsetsRetentionCheckIntervalMs = n }
        if let n = try int("offset.metadata.max.bytes", 0...Int64(Int16.max)) { offsetMetadataMaxBytes = Int32(n) }
    }
}
