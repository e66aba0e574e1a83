import NIOCore
import SamsaLog

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The broker's settings, read from Kafka's `server.properties` format with Kafka's key names.
///
/// Broker-level `log.*` settings (`log.segment.bytes`, `log.retention.hours`, `message.max.bytes`...) become
/// the `LogConfig` every topic starts from; a topic's own overrides (CreateTopics, IncrementalAlterConfigs)
/// apply on top. Unknown keys are kept as warnings; a bad value is a `ConfigError` naming the key.
///
/// ```swift
/// var config = try BrokerConfig.load(path: "config/server.properties", overrides: ["num.partitions=3"])
/// config.logDefaults.segmentBytes          // from log.segment.bytes
/// for warning in config.warnings { print(warning) }
/// ```
public struct BrokerConfig: Sendable {
    /// `node.id` (or `broker.id`).
    public var nodeId: Int32 = 1
    /// `listeners`, only those this broker serves (PLAINTEXT, not controller listeners).
    public var listeners: [Listener] = [Listener(name: "PLAINTEXT", host: "127.0.0.1", port: 9092)]
    /// What clients are told to connect to, one per served listener, by listener name.
    public var advertisedListeners: [Listener] = [Listener(name: "PLAINTEXT", host: "127.0.0.1", port: 9092)]
    /// `log.dirs` / `log.dir`: the data directory (one).
    public var logDirectory: String = "./data"
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    public var numPartitions: Int32 = 1
    /// `default.replication.factor`: 1, the only factor a single broker can give.
    public var defaultReplicationFactor: Int16 = 1
    /// `auto.create.topics.enable`: Metadata requests create the topics they name.
    public var autoCreateTopics = true
    /// `delete.topic.enable`
    public var deleteTopicEnable = true
    /// `socket.request.max.bytes`: a request frame larger than this closes its connection.
    public var socketRequestMaxBytes: Int = 104_857_600
    /// `fetch.max.bytes`: the most a fetch response carries, whatever the client asks (the first batch still
    /// comes whole). Kafka's default is 55 MiB; Samsa's is 16 MiB, measured: clients on glibc (librdkafka) get a
    /// fresh mmap, and a page fault per 4 KiB, for every response over 32 MiB, which made a 50 MiB response
    /// slower per byte than several 16 MiB ones (scripts/perf/README.md).
    public var fetchMaxBytes: Int = 16 << 20
    /// `socket.send.buffer.bytes` / `socket.receive.buffer.bytes`: -1 leaves the system's (auto-tuned) size.
    public var socketSendBufferBytes: Int = -1
    public var socketReceiveBufferBytes: Int = -1
    /// `num.network.threads`: event loop threads (default: one per core).
    public var numNetworkThreads: Int = max(1, System.coreCount)
    /// `num.io.threads`: threads for work that may block (fsync, topic creation).
    public var numIoThreads: Int = 8
    /// `queued.max.requests`: requests in flight on one connection before the broker stops reading from it.
    public var maxInFlightRequestsPerConnection: Int = 500
    /// The `LogConfig` every topic starts from.
    public var logDefaults = LogConfig()
    /// `log.retention.check.interval.ms`: how often retention runs over every log.
    public var retentionCheckIntervalMs: Int64 = 300_000
    /// The `log.cleaner.*` settings (compaction threads, dedupe buffer, I/O throttle).
    public var cleaner = CleanerConfig()
    /// The group coordinator's `group.*` and `offsets.*` settings.
    public var groups = GroupCoordinatorConfig()
    /// Every key set by the file or an override, with its value (DescribeConfigs reports these as
    /// STATIC_BROKER_CONFIG).
    public var staticKeys: [String: String] = [:]
    /// One line per key that was not understood or has no effect.
    public var warnings: [String] = []
    /// Kafka keys accepted without effect (single broker, no TLS), reported once at start-up.
    public var ignoredKeys: [String] = []

    public init() {}

