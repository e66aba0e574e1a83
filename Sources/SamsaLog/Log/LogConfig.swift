/// The settings of one partition's log, with Kafka's topic-level names and defaults.
///
/// ```swift
/// var config = try LogConfig(properties: ["segment.bytes": "1048576", "cleanup.policy": "compact"])
/// config.flushMessages = 1        // fsync after every append
/// ```
public struct LogConfig: Sendable, Equatable {
    /// `segment.bytes`: a segment rolls before it would grow past this.
    public var segmentBytes: Int = 1 << 30
    /// `segment.ms`: a segment rolls once its first batch is this old.
    public var segmentMs: Int64 = 7 * 24 * 3_600_000
    /// `segment.jitter.ms`
    public var segmentJitterMs: Int64 = 0
    /// `segment.index.bytes`: the preallocated size of each index file; a full index rolls the segment.
    public var segmentIndexBytes: Int = 10 << 20
    /// `index.interval.bytes`: how many bytes of batches between two offset index entries.
    public var indexIntervalBytes: Int = 4096
    /// `flush.messages`: fsync after this many records (default: leave it to the OS, as Kafka does).
    public var flushMessages: Int64 = .max
    /// `flush.ms`: fsync when the oldest unflushed append is this old.
    public var flushMs: Int64 = .max
    /// `retention.ms`: delete segments whose largest timestamp is older (-1: forever).
    public var retentionMs: Int64 = 7 * 24 * 3_600_000
    /// `retention.bytes`: delete the oldest segments while the partition is larger (-1: no limit).
    public var retentionBytes: Int64 = -1
    /// `cleanup.policy`: delete, compact, or both.
    public var cleanupPolicy: CleanupPolicy = .delete
    /// `max.message.bytes`: the largest batch accepted (after compression), as Kafka: 1 MiB + 12.
    public var maxMessageBytes: Int = 1_048_588
    /// `message.timestamp.type`: CreateTime (the producer's) or LogAppendTime (the broker's clock).
    public var messageTimestampType: TimestampType = .createTime
    /// `min.cleanable.dirty.ratio`
    public var minCleanableDirtyRatio: Double = 0.5
    /// `delete.retention.ms`: how long tombstones survive after their segment was cleaned.
    public var deleteRetentionMs: Int64 = 24 * 3_600_000
    /// `min.compaction.lag.ms` / `max.compaction.lag.ms`
    public var minCompactionLagMs: Int64 = 0
    public var maxCompactionLagMs: Int64 = .max
    /// `file.delete.delay.ms`: a deleted segment's files linger (renamed `.deleted`) this long.
    public var fileDeleteDelayMs: Int64 = 60_000
    /// `producer.id.expiration.ms` (a broker setting in Kafka): an idempotent producer's state is forgotten when it
    /// has not written for this long.
    public var producerIdExpirationMs: Int64 = 86_400_000
    /// `compression.type`: `producer` keeps what the producer sent (the only mode Samsa implements).
    public var compressionType: String = "producer"

    public init() {}

    public enum CleanupPolicy: String, Sendable, Equatable, CaseIterable {
        case delete
        case compact
        case compactDelete = "compact,delete"

        public var deletes: Bool { self != .compact }
        public var compacts: Bool { self != .delete }

        /// Parses `delete`, `compact`, and either order of both.
        public init?(kafkaValue: String) {
            let parts = Set(kafkaValue.split(separator: ",").map { $0.trimmingWhitespace().lowercased() })
            switch parts {
            case ["delete"]: self = .delete
            case ["compact"]: self = .compact
            case ["compact", "delete"]: self = .compactDelete
            default: return nil
            }
        }
    }

    /// The topic-level keys this struct understands, in Kafka's spelling.
    public static let keys: [String] = [
        "segment.bytes", "segment.ms", "segment.jitter.ms", "segment.index.bytes", "index.interval.bytes",
        "flush.messages", "flush.ms", "retention.ms", "retention.bytes", "cleanup.policy", "max.message.bytes",
        "message.timestamp.type", "min.cleanable.dirty.ratio", "delete.retention.ms", "min.compaction.lag.ms",
        "max.compaction.lag.ms", "file.delete.delay.ms", "compression.type",
    ]

