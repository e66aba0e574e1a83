import Logging
import SamsaLog
import SamsaProtocol
import Synchronization

/// The broker's topics: names, ids, partition counts and config overrides, kept in `samsa-topics.properties`
/// beside the partition logs of the `LogManager`. Changes are serialized, written to the file first (atomically),
/// then applied to the logs; reads are cheap snapshots.
///
/// ```swift
/// let topic = try topics.create(name: "orders", partitions: 3, overrides: ["retention.ms": "60000"])
/// try topics.alterConfig(name: "orders", operations: [.set("retention.ms", "120000")])
/// try topics.delete(name: "orders")
/// ```
///
/// All mutating calls block on file I/O (fsync): call them off the event loop.
public final class TopicManager: Sendable {
    /// The most partitions one topic may have (each holds open files).
    public static let maxPartitionsPerTopic: Int32 = 10_000

    /// The settings every topic starts from (the broker's `log.*` keys).
    public let defaults: LogConfig
    let logManager: LogManager
    let file: TopicMetadataFile
    let fileSystem: any FileSystem
    let logger: Logger
    let deleteEnabled: Bool
    private let topics: Mutex<[String: TopicMetadata]>
    /// Serializes changes (held across their file I/O).
    private let changes = Mutex<Void>(())
    /// Told which partitions went away, so that fetches waiting on them answer.
    let onPartitionsRemoved: @Sendable ([TopicPartition]) -> Void

    init(
        topics: [String: TopicMetadata], file: TopicMetadataFile, logManager: LogManager, defaults: LogConfig,
        deleteEnabled: Bool, fileSystem: any FileSystem, logger: Logger,
        onPartitionsRemoved: @escaping @Sendable ([TopicPartition]) -> Void
    ) {
        self.topics = Mutex(topics)
        self.file = file
        self.logManager = logManager
        self.defaults = defaults
        self.deleteEnabled = deleteEnabled
        self.fileSystem = fileSystem
        self.logger = logger
        self.onPartitionsRemoved = onPartitionsRemoved
    }

    // MARK: Reading

    public var all: [String: TopicMetadata] { topics.withLock { $0 } }

    public func topic(_ name: String) -> TopicMetadata? { topics.withLock { $0[name] } }

    public func topic(id: Uuid) -> TopicMetadata? { topics.withLock { $0.values.first { $0.id == id } } }

    /// The effective settings of a topic: its overrides over the broker defaults.
    public func config(for topic: TopicMetadata) -> LogConfig {
        (try? LogConfig(properties: topic.overrides, base: defaults)) ?? defaults
    }

    /// Checks topic overrides (Kafka keys and values) and returns the config they make.
    public func validate(overrides: [String: String]) throws(TopicError) -> LogConfig {
        let known = Set(LogConfig.keys)
        for key in overrides.keys.sorted() where !known.contains(key) {
            throw .invalidConfig("Unknown topic config name: \(key)")
        }
        do {
            return try LogConfig(properties: overrides, base: defaults)
        } catch {
            throw .invalidConfig(error.description)
        }
    }

    // MARK: Changes

    /// Creates a topic with `partitions` empty partitions. With `validateOnly`, checks everything and changes
    /// nothing (the returned metadata has the id the topic would have had).
    @discardableResult
    public func create(
        name: String, partitions: Int32, overrides: [String: String] = [:], validateOnly: Bool = false
    ) throws(TopicError) -> TopicMetadata {
        guard TopicPartition.isValidTopicName(name) else { throw .invalidTopicName(name) }
        guard partitions >= 1, partitions <= Self.maxPartitionsPerTopic else {
            throw .invalidPartitions("Number of partitions must be in 1...\(Self.maxPartitionsPerTopic), was \(partitions).")
        }
        let config = try validate(overrides: overrides)
        return try changes.withLock { (_) throws(TopicError) -> TopicMetadata in
            var next = all
            guard next[name] == nil else { throw .alreadyExists(name) }
            let collisionName = Self.collisionName(name)
            if let other = next.keys.first(where: { Self.collisionName($0) == collisionName }) {
                throw .invalidTopicName("Topic '\(name)' collides with existing topic: \(other)")
            }
            let topic = TopicMetadata(name: name, id: .random(), partitionCount: partitions, overrides: overrides)
            if validateOnly { return topic }
            next[name] = topic
            try persist(next)
            try createLogs(topic, config: config, partitions: 0..<partitions)
            logger.info("created topic \(name) (\(partitions) partitions, id \(topic.id))")
            return topic
        }
    }

