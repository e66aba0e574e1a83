import CSamsaSys
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The real file system: each operation is one system call (retried on EINTR).
public struct PosixFileSystem: FileSystem {
    public init() {}

    public func openFile(_ path: String, create: Bool) throws(FileSystemError) -> any LogFile {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = retrying { open(path, flags, 0o644) }
        guard fd >= 0 else { throw .system("open", path, errno: errno) }
        return PosixFile(descriptor: fd, path: path)
    }

    public func rename(_ from: String, to: String) throws(FileSystemError) {
        guard Glibc.rename(from, to) == 0 else { throw .system("rename to \(to)", from, errno: errno) }
    }

    public func removeFile(_ path: String) throws(FileSystemError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .system("unlink", path, errno: errno) }
    }

    public func createDirectory(_ path: String) throws(FileSystemError) {
        if isDirectory(path) { return }
        let parent = Self.parent(of: path)
        if !parent.isEmpty, parent != path, !isDirectory(parent) { try createDirectory(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw .system("mkdir", path, errno: errno) }
    }

    public func removeDirectory(_ path: String) throws(FileSystemError) {
        guard rmdir(path) == 0 || errno == ENOENT else { throw .system("rmdir", path, errno: errno) }
    }

    public func listDirectory(_ path: String) throws(FileSystemError) -> [String] {
        guard let dir = opendir(path) else { throw .system("opendir", path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public func syncDirectory(_ path: String) throws(FileSystemError) {
        let fd = retrying { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw .system("open directory", path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .system("fsync directory", path, errno: errno) }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `strerror` text plus the symbolic name for the errors a storage engine meets.
    static func describe(errno code: Int32) -> String {
        let names: [Int32: String] = [
            ENOSPC: "ENOSPC", EIO: "EIO", ENOENT: "ENOENT", EACCES: "EACCES", EEXIST: "EEXIST", EDQUOT: "EDQUOT",
            EROFS: "EROFS", EMFILE: "EMFILE", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EBADF: "EBADF",
        ]
        let text = String(cString: strerror(code))
        return names[code].map { "\(text) (\($0))" } ?? "\(text) (errno \(code))"
    }
}

/// Runs a system call again while it fails with EINTR.
@inline(__always)
func retrying<T: FixedWidthInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// An open descriptor; closed on deinit, so every holder (segment, fetch slice) keeps it valid.
final class PosixFile: LogFile {
    let descriptor: Int32
    let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    var fileDescriptor: Int32? { descriptor }

    func size() throws(FileSystemError) -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .system("fstat", path, errno: errno) }
        return Int64(info.st_size)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FileSystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = retrying { pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done)) }
            guard n >= 0 else { throw .system("pread", path, errno: errno) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FileSystemError) {
        var done = 0
        while done < bytes.count {
            let n = retrying { pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            guard n > 0 else { throw .system("pwrite", path, errno: n == 0 ? EIO : errno) }
            done += n
        }
    }

    func write(gathering parts: [UnsafeRawBufferPointer], at offset: Int64) throws(FileSystemError) {
        if parts.count == 1 { return try write(parts[0], at: offset) }
        // The iovecs in a temporary allocation (on the stack for the few parts of an append); at most IOV_MAX
        // entries per system call.
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: parts.count) { (vectors) throws(FileSystemError) in
            var count = 0
            for part in parts where !part.isEmpty {
                vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress), iov_len: part.count)
                count += 1
            }
            try writeVectors(vectors.baseAddress!, count: count, at: offset)
        }
    }

    private func writeVectors(_ vectors: UnsafeMutablePointer<iovec>, count total: Int, at offset: Int64) throws(FileSystemError) {
        var position = offset
        var first = 0
        while first < total {
            let count = min(total - first, 1024)  // IOV_MAX on Linux
            let n = retrying { pwritev(descriptor, vectors + first, Int32(count), off_t(position)) }
            guard n > 0 else { throw .system("pwritev", path, errno: n == 0 ? EIO : errno) }
            position += Int64(n)
            // Advance past what was written, which may end inside a vector (a short write).
            var written = n
            while written > 0 {
                if written >= vectors[first].iov_len {
                    written -= vectors[first].iov_len
                    first += 1
                } else {
                    vectors[first].iov_base += written
                    vectors[first].iov_len -= written
                    written = 0
                }
            }
        }
    }

    func sync() throws(FileSystemError) {
        guard fdatasync(descriptor) == 0 else { throw .system("fdatasync", path, errno: errno) }
    }

    func truncate(to size: Int64) throws(FileSystemError) {
        guard retrying({ ftruncate(descriptor, off_t(size)) }) == 0 else {
            throw .system("ftruncate", path, errno: errno)
        }
    }

    func reserve(_ length: Int64, at offset: Int64) -> Bool {
        var result: Int32
        repeat { result = samsa_reserve_blocks(descriptor, offset, length) } while result == EINTR
        return result == 0
    }
}