    /// Reads `path` (nil: built-in defaults) and applies `overrides` (`key=value`) on top.
    public static func load(path: String?, overrides: [String] = []) throws(ConfigError) -> BrokerConfig {
        var entries: [(key: String, value: String)] = []
        if let path {
            let text = try readFile(path)
            entries = try JavaProperties.parse(text).map { ($0.key, $0.value) }
        }
        for override in overrides {
            guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
                throw ConfigError(key: nil, value: override, reason: "--override '\(override)' is not of the form key=value")
            }
            entries.append((String(override[..<eq]).trimmingBlanks(), String(override[override.index(after: eq)...])))
        }
        return try BrokerConfig(entries: entries)
    }

    /// Settings from key-value pairs; a key given twice keeps its last value (as Java's Properties).
    public init(properties: [String: String]) throws(ConfigError) {
        try self.init(entries: properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    public init(entries: [(key: String, value: String)]) throws(ConfigError) {
        var map: [String: String] = [:]
        for (key, value) in entries { map[key] = value.trimmingBlanks() }
        self.init()
        staticKeys = map
        try apply(map)
    }

    // MARK: Keys

    /// Broker keys that set a topic-level default, with the topic key they set (Kafka's synonyms).
    public static let logKeySynonyms: [(broker: String, topic: String)] = [
        ("log.segment.bytes", "segment.bytes"), ("log.roll.ms", "segment.ms"), ("log.roll.jitter.ms", "segment.jitter.ms"),
        ("log.index.size.max.bytes", "segment.index.bytes"), ("log.index.interval.bytes", "index.interval.bytes"),
        ("log.flush.interval.messages", "flush.messages"), ("log.flush.interval.ms", "flush.ms"),
        ("log.retention.ms", "retention.ms"), ("log.retention.bytes", "retention.bytes"),
        ("log.cleanup.policy", "cleanup.policy"), ("message.max.bytes", "max.message.bytes"),
        ("log.message.timestamp.type", "message.timestamp.type"),
        ("log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio"),
        ("log.cleaner.delete.retention.ms", "delete.retention.ms"),
        ("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"),
        ("log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms"),
        ("log.segment.delete.delay.ms", "file.delete.delay.ms"), ("compression.type", "compression.type"),
    ]

    /// The broker keys that also feed a topic key through a unit conversion (`log.retention.hours`).
    static let derivedLogKeys: [(broker: String, topic: String, factorMs: Int64)] = [
        ("log.retention.minutes", "retention.ms", 60_000), ("log.retention.hours", "retention.ms", 3_600_000),
        ("log.roll.hours", "segment.ms", 3_600_000), ("log.roll.jitter.hours", "segment.jitter.ms", 3_600_000),
    ]

    /// Keys the broker itself reads.
    static let brokerKeys: Set<String> = [
        "node.id", "broker.id", "listeners", "advertised.listeners", "listener.security.protocol.map",
        "controller.listener.names", "log.dirs", "log.dir", "num.partitions", "default.replication.factor",
        "auto.create.topics.enable", "delete.topic.enable", "socket.request.max.bytes", "fetch.max.bytes",
        "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "num.network.threads", "num.io.threads",
        "queued.max.requests",
    ]

    /// Kafka keys with no effect on a single PLAINTEXT broker: accepted quietly.
    static let acceptedWithoutEffect: Set<String> = [
        "process.roles", "controller.quorum.voters", "controller.quorum.bootstrap.servers", "inter.broker.listener.name",
        "num.recovery.threads.per.data.dir", "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr",
        "zookeeper.connect",
        "zookeeper.connection.timeout.ms", "min.insync.replicas",
        "unclean.leader.election.enable", "log.message.format.version", "inter.broker.protocol.version",
        "broker.rack", "log.preallocate", "log.flush.scheduler.interval.ms", "log.flush.offset.checkpoint.interval.ms",
        "log.flush.start.offset.checkpoint.interval.ms", "connections.max.idle.ms", "max.connections",
        "auto.leader.rebalance.enable", "group.coordinator.rebalance.protocols", "metadata.log.dir",
    ]

    // MARK: Parsing

    private mutating func apply(_ map: [String: String]) throws(ConfigError) {
        func int(_ key: String, _ range: ClosedRange<Int64>) throws(ConfigError) -> Int64? {
            guard let text = map[key] else { return nil }
            guard let value = Int64(text), range.contains(value) else {
                throw ConfigError(key: key, value: text, reason: "expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        func bool(_ key: String) throws(ConfigError) -> Bool? {
            guard let text = map[key] else { return nil }
            switch text.lowercased() {
            case "true": return true
            case "false": return false
            default: throw ConfigError(key: key, value: text, reason: "expected true or false")
            }
        }
        let int32Max = Int64(Int32.max)

        // Identity.
        let nodeIdKey = map["node.id"] != nil ? "node.id" : "broker.id"
        if let id = try int(nodeIdKey, 0...int32Max) { nodeId = Int32(id) }
        if let a = map["node.id"], let b = map["broker.id"], a != b {
            throw ConfigError(key: "broker.id", value: b, reason: "must equal node.id (\(a)) when both are set")
        }

        // Data directory.
        if let dirs = map["log.dirs"] ?? map["log.dir"] {
            let key = map["log.dirs"] != nil ? "log.dirs" : "log.dir"
            let list = dirs.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty }
            guard list.count == 1 else {
                throw ConfigError(key: key, value: dirs, reason: "Samsa serves exactly one log directory")
            }
            logDirectory = list[0]
        }

        // Listeners.
        try applyListeners(map)

        if let n = try int("num.partitions", 1...int32Max) { numPartitions = Int32(n) }
        if let rf = try int("default.replication.factor", 1...Int64(Int16.max)) {
            guard rf == 1 else {
                throw ConfigError(key: "default.replication.factor", value: "\(rf)", reason: "a single broker can only keep 1 replica")
            }
            defaultReplicationFactor = 1
        }
        if let b = try bool("auto.create.topics.enable") { autoCreateTopics = b }
        if let b = try bool("delete.topic.enable") { deleteTopicEnable = b }
        if let n = try int("socket.request.max.bytes", 1...int32Max) { socketRequestMaxBytes = Int(n) }
        if let n = try int("fetch.max.bytes", 1024...int32Max) { fetchMaxBytes = Int(n) }
        if let n = try int("socket.send.buffer.bytes", -1...int32Max) { socketSendBufferBytes = Int(n) }
        if let n = try int("socket.receive.buffer.bytes", -1...int32Max) { socketReceiveBufferBytes = Int(n) }
        if let n = try int("num.network.threads", 1...256) { numNetworkThreads = Int(n) }
        if let n = try int("num.io.threads", 1...256) { numIoThreads = Int(n) }
        if let n = try int("queued.max.requests", 1...100_000) { maxInFlightRequestsPerConnection = Int(n) }

        // Topic defaults: derived (hours, minutes) first, so the finer key wins as in Kafka (ms > minutes > hours).
        var defaults = LogConfig()
        for (brokerKey, topicKey, factor) in Self.derivedLogKeys.reversed() {
            guard let text = map[brokerKey] else { continue }
            let finer = Self.derivedLogKeys.filter { $0.topic == topicKey && $0.factorMs < factor }.map(\.broker)
                + Self.logKeySynonyms.filter { $0.topic == topicKey }.map(\.broker)
            if finer.contains(where: { map[$0] != nil }) { continue }
            guard let units = Int64(text), units >= -1, units <= Int64.max / factor else {
                throw ConfigError(key: brokerKey, value: text, reason: "expected an integer >= -1")
            }
            let ms = units < 0 ? -1 : units * factor
            try Self.setLog(&defaults, topicKey: topicKey, value: "\(ms)", brokerKey: brokerKey, brokerValue: text)
        }
        for (brokerKey, topicKey) in Self.logKeySynonyms {
            guard var text = map[brokerKey] else { continue }
            if topicKey == "retention.ms", let ms = Int64(text), ms < -1 { text = "-1" }
            try Self.setLog(&defaults, topicKey: topicKey, value: text, brokerKey: brokerKey, brokerValue: map[brokerKey]!)
        }
        logDefaults = defaults
        if let n = try int("log.retention.check.interval.ms", 1...Int64.max) { retentionCheckIntervalMs = n }
        do {
            cleaner = try CleanerConfig(properties: map.filter { CleanerConfig.keys.contains($0.key) })
        } catch {
            throw ConfigError(key: error.key, value: error.value, reason: error.reason)
        }
        groups = try GroupCoordinatorConfig(properties: map.filter { GroupCoordinatorConfig.keys.contains($0.key) })

        // Everything else: known without effect, or unknown.
        let logBrokerKeys = Set(Self.logKeySynonyms.map(\.broker) + Self.derivedLogKeys.map(\.broker))
            .union(CleanerConfig.keys).union(["log.retention.check.interval.ms"]).union(GroupCoordinatorConfig.keys)
        for key in map.keys.sorted() where !Self.brokerKeys.contains(key) && !logBrokerKeys.contains(key) {
            if Self.acceptedWithoutEffect.contains(key) {
                ignoredKeys.append(key)
            } else {
                warnings.append("unknown configuration key '\(key)' is ignored")
            }
        }
    }

    private static func setLog(
        _ config: inout LogConfig, topicKey: String, value: String, brokerKey: String, brokerValue: String
    ) throws(ConfigError) {
        do {
            try config.set(topicKey, value)
        } catch {
            throw ConfigError(key: brokerKey, value: brokerValue, reason: error.reason)
        }
    }

    private mutating func applyListeners(_ map: [String: String]) throws(ConfigError) {
        var protocols = ["PLAINTEXT": "PLAINTEXT", "SSL": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"]
        if let text = map["listener.security.protocol.map"] {
            protocols = [:]
            for pair in text.split(separator: ",").map({ $0.trimmingBlanks() }) where !pair.isEmpty {
                let parts = pair.split(separator: ":", maxSplits: 1).map { $0.trimmingBlanks() }
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ConfigError(key: "listener.security.protocol.map", value: text, reason: "'\(pair)' is not NAME:PROTOCOL")
                }
                protocols[parts[0].uppercased()] = parts[1].uppercased()
            }
        }
        let controllerNames = Set(
            (map["controller.listener.names"] ?? "").split(separator: ",").map { $0.trimmingBlanks().uppercased() })
        let all = try map["listeners"].map { text throws(ConfigError) in try Listener.parseList(text, key: "listeners") }
            ?? [Listener(name: "PLAINTEXT", host: "127.0.0.1", port: 9092)]
        var served: [Listener] = []
        for listener in all where !controllerNames.contains(listener.name) {
            guard let proto = protocols[listener.name] else {
                throw ConfigError(
                    key: "listeners", value: map["listeners"] ?? "",
                    reason: "listener \(listener.name) has no entry in listener.security.protocol.map")
            }
            guard proto == "PLAINTEXT" else {
                throw ConfigError(
                    key: "listeners", value: map["listeners"] ?? "",
                    reason: "listener \(listener.name) uses \(proto); Samsa serves PLAINTEXT only")
            }
            served.append(listener)
        }
        guard !served.isEmpty else {
            throw ConfigError(key: "listeners", value: map["listeners"] ?? "", reason: "no PLAINTEXT listener to serve")
        }
        listeners = served
        let advertised = try map["advertised.listeners"].map { text throws(ConfigError) in
            try Listener.parseList(text, key: "advertised.listeners")
        } ?? []
        for entry in advertised where !served.contains(where: { $0.name == entry.name }) && !controllerNames.contains(entry.name) {
            throw ConfigError(
                key: "advertised.listeners", value: map["advertised.listeners"]!,
                reason: "\(entry.name) is not one of the listeners")
        }
        advertisedListeners = try served.map { (listener) throws(ConfigError) -> Listener in
            if let entry = advertised.first(where: { $0.name == listener.name }) {
                guard entry.host != "0.0.0.0", entry.host != "::" else {
                    throw ConfigError(
                        key: "advertised.listeners", value: map["advertised.listeners"]!,
                        reason: "\(entry.host) cannot be advertised: clients cannot connect to it")
                }
                return entry
            }
            guard listener.host != "0.0.0.0", listener.host != "::" else {
                throw ConfigError(
                    key: "listeners", value: map["listeners"] ?? "",
                    reason: "\(listener.name) binds \(listener.host): set advertised.listeners to an address clients can reach")
            }
            var derived = listener
            if derived.host.isEmpty { derived.host = Self.hostName() }
            return derived
        }
    }

    static func readFile(_ path: String) throws(ConfigError) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw ConfigError(key: nil, value: path, reason: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigError(key: nil, value: path, reason: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= 16 << 20 else {
                throw ConfigError(key: nil, value: path, reason: "\(path) is larger than 16 MiB")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