    /// Deletes a topic and its partitions' logs.
    @discardableResult
    public func delete(name: String) throws(TopicError) -> TopicMetadata {
        guard deleteEnabled else { throw .deletionDisabled }
        let removed = try changes.withLock { (_) throws(TopicError) -> TopicMetadata in
            var next = all
            guard let topic = next.removeValue(forKey: name) else { throw .unknownTopic(name) }
            try persist(next)
            for p in 0..<topic.partitionCount {
                do { try logManager.deleteLog(TopicPartition(name, p)) } catch {
                    logger.error("deleting \(name)-\(p): \(error)")
                }
            }
            logger.info("deleted topic \(name)")
            return topic
        }
        onPartitionsRemoved((0..<removed.partitionCount).map { TopicPartition(name, $0) })
        return removed
    }

    /// Grows a topic to `count` partitions (Kafka's CreatePartitions; partitions never shrink).
    public func createPartitions(name: String, count: Int32, validateOnly: Bool = false) throws(TopicError) {
        try changes.withLock { (_) throws(TopicError) in
            var next = all
            guard var topic = next[name] else { throw .unknownTopic(name) }
            guard count != topic.partitionCount else {
                throw .invalidPartitions("Topic already has \(topic.partitionCount) partitions.")
            }
            guard count > topic.partitionCount else {
                throw .invalidPartitions(
                    "Topic currently has \(topic.partitionCount) partitions, which is higher than the requested \(count).")
            }
            guard count <= Self.maxPartitionsPerTopic else {
                throw .invalidPartitions("Number of partitions must be at most \(Self.maxPartitionsPerTopic), was \(count).")
            }
            if validateOnly { return }
            let old = topic.partitionCount
            topic.partitionCount = count
            next[name] = topic
            try persist(next)
            try createLogs(topic, config: config(for: topic), partitions: old..<count)
            logger.info("topic \(name) grew from \(old) to \(count) partitions")
        }
    }

    /// One change of a topic setting (IncrementalAlterConfigs' operations).
    public enum ConfigOperation: Sendable, Equatable {
        case set(String, String)
        case delete(String)
        /// Adds to a list setting (`cleanup.policy`).
        case append(String, String)
        /// Removes from a list setting.
        case subtract(String, String)
    }

