import SamsaLog

/// Small metadata files replaced whole: written to `<path>.tmp`, fsynced, renamed over `path`, and the directory
/// fsynced, so a crash leaves either the old file or the new one.
enum AtomicFile {
    static func write(_ text: String, to path: String, fileSystem: any FileSystem) throws(FileSystemError) {
        let temporary = path + ".tmp"
        let file = try fileSystem.openFile(temporary, create: true)
        try file.truncate(to: 0)
        try writeAll(Array(text.utf8), to: file)
        try file.sync()
        try fileSystem.rename(temporary, to: path)
        try fileSystem.syncDirectory(parent(of: path))
    }

    /// The file's text, or nil when it does not exist. Files over `maxBytes` are refused.
    static func read(_ path: String, fileSystem: any FileSystem, maxBytes: Int = 64 << 20) throws(BrokerError) -> String? {
        guard fileSystem.fileExists(path) else { return nil }
        do {
            let file = try fileSystem.openFile(path, create: false)
            let size = try file.size()
            guard size <= Int64(maxBytes) else {
                throw BrokerError.invalidMetadata(path: path, reason: "file of \(size) bytes exceeds \(maxBytes)")
            }
            return String(decoding: try file.read(count: Int(size), at: 0), as: UTF8.self)
        } catch let error as FileSystemError {
            throw .io(error)
        } catch let error as BrokerError {
            throw error
        } catch {
            preconditionFailure("\(error)")
        }
    }

    /// Writes `bytes` at the start of `file`.
    static func writeAll(_ bytes: [UInt8], to file: any LogFile) throws(FileSystemError) {
        do {
            try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        } catch let error as FileSystemError {
            throw error
        } catch {
            preconditionFailure("unexpected \(error)")
        }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
