import SamsaLog
import SamsaProtocol

/// A topic as the broker knows it: its stable id, how many partitions it has, and its config overrides.
public struct TopicMetadata: Sendable, Equatable {
    public var name: String
    public var id: Uuid
    public var partitionCount: Int32
    /// Topic-level settings that differ from the broker's defaults, by Kafka key (`retention.ms`).
    public var overrides: [String: String]

    public init(name: String, id: Uuid, partitionCount: Int32, overrides: [String: String] = [:]) {
        self.name = name
        self.id = id
        self.partitionCount = partitionCount
        self.overrides = overrides
    }
}

/// `<data>/samsa-topics.properties`: every topic's id, partition count and overrides, in Java properties form
/// (`topic.0.name=orders`, `topic.0.id=...`, `topic.0.partitions=3`, `topic.0.config.retention.ms=...`). Replaced
/// atomically on every change.
struct TopicMetadataFile {
    static let fileName = "samsa-topics.properties"
    static let version = "1"
    let path: String
    let fileSystem: any FileSystem

    init(dataDirectory: String, fileSystem: any FileSystem) {
        path = dataDirectory + "/" + Self.fileName
        self.fileSystem = fileSystem
    }

    func read() throws(BrokerError) -> [String: TopicMetadata] {
        guard let text = try AtomicFile.read(path, fileSystem: fileSystem) else { return [:] }
        return try Self.parse(text, path: path)
    }

    func write(_ topics: [String: TopicMetadata]) throws(BrokerError) {
        do { try AtomicFile.write(Self.format(topics), to: path, fileSystem: fileSystem) } catch { throw .io(error) }
    }

    static func format(_ topics: [String: TopicMetadata]) -> String {
        var entries: [(key: String, value: String)] = [("version", version)]
        for (i, topic) in topics.values.sorted(by: { $0.name < $1.name }).enumerated() {
            entries.append(("topic.\(i).name", topic.name))
            entries.append(("topic.\(i).id", topic.id.description))
            entries.append(("topic.\(i).partitions", "\(topic.partitionCount)"))
            for (key, value) in topic.overrides.sorted(by: { $0.key < $1.key }) {
                entries.append(("topic.\(i).config.\(key)", value))
            }
        }
        return "# Samsa's topics: ids, partition counts, config overrides. Rewritten whole on every change.\n"
            + JavaProperties.format(entries)
    }

    static func parse(_ text: String, path: String) throws(BrokerError) -> [String: TopicMetadata] {
        let entries: [JavaProperties.Entry]
        do { entries = try JavaProperties.parse(text) } catch { throw .invalidMetadata(path: path, reason: error.description) }
        struct Partial {
            var name: String?
            var id: Uuid?
            var partitions: Int32?
            var overrides: [String: String] = [:]
        }
        var partials: [Int: Partial] = [:]
        for entry in entries {
            if entry.key == "version" {
                guard entry.value == version else {
                    throw .invalidMetadata(path: path, reason: "unsupported version \(entry.value) on line \(entry.line)")
                }
                continue
            }
            let parts = entry.key.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "topic", let index = Int(parts[1]), index >= 0 else {
                throw .invalidMetadata(path: path, reason: "unexpected key '\(entry.key)' on line \(entry.line)")
            }
            var partial = partials[index] ?? Partial()
            switch parts[2] {
            case "name": partial.name = entry.value
            case "id":
                guard let id = Uuid(base64: entry.value) else {
                    throw .invalidMetadata(path: path, reason: "bad topic id '\(entry.value)' on line \(entry.line)")
                }
                partial.id = id
            case "partitions":
                guard let n = Int32(entry.value), n > 0 else {
                    throw .invalidMetadata(path: path, reason: "bad partition count '\(entry.value)' on line \(entry.line)")
                }
                partial.partitions = n
            case let rest where rest.hasPrefix("config."):
                partial.overrides[String(rest.dropFirst("config.".count))] = entry.value
            default:
                throw .invalidMetadata(path: path, reason: "unexpected key '\(entry.key)' on line \(entry.line)")
            }
            partials[index] = partial
        }
        var topics: [String: TopicMetadata] = [:]
        for (index, partial) in partials.sorted(by: { $0.key < $1.key }) {
            guard let name = partial.name, let id = partial.id, let count = partial.partitions else {
                throw .invalidMetadata(path: path, reason: "topic.\(index) lacks its name, id or partitions")
            }
            guard topics[name] == nil else { throw .invalidMetadata(path: path, reason: "topic \(name) appears twice") }
            topics[name] = TopicMetadata(name: name, id: id, partitionCount: count, overrides: partial.overrides)
        }
        return topics
    }
}

/// Kafka's `partition.metadata` in each partition directory: `version: 0` and `topic_id: <id>`. It tells a
/// partition of a deleted topic from one of a new topic with the same name.
enum PartitionMetadataFile {
    static let fileName = "partition.metadata"

    static func write(topicId: Uuid, partitionDirectory: String, fileSystem: any FileSystem) throws(FileSystemError) {
        // Advisory (the topics file is the truth), so it is renamed into place without an fsync.
        let path = partitionDirectory + "/" + fileName
        let temporary = path + ".tmp"
        let file = try fileSystem.openFile(temporary, create: true)
        try file.truncate(to: 0)
        try AtomicFile.writeAll(Array("version: 0\ntopic_id: \(topicId)\n".utf8), to: file)
        try fileSystem.rename(temporary, to: path)
    }

    /// The topic id, or nil when the file is absent or unreadable.
    static func read(partitionDirectory: String, fileSystem: any FileSystem) -> Uuid? {
        let path = partitionDirectory + "/" + fileName
        guard let text = try? AtomicFile.read(path, fileSystem: fileSystem, maxBytes: 4096) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("topic_id:") {
            return Uuid(base64: line.dropFirst("topic_id:".count).trimmingBlanks())
        }
        return nil
    }
}
