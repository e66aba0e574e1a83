import Logging
import SamsaLog
import SamsaProtocol
import Synchronization

/// `__consumer_offsets`: the compacted internal topic where the coordinator keeps committed offsets and group
/// metadata, a Samsa log per partition, in Kafka's record format (`CoordinatorRecord`). A group's records all go
/// to partition `abs(groupId.hashCode()) % partitions` (Java's `String.hashCode`), as in Kafka.
///
/// The topic is created when first needed (FindCoordinator, or any group request), as Kafka does, with
/// `cleanup.policy=compact`, `compression.type=producer` and `offsets.topic.segment.bytes`. Once it exists, its
/// partition count is what it has, whatever `offsets.topic.num.partitions` says now.
final class OffsetsTopic: Sendable {
    static let name = "__consumer_offsets"
    /// Kafka's internal topics: reported with is_internal, closed to produce, delete and partition changes.
    static let internalTopics: Set<String> = [name, "__transaction_state"]

    static func isInternal(_ topic: String) -> Bool { internalTopics.contains(topic) }

    let logManager: LogManager
    let topics: TopicManager
    let config: GroupCoordinatorConfig
    let logger: Logger
    /// The partition count once the topic exists.
    private let partitions: Mutex<Int32?>

    init(logManager: LogManager, topics: TopicManager, config: GroupCoordinatorConfig, logger: Logger) {
        self.logManager = logManager
        self.topics = topics
        self.config = config
        self.logger = logger
        let existing = topics.topic(Self.name)?.partitionCount
        if let existing, existing != config.offsetsTopicPartitions {
            logger.warning(
                "\(Self.name) has \(existing) partitions; offsets.topic.num.partitions=\(config.offsetsTopicPartitions) applies only when it is created")
        }
        partitions = Mutex(existing)
    }

    /// The partition count, nil until the topic exists.
    var partitionCount: Int32? { partitions.withLock { $0 } }

    /// Creates the topic if it does not exist yet. Blocks on file I/O: call it off the event loop.
    func create() throws(TopicError) {
        if partitionCount != nil { return }
        let overrides = [
            "cleanup.policy": "compact", "compression.type": "producer",
            "segment.bytes": "\(config.offsetsTopicSegmentBytes)",
        ]
        let count: Int32
        do {
            count = try topics.create(name: Self.name, partitions: config.offsetsTopicPartitions, overrides: overrides).partitionCount
            logger.info("created \(Self.name) with \(count) partitions")
        } catch .alreadyExists {
            guard let existing = topics.topic(Self.name)?.partitionCount else { throw .alreadyExists(Self.name) }
            count = existing
        }
        partitions.withLock { $0 = count }
    }

    // MARK: Partitioning

    /// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, in 32-bit arithmetic.
    static func javaHashCode(_ s: String) -> Int32 {
        var h: Int32 = 0
        for unit in s.utf16 { h = h &* 31 &+ Int32(unit) }
        return h
    }

    /// The partition of `__consumer_offsets` holding `groupId`'s records (Kafka's `Utils.abs`, where
    /// abs(Int.min) is 0).
    static func partition(for groupId: String, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        let h = javaHashCode(groupId)
        let positive = h == Int32.min ? 0 : abs(h)
        return positive % partitionCount
    }

    // MARK: Writing

    /// Appends `records` of one group as one batch to the group's partition. The Kafka error a client gets when
    /// it fails, as Kafka's coordinator maps append errors.
    func append(_ records: [CoordinatorRecord], groupId: String, nowMs: Int64) -> ErrorCode {
        guard !records.isEmpty else { return .none }
        guard let count = partitionCount,
            let log = logManager.log(TopicPartition(Self.name, Self.partition(for: groupId, partitionCount: count)))
        else { return .coordinatorNotAvailable }
        var builder = RecordBatchBuilder()
        for record in records {
            builder.append(timestamp: nowMs, key: record.key, value: record.value)
        }
        do {
            let bytes = try builder.build()
            _ = try bytes.withUnsafeBytes { try log.append($0) }
            return .none
        } catch let error as LogError {
            logger.error("writing \(records.count) records of group \(groupId) to \(log.directory): \(error)")
            switch error {
            case .batchTooLarge: return .unknownServerError
            case .closed: return .coordinatorNotAvailable
            case .io, .offline, .corruptBatch, .invalidDirectory: return .notCoordinator
            default: return .unknownServerError
            }
        } catch {
            logger.error("encoding \(records.count) records of group \(groupId): \(error)")
            return .unknownServerError
        }
    }

    // MARK: Reading

    /// Calls `body` with every record of every partition, oldest first within each partition. Records that cannot
    /// be read are logged and skipped. Blocks on file I/O.
    func forEachRecord(_ body: (CoordinatorRecord) -> Void) {
        guard let count = partitionCount else { return }
        for p in 0..<count {
            let tp = TopicPartition(Self.name, p)
            guard let log = logManager.log(tp) else { continue }
            var offset = log.logStartOffset
            var scratch: [UInt8] = []
            var skipped = 0
            reading: while offset < log.logEndOffset {
                let bytes: [UInt8]
                do {
                    guard let slice = try log.read(from: offset, maxBytes: 1 << 20).slice else { break }
                    bytes = try slice.readBytes()
                } catch {
                    logger.error("loading \(tp) at offset \(offset): \(error)")
                    break
                }
                let next: Int64? = bytes.withUnsafeBytes { buffer -> Int64? in
                    var next: Int64?
                    for whole in WholeBatches(buffer) {
                        guard let batch = try? RecordBatch(validating: whole) else { break }
                        next = batch.nextOffset
                        guard !batch.isControl else { continue }
                        do {
                            try batch.forEachRecord(scratch: &scratch) { record in
                                guard let key = record.key else { skipped += 1; return }
                                do {
                                    if let decoded = try CoordinatorRecord.decode(key: key, value: record.value) {
                                        body(decoded)
                                    }
                                } catch {
                                    skipped += 1
                                    logger.warning("\(tp) offset \(record.offset): unreadable record skipped: \(error)")
                                }
                            }
                        } catch {
                            logger.warning("\(tp) batch at \(batch.baseOffset): unreadable records skipped: \(error)")
                        }
                    }
                    return next
                }
                guard let next, next > offset else { break reading }
                offset = next
            }
            if skipped > 0 { logger.warning("\(tp): \(skipped) records skipped while loading") }
        }
    }
}
