/// Where a consumer starts (or restarts, after OFFSET_OUT_OF_RANGE) in a partition.
public enum OffsetSpec: Sendable, Hashable, CustomStringConvertible {
    /// The log start offset.
    case earliest
    /// The log end offset: only records produced from now on.
    case latest
    /// A given offset.
    case offset(Int64)
    /// The first offset whose timestamp is at or after this time (ms since the epoch); the end when none is.
    case timestamp(Int64)

    public var description: String {
        switch self {
        case .earliest: "earliest"
        case .latest: "latest"
        case .offset(let offset): "offset \(offset)"
        case .timestamp(let ms): "timestamp \(ms)"
        }
    }
}

/// The consumer's settings, with Kafka's names and defaults.
///
/// ```swift
/// var config = ConsumerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092"))
/// config.autoOffsetReset = .earliest
/// ```
public struct ConsumerConfig: Sendable {
    public var client: ClientConfig
    /// `fetch.min.bytes`.
    public var fetchMinBytes: Int32 = 1
    /// `fetch.max.bytes`: the most data one fetch returns; also the bound on prefetched data held in memory.
    public var fetchMaxBytes: Int32 = 52_428_800
    /// `fetch.max.wait.ms`: how long the broker may hold a fetch waiting for `fetch.min.bytes`.
    public var fetchMaxWaitMs: Int32 = 500
    /// `max.partition.fetch.bytes`.
    public var maxPartitionFetchBytes: Int32 = 1_048_576
    /// `auto.offset.reset`: where to start without a position; nil (`none`) makes that an error.
    public var autoOffsetReset: OffsetSpec? = .latest
    /// `check.crcs`: verify each batch's CRC32C before reading it.
    public var checkCRCs = true
    /// `isolation.level`: 0 read_uncommitted, 1 read_committed.
    public var isolationLevel: Int8 = 0
    /// `retry.backoff.ms`.
    public var retryBackoffMs: Int64 = 100

    // MARK: Consumer groups

    /// `group.id`: the group `subscribe` joins (nil: no group; `assign` only).
    public var groupId: String?
    /// `group.instance.id`: a static member's stable identity (KIP-345); nil for a dynamic member.
    public var groupInstanceId: String?
    /// `session.timeout.ms`: the coordinator drops a member it has not heard from for this long.
    public var sessionTimeoutMs: Int32 = 45_000
    /// `heartbeat.interval.ms`: how often a member tells the coordinator it is alive.
    public var heartbeatIntervalMs: Int64 = 3_000
    /// `max.poll.interval.ms`: a member that does not poll for this long leaves the group; also the rebalance
    /// timeout sent in JoinGroup.
    public var maxPollIntervalMs: Int32 = 300_000
    /// `enable.auto.commit`: commit the consumed positions every `auto.commit.interval.ms`, before a rebalance,
    /// and on close.
    public var enableAutoCommit = true
    /// `auto.commit.interval.ms`.
    public var autoCommitIntervalMs: Int64 = 5_000
    /// `partition.assignment.strategy`, in order of preference.
    public var assignors: [any PartitionAssignor] = [RangeAssignor(), RoundRobinAssignor()]
    /// `client.rack`, sent in the subscription.
    public var clientRack: String?
    /// `default.api.timeout.ms`: how long `commit` and `committed` may block.
    public var defaultApiTimeoutMs: Int64 = 60_000

    public init(client: ClientConfig) {
        self.client = client
    }

    /// Checks the group settings against each other, as Kafka's consumer does at construction.
    public func validateGroupSettings() throws(ClientError) {
        guard groupId != nil else { return }
        if heartbeatIntervalMs >= Int64(sessionTimeoutMs) {
            throw .invalidConfig(
                name: "heartbeat.interval.ms", value: "\(heartbeatIntervalMs)",
                reason: "must be lower than session.timeout.ms (\(sessionTimeoutMs))")
        }
        if assignors.isEmpty {
            throw .invalidConfig(name: "partition.assignment.strategy", value: "", reason: "names no assignor")
        }
        if let groupInstanceId, groupInstanceId.isEmpty {
            throw .invalidConfig(name: "group.instance.id", value: "", reason: "must not be empty")
        }
    }

    /// Applies Kafka consumer properties; returns the keys it does not know.
    @discardableResult
    public mutating func apply(_ properties: [String: String]) throws(ClientError) -> Set<String> {
        var unused = try client.apply(properties)
        for key in unused {
            let value = properties[key]!
            switch key {
            case "fetch.min.bytes": fetchMinBytes = Int32(try Properties.int(key, value, min: 0, max: Int(Int32.max)))
            case "fetch.max.bytes": fetchMaxBytes = Int32(try Properties.int(key, value, min: 1, max: Int(Int32.max)))
            case "fetch.max.wait.ms": fetchMaxWaitMs = Int32(try Properties.int(key, value, min: 0, max: Int(Int32.max)))
            case "max.partition.fetch.bytes":
                maxPartitionFetchBytes = Int32(try Properties.int(key, value, min: 1, max: Int(Int32.max)))
            case "auto.offset.reset":
                switch value.trimmingWhitespace().lowercased() {
                case "earliest": autoOffsetReset = .earliest
                case "latest": autoOffsetReset = .latest
                case "none": autoOffsetReset = nil
                default: throw .invalidConfig(name: key, value: value, reason: "expected earliest, latest or none")
                }
            case "check.crcs": checkCRCs = value.trimmingWhitespace().lowercased() == "true"
            case "isolation.level":
                switch value.trimmingWhitespace().lowercased() {
                case "read_uncommitted": isolationLevel = 0
                case "read_committed": isolationLevel = 1
                default: throw .invalidConfig(name: key, value: value, reason: "expected read_uncommitted or read_committed")
                }
            case "retry.backoff.ms": retryBackoffMs = try Properties.int64(key, value, min: 0)
            case "group.id":
                let id = value.trimmingWhitespace()
                groupId = id.isEmpty ? nil : id
            case "group.instance.id":
                let id = value.trimmingWhitespace()
                groupInstanceId = id.isEmpty ? nil : id
            case "session.timeout.ms": sessionTimeoutMs = Int32(try Properties.int(key, value, min: 1, max: Int(Int32.max)))
            case "heartbeat.interval.ms": heartbeatIntervalMs = try Properties.int64(key, value, min: 1)
            case "max.poll.interval.ms": maxPollIntervalMs = Int32(try Properties.int(key, value, min: 1, max: Int(Int32.max)))
            case "enable.auto.commit": enableAutoCommit = try Properties.bool(key, value)
            case "auto.commit.interval.ms": autoCommitIntervalMs = try Properties.int64(key, value, min: 0)
            case "partition.assignment.strategy":
                var chosen: [any PartitionAssignor] = []
                for name in value.split(separator: ",").map({ $0.trimmingWhitespace() }) where !name.isEmpty {
                    guard let assignor = PartitionAssignors.named(name) else {
                        throw .invalidConfig(name: key, value: value, reason: "unknown assignor '\(name)' (samsa offers range and roundrobin)")
                    }
                    chosen.append(assignor)
                }
                guard !chosen.isEmpty else { throw .invalidConfig(name: key, value: value, reason: "names no assignor") }
                assignors = chosen
            case "client.rack":
                let rack = value.trimmingWhitespace()
                clientRack = rack.isEmpty ? nil : rack
            case "default.api.timeout.ms": defaultApiTimeoutMs = try Properties.int64(key, value, min: 0)
            case "key.deserializer", "value.deserializer", "receive.buffer.bytes":
                break
            default:
                continue
            }
            unused.remove(key)
        }
        return unused
    }
}
