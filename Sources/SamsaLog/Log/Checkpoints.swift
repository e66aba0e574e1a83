/// Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
/// `cleaner-offset-checkpoint`): a version line (0), a count line, then `topic partition offset` per line.
/// Written to `<name>.tmp`, fsynced and renamed over the old file, so a crash leaves the old or the new one.
///
/// ```swift
/// let file = OffsetCheckpointFile(path: "/data/recovery-point-offset-checkpoint")
/// try file.write([TopicPartition("orders", 0): 4242])
/// let offsets = try file.read()      // [orders-0: 4242]
/// ```
public struct OffsetCheckpointFile: Sendable {
    public let path: String
    public let fileSystem: any FileSystem
    public static let version = 0

    public init(path: String, fileSystem: any FileSystem = PosixFileSystem()) {
        self.path = path
        self.fileSystem = fileSystem
    }

    /// The entries; an absent file is empty. A malformed file is an error naming the line.
    public func read() throws(CheckpointError) -> [TopicPartition: Int64] {
        guard fileSystem.fileExists(path) else { return [:] }
        let bytes: [UInt8]
        do {
            let file = try fileSystem.openFile(path, create: false)
            let size = try file.size()
            guard size <= 64 << 20 else { throw CheckpointError.malformed(path: path, line: 0, reason: "file of \(size) bytes is too large") }
            bytes = try file.read(count: Int(size), at: 0)
        } catch let error as FileSystemError {
            throw .io(error)
        } catch let error as CheckpointError {
            throw error
        } catch {
            preconditionFailure("\(error)")
        }
        return try Self.parse(String(decoding: bytes, as: UTF8.self), path: path)
    }

    static func parse(_ text: String, path: String) throws(CheckpointError) -> [TopicPartition: Int64] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        guard lines.count >= 2 else { throw .malformed(path: path, line: 1, reason: "missing version and count lines") }
        guard let version = Int(lines[0]), version == Self.version else {
            throw .malformed(path: path, line: 1, reason: "unsupported version '\(lines[0])'")
        }
        guard let count = Int(lines[1]), count >= 0 else {
            throw .malformed(path: path, line: 2, reason: "bad entry count '\(lines[1])'")
        }
        var entries: [TopicPartition: Int64] = [:]
        for (i, line) in lines.dropFirst(2).enumerated() where !line.isEmpty {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let partition = Int32(fields[1]), let offset = Int64(fields[2]), partition >= 0 else {
                throw .malformed(path: path, line: i + 3, reason: "expected 'topic partition offset', found '\(line)'")
            }
            entries[TopicPartition(String(fields[0]), partition)] = offset
        }
        guard entries.count == count else {
            throw .malformed(path: path, line: 2, reason: "count says \(count) entries, file holds \(entries.count)")
        }
        return entries
    }

    /// Replaces the file with `entries` (sorted, for stable files).
    public func write(_ entries: [TopicPartition: Int64]) throws(CheckpointError) {
        var text = "\(Self.version)\n\(entries.count)\n"
        for (tp, offset) in entries.sorted(by: { $0.key < $1.key }) { text += "\(tp.topic) \(tp.partition) \(offset)\n" }
        let temporary = path + ".tmp"
        do throws(FileSystemError) {
            let file = try fileSystem.openFile(temporary, create: true)
            try file.truncate(to: 0)
            try Array(text.utf8).withBytes { (bytes) throws(FileSystemError) in try file.write(bytes, at: 0) }
            try file.sync()
            try fileSystem.rename(temporary, to: path)
            try fileSystem.syncDirectory(PosixFileSystem.parent(of: path))
        } catch {
            throw .io(error)
        }
    }
}

public enum CheckpointError: Error, Sendable, CustomStringConvertible {
    case io(FileSystemError)
    case malformed(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .io(let error): "\(error)"
        case .malformed(let path, let line, let reason): "\(path):\(line): \(reason)"
        }
    }
}
