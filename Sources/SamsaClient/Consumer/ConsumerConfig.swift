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

    public init(client: ClientConfig) {
        self.client = client
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
            case "key.deserializer", "value.deserializer", "receive.buffer.bytes", "enable.auto.commit":
                break
            default:
                continue
            }
            unused.remove(key)
        }
        return unused
    }
}
