import SamsaLog

/// Why the broker could not start or keep its metadata, with where: the CLI prints `description` as its one line.
public enum BrokerError: Error, Sendable, CustomStringConvertible {
    case config(ConfigError)
    case io(FileSystemError)
    case log(LogError)
    /// A metadata file of the data directory (`meta.properties`, `samsa-topics.properties`...) cannot be used.
    case invalidMetadata(path: String, reason: String)
    /// Another process holds the data directory's `.lock`.
    case dataDirectoryInUse(path: String)
    /// `meta.properties` belongs to another node.
    case nodeIdMismatch(path: String, found: Int32, configured: Int32)
    /// A listener could not be bound.
    case bind(listener: Listener, reason: String)

    public var description: String {
        switch self {
        case .config(let error): "\(error)"
        case .io(let error): "\(error)"
        case .log(let error): "\(error)"
        case .invalidMetadata(let path, let reason): "\(path): \(reason)"
        case .dataDirectoryInUse(let path): "\(path) is in use by another process (its .lock is held)"
        case .nodeIdMismatch(let path, let found, let configured):
            "\(path) says node.id=\(found) but the configuration says \(configured): is this the right log.dirs?"
        case .bind(let listener, let reason): "cannot listen on \(listener): \(reason)"
        }
    }
}
