import SamsaLog
import SamsaProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kafka's `meta.properties` at the top of the data directory (KRaft layout): version 1, `cluster.id`, `node.id`,
/// `directory.id`. Written once when the directory is new; later starts check the node id.
struct MetaProperties: Equatable {
    static let fileName = "meta.properties"
    var clusterId: String
    var nodeId: Int32
    var directoryId: String

    /// Reads the directory's file, or writes a new one (fresh cluster and directory ids) when there is none.
    static func loadOrCreate(dataDirectory: String, nodeId: Int32, fileSystem: any FileSystem) throws(BrokerError) -> MetaProperties {
        let path = dataDirectory + "/" + fileName
        if let text = try AtomicFile.read(path, fileSystem: fileSystem) {
            let entries: [JavaProperties.Entry]
            do { entries = try JavaProperties.parse(text) } catch { throw .invalidMetadata(path: path, reason: error.description) }
            var map: [String: String] = [:]
            for entry in entries { map[entry.key] = entry.value }
            guard let clusterId = map["cluster.id"], !clusterId.isEmpty else {
                throw .invalidMetadata(path: path, reason: "no cluster.id")
            }
            let foundText = map["node.id"] ?? map["broker.id"]
            guard let foundText, let found = Int32(foundText) else { throw .invalidMetadata(path: path, reason: "no node.id") }
            guard found == nodeId else { throw .nodeIdMismatch(path: path, found: found, configured: nodeId) }
            return MetaProperties(clusterId: clusterId, nodeId: found, directoryId: map["directory.id"] ?? "")
        }
        let meta = MetaProperties(clusterId: Uuid.random().description, nodeId: nodeId, directoryId: Uuid.random().description)
        let text = "#\n#Written by Samsa (Kafka's meta.properties format)\n"
            + JavaProperties.format([
                ("cluster.id", meta.clusterId), ("directory.id", meta.directoryId), ("node.id", "\(nodeId)"), ("version", "1"),
            ])
        do { try AtomicFile.write(text, to: path, fileSystem: fileSystem) } catch { throw .io(error) }
        return meta
    }
}

/// An exclusive `flock` on `<data>/.lock`, held while the broker runs (as Kafka locks its log directories), so two
/// brokers never share a data directory.
final class DataDirectoryLock: Sendable {
    let path: String
    private let fd: Mutex<Int32?>

    init(dataDirectory: String) throws(BrokerError) {
        path = dataDirectory + "/.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(.system("open", path, errno: errno)) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw .dataDirectoryInUse(path: dataDirectory) }
            throw .io(.system("flock", path, errno: code))
        }
        self.fd = Mutex(fd)
    }

    /// Closes the file, which releases the lock. Later calls do nothing.
    func release() {
        fd.withLock { fd in
            if let open = fd { close(open) }
            fd = nil
        }
    }

    deinit { release() }
}