    /// Applies Kafka topic properties over `base`; an unknown key or a bad value is an error naming the key.
    public init(properties: [String: String], base: LogConfig = LogConfig()) throws(LogConfigError) {
        self = base
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) { try set(key, value) }
    }

    /// Sets one property by its Kafka name.
    public mutating func set(_ key: String, _ value: String) throws(LogConfigError) {
        func int(_ min: Int64, _ max: Int64 = .max) throws(LogConfigError) -> Int64 {
            try LogConfigError.integer(key, value, min, max)
        }
        switch key {
        case "segment.bytes": segmentBytes = Int(try int(14, Int64(Int32.max)))
        case "segment.ms": segmentMs = try int(1)
        case "segment.jitter.ms": segmentJitterMs = try int(0)
        case "segment.index.bytes": segmentIndexBytes = Int(try int(4 * 12, Int64(Int32.max)))
        case "index.interval.bytes": indexIntervalBytes = Int(try int(0, Int64(Int32.max)))
        case "flush.messages": flushMessages = try int(1)
        case "flush.ms": flushMs = try int(0)
        case "retention.ms": retentionMs = try int(-1)
        case "retention.bytes": retentionBytes = try int(-1)
        case "cleanup.policy":
            guard let policy = CleanupPolicy(kafkaValue: value) else {
                throw LogConfigError(key: key, value: value, reason: "expected delete, compact or compact,delete")
            }
            cleanupPolicy = policy
        case "max.message.bytes": maxMessageBytes = Int(try int(0, Int64(Int32.max)))
        case "message.timestamp.type":
            switch value {
            case "CreateTime": messageTimestampType = .createTime
            case "LogAppendTime": messageTimestampType = .logAppendTime
            default: throw LogConfigError(key: key, value: value, reason: "expected CreateTime or LogAppendTime")
            }
        case "min.cleanable.dirty.ratio":
            guard let v = Double(value), v >= 0, v <= 1 else {
                throw LogConfigError(key: key, value: value, reason: "expected a number in 0...1")
            }
            minCleanableDirtyRatio = v
        case "delete.retention.ms": deleteRetentionMs = try int(0)
        case "min.compaction.lag.ms": minCompactionLagMs = try int(0)
        case "max.compaction.lag.ms": maxCompactionLagMs = try int(1)
        case "file.delete.delay.ms": fileDeleteDelayMs = try int(0)
        case "compression.type":
            guard value == "producer" || value == "uncompressed" || CompressionCodec(name: value) != nil else {
                throw LogConfigError(key: key, value: value, reason: "expected producer, uncompressed, gzip, snappy, lz4 or zstd")
            }
            compressionType = value
        default:
            throw LogConfigError(key: key, value: value, reason: "unknown topic configuration")
        }
    }

    /// Every property by its Kafka name, as Kafka prints it (DescribeConfigs, `topics --describe`).
    public var properties: [(key: String, value: String)] {
        [
            ("segment.bytes", "\(segmentBytes)"), ("segment.ms", "\(segmentMs)"),
            ("segment.jitter.ms", "\(segmentJitterMs)"), ("segment.index.bytes", "\(segmentIndexBytes)"),
            ("index.interval.bytes", "\(indexIntervalBytes)"), ("flush.messages", "\(flushMessages)"),
            ("flush.ms", "\(flushMs)"), ("retention.ms", "\(retentionMs)"), ("retention.bytes", "\(retentionBytes)"),
            ("cleanup.policy", cleanupPolicy.rawValue), ("max.message.bytes", "\(maxMessageBytes)"),
            ("message.timestamp.type", messageTimestampType.description),
            ("min.cleanable.dirty.ratio", "\(minCleanableDirtyRatio)"), ("delete.retention.ms", "\(deleteRetentionMs)"),
            ("min.compaction.lag.ms", "\(minCompactionLagMs)"), ("max.compaction.lag.ms", "\(maxCompactionLagMs)"),
            ("file.delete.delay.ms", "\(fileDeleteDelayMs)"), ("compression.type", compressionType),
        ]
    }
}

/// A topic configuration value that cannot be used.
public struct LogConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var key: String
    public var value: String
    public var reason: String
    public var description: String { "invalid value '\(value)' for \(key): \(reason)" }

    /// `value` as an integer in `min...max` (blanks around it allowed), or the error naming `key`.
    static func integer(_ key: String, _ value: String, _ min: Int64, _ max: Int64) throws(LogConfigError) -> Int64 {
        guard let v = Int64(value.trimmingWhitespace()), v >= min, v <= max else {
            throw LogConfigError(key: key, value: value, reason: "expected an integer in \(min)...\(max)")
        }
        return v
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