    /// Changes a topic's overrides; the new settings reach its running logs at once and survive restarts.
    public func alterConfig(name: String, operations: [ConfigOperation], validateOnly: Bool = false) throws(TopicError) {
        try changes.withLock { (_) throws(TopicError) in
            var next = all
            guard var topic = next[name] else { throw .unknownTopic(name) }
            let effective = config(for: topic).properties
            for operation in operations {
                switch operation {
                case .set(let key, let value): topic.overrides[key] = value
                case .delete(let key): topic.overrides[key] = nil
                case .append(let key, let value), .subtract(let key, let value):
                    guard Self.listKeys.contains(key) else {
                        throw .invalidConfig("Config value append/subtract is not allowed for config key: \(key)")
                    }
                    let current = topic.overrides[key] ?? effective.first(where: { $0.key == key })?.value ?? ""
                    var items = current.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty }
                    let given = value.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty }
                    if case .append = operation {
                        for item in given where !items.contains(item) { items.append(item) }
                    } else {
                        items.removeAll { given.contains($0) }
                    }
                    topic.overrides[key] = items.joined(separator: ",")
                }
            }
            let config = try validate(overrides: topic.overrides)
            if validateOnly { return }
            next[name] = topic
            try persist(next)
            for p in 0..<topic.partitionCount { logManager.log(TopicPartition(name, p))?.updateConfig(config) }
            logger.info("topic \(name) config overrides now \(topic.overrides.sorted { $0.key < $1.key })")
        }
    }

    /// Topic keys whose values are lists (APPEND and SUBTRACT apply).
    static let listKeys: Set<String> = ["cleanup.policy"]

    /// Kafka refuses topics whose names differ only by `.` versus `_` (their metric names would collide).
    static func collisionName(_ name: String) -> String { String(name.map { $0 == "." ? "_" : $0 }) }

    private func persist(_ next: [String: TopicMetadata]) throws(TopicError) {
        do {
            try file.write(next)
        } catch {
            logger.error("writing \(file.path): \(error)")
            throw .storage("Cannot write the topic metadata: \(error)")
        }
        topics.withLock { $0 = next }
    }

    private func createLogs(_ topic: TopicMetadata, config: LogConfig, partitions: Range<Int32>) throws(TopicError) {
        for p in partitions {
            let tp = TopicPartition(topic.name, p)
            do {
                let log = try logManager.getOrCreateLog(tp, config: config)
                try PartitionMetadataFile.write(topicId: topic.id, partitionDirectory: log.directory, fileSystem: fileSystem)
            } catch {
                logger.error("creating \(tp): \(error)")
                throw .storage("Cannot create partition \(tp): \(error)")
            }
        }
    }

    // MARK: Start-up

    /// Brings the topics file and the partition directories into agreement after a start: partitions missing
    /// from disk are created; directories of deleted topics (their `partition.metadata` names another id) are
    /// removed; directories no topic claims and without `partition.metadata` (copied in, or from another tool)
    /// are adopted as topics.
    func reconcile() throws(BrokerError) {
        var next = all
        var changed = false
        for (tp, log) in logManager.allLogs.sorted(by: { $0.key < $1.key }) {
            let storedId = PartitionMetadataFile.read(partitionDirectory: log.directory, fileSystem: fileSystem)
            if var topic = next[tp.topic], storedId == nil || storedId == topic.id {
                if tp.partition >= topic.partitionCount {
                    logger.warning("\(tp) is beyond the \(topic.partitionCount) partitions on record: the topic grows")
                    topic.partitionCount = tp.partition + 1
                    next[tp.topic] = topic
                    changed = true
                }
            } else if let storedId {
                logger.warning("removing \(log.directory): it belongs to a deleted topic (id \(storedId))")
                do { try logManager.deleteLog(tp) } catch { throw .log(error) }
            } else {
                var topic = next[tp.topic] ?? TopicMetadata(name: tp.topic, id: .random(), partitionCount: 0)
                topic.partitionCount = max(topic.partitionCount, tp.partition + 1)
                next[tp.topic] = topic
                changed = true
                logger.notice("adopting \(log.directory) as partition \(tp.partition) of topic \(tp.topic)")
            }
        }
        if changed {
            do { try file.write(next) } catch { throw error }
        }
        topics.withLock { $0 = next }
        for topic in next.values.sorted(by: { $0.name < $1.name }) {
            let config = config(for: topic)
            for p in 0..<topic.partitionCount {
                let tp = TopicPartition(topic.name, p)
                do {
                    let log: Log
                    if let existing = logManager.log(tp) {
                        log = existing
                    } else {
                        logger.warning("\(tp) was missing on disk: created empty")
                        log = try logManager.getOrCreateLog(tp, config: config)
                    }
                    if PartitionMetadataFile.read(partitionDirectory: log.directory, fileSystem: fileSystem) != topic.id {
                        try PartitionMetadataFile.write(topicId: topic.id, partitionDirectory: log.directory, fileSystem: fileSystem)
                    }
                } catch let error as LogError {
                    throw .log(error)
                } catch let error as FileSystemError {
                    throw .io(error)
                } catch {
                    preconditionFailure("\(error)")
                }
            }
        }
    }
}
