/// The engine's only door to files. `PosixFileSystem` is a thin layer over the system calls; tests substitute
/// a simulated file system that records writes and fsyncs and can crash or fail at any point.
///
/// Paths are plain strings (`/data/orders-0/00000000000000000000.log`).
///
/// ```swift
/// let fs: any FileSystem = PosixFileSystem()
/// let file = try fs.openFile("/tmp/x.log", create: true)
/// try [1, 2, 3].withUnsafeBytes { try file.write($0, at: 0) }
/// try file.sync()
/// ```
public protocol FileSystem: Sendable {
    /// Opens a file for reading and writing, creating it (and not its directory) when `create` is set.
    func openFile(_ path: String, create: Bool) throws(FileSystemError) -> any LogFile
    /// Renames atomically (POSIX `rename`), replacing `to` if it exists.
    func rename(_ from: String, to: String) throws(FileSystemError)
    /// Removes a file; a missing file is not an error.
    func removeFile(_ path: String) throws(FileSystemError)
    /// Creates a directory and any missing parents; an existing directory is not an error.
    func createDirectory(_ path: String) throws(FileSystemError)
    /// Removes an empty directory.
    func removeDirectory(_ path: String) throws(FileSystemError)
    /// The names (not paths) of the entries of a directory, without `.` and `..`, in no particular order.
    func listDirectory(_ path: String) throws(FileSystemError) -> [String]
    func fileExists(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
    /// Makes a directory's entries (creations, renames, removals) durable.
    func syncDirectory(_ path: String) throws(FileSystemError)
}

/// An open file. Reads and writes are positional, so readers never disturb the writer. The descriptor is
/// closed when the last reference goes away (a reader holding a `FileSlice` keeps a deleted segment readable).
public protocol LogFile: AnyObject, Sendable {
    /// The path the file was opened with (for messages; a later rename does not change it).
    var path: String { get }
    /// The current size in bytes.
    func size() throws(FileSystemError) -> Int64
    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer only at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FileSystemError) -> Int
    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FileSystemError)
    /// Writes the concatenation of `parts` at `offset` (one `pwritev` where the system has it).
    func write(gathering parts: [UnsafeRawBufferPointer], at offset: Int64) throws(FileSystemError)
    /// Makes the file's contents durable (`fdatasync`).
    func sync() throws(FileSystemError)
    /// Sets the size: shrinks, or grows with zeros (sparse where the file system allows). Blocks reserved past the
    /// end (`reserve`) are released, even when the size does not change.
    func truncate(to size: Int64) throws(FileSystemError)
    /// Reserves disk blocks for `length` bytes at `offset` without changing the size or the contents (Linux
    /// `fallocate` with `FALLOC_FL_KEEP_SIZE`), so that writes there later skip the file system's block allocation.
    /// A hint: returns false, and does nothing, where the system or file system cannot (or the disk is full: the
    /// write itself then reports it).
    func reserve(_ length: Int64, at offset: Int64) -> Bool
    /// The descriptor, for zero-copy sends (`sendfile`); `nil` for files that are not real.
    var fileDescriptor: Int32? { get }
}

extension LogFile {
    /// Reads exactly `buffer.count` bytes at `offset`, or throws `.shortRead`.
    public func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FileSystemError) {
        let n = try read(into: buffer, at: offset)
        guard n == buffer.count else {
            throw .shortRead(path: path, offset: offset, wanted: buffer.count, got: n)
        }
    }

    /// Reads `count` bytes at `offset` into a new array (fewer at end of file).
    public func read(count: Int, at offset: Int64) throws(FileSystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withMutableBytes { buffer throws(FileSystemError) in try read(into: buffer, at: offset) }
        bytes.removeLast(count - n)
        return bytes
    }
}

/// A failed file operation, with the path, the operation and the system's error.
public struct FileSystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// A system call failed with `errno`.
        case system(errno: Int32)
        /// A read returned fewer bytes than the format requires.
        case shortRead(offset: Int64, wanted: Int, got: Int)
    }

    public var operation: String
    public var path: String
    public var kind: Kind

    public init(operation: String, path: String, kind: Kind) {
        self.operation = operation
        self.path = path
        self.kind = kind
    }

    public static func system(_ operation: String, _ path: String, errno: Int32) -> FileSystemError {
        FileSystemError(operation: operation, path: path, kind: .system(errno: errno))
    }

    public static func shortRead(path: String, offset: Int64, wanted: Int, got: Int) -> FileSystemError {
        FileSystemError(operation: "read", path: path, kind: .shortRead(offset: offset, wanted: wanted, got: got))
    }

    /// The errno, for system errors.
    public var errno: Int32? {
        if case .system(let errno) = kind { return errno }
        return nil
    }

    /// Out of space or quota: the write may succeed later.
    public var isNoSpace: Bool { errno == 28 /* ENOSPC */ || errno == 122 /* EDQUOT */ }
    /// The path does not exist.
    public var isNotFound: Bool { errno == 2 /* ENOENT */ }

    public var description: String {
        switch kind {
        case .system(let errno):
            "\(operation) \(path): \(PosixFileSystem.describe(errno: errno))"
        case .shortRead(let offset, let wanted, let got):
            "\(operation) \(path): wanted \(wanted) bytes at \(offset), file has only \(got)"
        }
    }
}
