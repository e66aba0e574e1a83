#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A file system in memory that remembers what is durable, so a test can pull the plug at any moment and see
/// what a real disk would have kept. Every operation is recorded and numbered; faults (EIO, ENOSPC, short
/// writes) can be injected at chosen operations; every random choice comes from the seed, so a run replays
/// exactly.
///
/// ```swift
/// let fs = SimulatedFileSystem(seed: 42)
/// try fs.createDirectory("/data/orders-0")
/// let log = try Log.open(directory: "/data/orders-0", fileSystem: fs)
/// // ... appends, a flush ...
/// fs.crash()                                    // unsynced bytes and directory entries may vanish
/// let recovered = try Log.open(directory: "/data/orders-0", fileSystem: fs)
/// fs.inject(.ioError, on: [.write])             // the next write fails with EIO
/// ```
///
/// What survives a crash (a model of Linux ext4 with `data=ordered`, made a little harsher where POSIX allows):
/// - File contents: everything up to the last successful `sync()` of that file, plus an arbitrary prefix of the
///   writes and truncations made after it, in the order they were made; the first write not kept whole may be
///   torn: cut at any byte, or with an arbitrary subset of its 512-byte sectors on disk (a torn page). Each
///   file decides independently (the kernel writes pages back in no particular order across files).
/// - Directory entries (creations, renames, removals): as of the last `syncDirectory` of the directory that
///   holds them, plus an arbitrary prefix, in order, of the changes made after it (ext4 commits its metadata
///   journal in order, every few seconds). A rename is atomic: old name or new, never both or neither; syncing
///   either directory of a rename commits it. Syncing a file does not make its name durable (POSIX; ext4
///   happens to, but other file systems do not).
/// - A failed `sync()` loses the unsynced writes it covered (Linux marks the pages clean after an I/O error:
///   "fsyncgate"): some prefix of them reached the disk, the rest never will, and a later successful `sync()`
///   writes back only the pages dirtied after the failure. Readers keep seeing the lost bytes until a crash.
/// - A file removed while open stays readable through its open handles; after a crash every handle opened
///   before it fails with EBADF (the process that held it is gone).
///
/// Faults are one-shot: a failed write changes nothing (a short write lands a prefix of its bytes in the cache,
/// then fails), a failed rename, removal or truncation changes nothing. With `capacityBytes`, writes that would
/// exceed it land what fits and fail with ENOSPC until space is freed.
public final class SimulatedFileSystem: FileSystem {
    /// An injected failure.
    public enum Fault: Sendable, Equatable, CustomStringConvertible {
        /// The operation fails with EIO and changes nothing (a failed `sync` loses pages; see the type's notes).
        case ioError
        /// The operation fails with ENOSPC and changes nothing.
        case noSpace
        /// A write lands a random, non-empty proper prefix of its bytes in the cache, then fails with `errno`.
        /// On operations other than writes it acts as a plain failure with `errno`.
        case shortWrite(errno: Int32)

        public var errno: Int32 {
            switch self {
            case .ioError: EIO
            case .noSpace: ENOSPC
            case .shortWrite(let errno): errno
            }
        }

        public var description: String {
            switch self {
            case .ioError: "EIO"
            case .noSpace: "ENOSPC"
            case .shortWrite(let errno): "short write then \(PosixFileSystem.describe(errno: errno))"
            }
        }
    }

    /// The operations the file system counts (and can fail). `fileExists`, `isDirectory` and `size` are not
    /// counted and never fail.
    public enum OperationKind: String, Sendable, CaseIterable {
        case open, read, write, sync, truncate, rename, removeFile, createDirectory, removeDirectory, listDirectory
        case syncDirectory
        /// Everything that changes files or makes them durable.
        public static let mutating: Set<OperationKind> = [
            .open, .write, .sync, .truncate, .rename, .removeFile, .createDirectory, .removeDirectory, .syncDirectory,
        ]
    }

    /// One recorded operation.
    public struct Operation: Sendable, CustomStringConvertible {
        /// 1 for the first operation since the file system was made.
        public var number: Int
        public var kind: OperationKind
        public var path: String
        /// Offset and length of a read or write, the size of a truncation, the target of a rename.
        public var detail: String
        /// The fault injected into it, if one was.
        public var fault: Fault?

        public var description: String {
            "#\(number) \(kind.rawValue) \(path)\(detail.isEmpty ? "" : " " + detail)\(fault.map { " -> \($0)" } ?? "")"
        }
    }

    /// Counters since the file system was made.
    public struct Statistics: Sendable {
        public var operations = 0
        public var byKind: [OperationKind: Int] = [:]
        public var bytesWritten: Int64 = 0
        public var faultsInjected = 0
        public var crashes = 0
        /// Writes torn by a crash or a failed sync.
        public var tornWrites = 0
        /// Bytes written but not kept by a crash (cache content lost), summed over crashes.
        public var bytesLostInCrashes: Int64 = 0
    }

    /// How much of what was not durable a crash keeps.
    public enum CrashMode: Sendable {
        /// A random prefix (and maybe a torn write) per file, a random prefix of directory changes.
        case random
        /// Only what was synced.
        case durableOnly
        /// Everything (as if the kernel wrote everything back just before the power went).
        case everything
    }

    /// What a crash did.
    public struct CrashReport: Sendable {
        /// Unsynced directory changes kept and dropped.
        public var namespaceChangesKept = 0
        public var namespaceChangesDropped = 0
        /// Files whose visible contents changed.
        public var filesChanged = 0
        public var tornWrites = 0
    }

    let core: Mutex<SimCore>
    /// Bytes per page (the unit of write-back after a failed sync).
    public let pageSize: Int
    static let sectorSize = 512

    /// A file system holding only the root directory. `journalCapacity` bounds the recent operations kept for
    /// `recentOperations`.
    public init(seed: UInt64, pageSize: Int = 4096, journalCapacity: Int = 4096) {
        precondition(pageSize > 0 && pageSize % Self.sectorSize == 0, "page size must be a multiple of 512")
        self.pageSize = pageSize
        core = Mutex(SimCore(seed: seed, journalCapacity: max(1, journalCapacity)))
    }

    // MARK: Faults, crashes, observation

    /// Fails the next operation of one of `kinds` (optionally only on paths containing `pathContaining`), after
    /// letting `skipping` such operations through. Rules are one-shot and checked in the order they were added.
    public func inject(
        _ fault: Fault, on kinds: Set<OperationKind>, pathContaining: String? = nil, skipping: Int = 0
    ) {
        core.withLock { $0.rules.append(SimFaultRule(fault: fault, kinds: kinds, pathContaining: pathContaining, skip: skipping)) }
    }

    /// Fails the operation numbered `number` (see `operationCount`), whatever it is.
    public func inject(_ fault: Fault, atOperation number: Int) {
        core.withLock { $0.numberedFaults[number] = fault }
    }

    /// Removes every pending injected fault; returns how many were pending.
    @discardableResult
    public func clearFaults() -> Int {
        core.withLock { core in
            defer { core.rules.removeAll(); core.numberedFaults.removeAll() }
            return core.rules.count + core.numberedFaults.count
        }
    }

    /// The most bytes all files together may hold (nil: unlimited). Writes past it fail with ENOSPC.
    public var capacityBytes: Int? {
        get { core.withLock { $0.capacity } }
        set { core.withLock { $0.capacity = newValue } }
    }

    /// Operations so far; the next one gets `operationCount + 1`.
    public var operationCount: Int { core.withLock { $0.statistics.operations } }
    public var statistics: Statistics { core.withLock { $0.statistics } }

    /// The most recent operations (at most the journal capacity), oldest first.
    public func recentOperations() -> [Operation] {
        core.withLock { core in
            core.journal.count < core.journalCapacity
                ? core.journal
                : Array(core.journal[core.journalNext...] + core.journal[..<core.journalNext])
        }
    }

    /// Loses power: keeps what was durable and, by `mode`, some of what was not (see the type's notes). Handles
    /// opened before the crash fail from now on.
    @discardableResult
    public func crash(_ mode: CrashMode = .random) -> CrashReport {
        core.withLock { $0.crash(mode: mode, pageSize: pageSize) }
    }

    /// What a reader sees in the file now, or nil if there is no file at `path`.
    public func contents(of path: String) -> [UInt8]? {
        core.withLock { core in
            guard let node = try? core.lookup(path), !node.isDirectory else { return nil }
            return node.data.materialized()
        }
    }

    /// What the file would hold after a crash that keeps nothing unsynced (its name may not survive: see
    /// `durablePaths`).
    public func durableContents(of path: String) -> [UInt8]? {
        core.withLock { core in
            guard let node = try? core.lookup(path), !node.isDirectory else { return nil }
            return node.durable.materialized()
        }
    }

    /// Every file path, sorted.
    public func allFiles() -> [String] {
        core.withLock { core in
            var out: [String] = []
            SimCore.walk(core.root, "", durable: false) { path, node in if !node.isDirectory { out.append(path) } }
            return out.sorted()
        }
    }

    /// Every file path a crash that keeps nothing unsynced would leave, sorted.
    public func durablePaths() -> [String] {
        core.withLock { core in
            var out: [String] = []
            SimCore.walk(core.root, "", durable: true) { path, node in if !node.isDirectory { out.append(path) } }
            return out.sorted()
        }
    }

    // MARK: FileSystem

    public func openFile(_ path: String, create: Bool) throws(FileSystemError) -> any LogFile {
        let (box, generation) = try core.withLock { (core) throws(FileSystemError) -> (SimNodeBox, Int) in
            try core.begin(.open, path, create ? "create" : "")
            let (parent, name) = try core.parent(of: path, "open")
            if let node = parent.entries[name] {
                guard !node.isDirectory else { throw .system("open", path, errno: EISDIR) }
                return (SimNodeBox(node), core.generation)
            }
            guard create else { throw .system("open", path, errno: ENOENT) }
            try core.checkSpace(adding: 0, path: path, operation: "open")
            let node = SimNode(id: core.nextNodeID(), isDirectory: false)
            core.link(parent, name, node)
            return (SimNodeBox(node), core.generation)
        }
        return SimulatedFile(fileSystem: self, node: box.node, path: path, generation: generation)
    }

    public func rename(_ from: String, to: String) throws(FileSystemError) {
        try core.withLock { (core) throws(FileSystemError) in
            try core.begin(.rename, from, "to \(to)")
            let (fromParent, fromName) = try core.parent(of: from, "rename to \(to)")
            let (toParent, toName) = try core.parent(of: to, "rename to \(to)")
            guard let node = fromParent.entries[fromName] else { throw .system("rename to \(to)", from, errno: ENOENT) }
            if fromParent === toParent && fromName == toName { return }
            if let existing = toParent.entries[toName] {
                if node.isDirectory {
                    guard existing.isDirectory else { throw .system("rename to \(to)", from, errno: ENOTDIR) }
                    guard existing.entries.isEmpty else { throw .system("rename to \(to)", from, errno: ENOTEMPTY) }
                } else if existing.isDirectory {
                    throw .system("rename to \(to)", from, errno: EISDIR)
                }
            }
            if node.isDirectory {
                // A directory cannot move into itself.
                var ancestor: SimNode? = toParent
                while let a = ancestor {
                    if a === node { throw .system("rename to \(to)", from, errno: EINVAL) }
                    ancestor = core.parentOf(a)
                }
            }
            core.record([
                SimNamespaceChange(directory: fromParent, name: fromName, node: nil),
                SimNamespaceChange(directory: toParent, name: toName, node: node),
            ])
        }
    }

    public func removeFile(_ path: String) throws(FileSystemError) {
        try core.withLock { (core) throws(FileSystemError) in
            try core.begin(.removeFile, path, "")
            let parent: SimNode
            let name: String
            do throws(FileSystemError) { (parent, name) = try core.parent(of: path, "unlink") } catch {
                if error.isNotFound { return }
                throw error
            }
            guard let node = parent.entries[name] else { return }
            guard !node.isDirectory else { throw .system("unlink", path, errno: EISDIR) }
            core.record([SimNamespaceChange(directory: parent, name: name, node: nil)])
        }
    }

    public func createDirectory(_ path: String) throws(FileSystemError) {
        try core.withLock { (core) throws(FileSystemError) in
            try core.begin(.createDirectory, path, "")
            var directory = core.root
            for component in SimCore.components(path) {
                if let next = directory.entries[component] {
                    guard next.isDirectory else { throw .system("mkdir", path, errno: ENOTDIR) }
                    directory = next
                } else {
                    let node = SimNode(id: core.nextNodeID(), isDirectory: true)
                    core.link(directory, component, node)
                    directory = node
                }
            }
        }
    }

    public func removeDirectory(_ path: String) throws(FileSystemError) {
        try core.withLock { (core) throws(FileSystemError) in
            try core.begin(.removeDirectory, path, "")
            let parent: SimNode
            let name: String
            do throws(FileSystemError) { (parent, name) = try core.parent(of: path, "rmdir") } catch {
                if error.isNotFound { return }
                throw error
            }
            guard let node = parent.entries[name] else { return }
            guard node.isDirectory else { throw .system("rmdir", path, errno: ENOTDIR) }
            guard node.entries.isEmpty else { throw .system("rmdir", path, errno: ENOTEMPTY) }
            core.record([SimNamespaceChange(directory: parent, name: name, node: nil)])
        }
    }

    public func listDirectory(_ path: String) throws(FileSystemError) -> [String] {
        try core.withLock { (core) throws(FileSystemError) -> [String] in
            try core.begin(.listDirectory, path, "")
            guard let node = try? core.lookup(path) else { throw .system("opendir", path, errno: ENOENT) }
            guard node.isDirectory else { throw .system("opendir", path, errno: ENOTDIR) }
            // In no particular order, as readdir: a seeded shuffle, so order-dependent code shows itself.
            var names = node.entries.keys.sorted()
            core.random.shuffle(&names)
            return names
        }
    }

    public func fileExists(_ path: String) -> Bool {
        core.withLock { (try? $0.lookup(path)) != nil }
    }

    public func isDirectory(_ path: String) -> Bool {
        core.withLock { (try? $0.lookup(path))?.isDirectory ?? false }
    }

    public func syncDirectory(_ path: String) throws(FileSystemError) {
        try core.withLock { (core) throws(FileSystemError) in
            try core.begin(.syncDirectory, path, "")
            guard let node = try? core.lookup(path) else { throw .system("open directory", path, errno: ENOENT) }
            guard node.isDirectory else { throw .system("open directory", path, errno: ENOTDIR) }
            core.commitNamespace(touching: node)
        }
    }

    // MARK: Files

    func withFile<T>(
        _ file: SimulatedFile, _ kind: OperationKind?, _ detail: @autoclosure () -> String,
        _ body: (inout SimCore, SimNode, Fault?) throws(FileSystemError) -> T
    ) throws(FileSystemError) -> T {
        try core.withLock { (core) throws(FileSystemError) -> T in
            guard core.generation == file.generation else {
                throw .system("use of a handle from before the simulated crash", file.path, errno: EBADF)
            }
            var fault: Fault?
            if let kind { fault = core.count(kind, file.path, detail()) }
            return try body(&core, file.node, fault)
        }
    }
}

/// A handle on a simulated file (its `fileDescriptor` is nil: there is nothing to `sendfile`).
final class SimulatedFile: LogFile, @unchecked Sendable {
    let fileSystem: SimulatedFileSystem
    /// Guarded by the file system's lock.
    let node: SimNode
    let path: String
    let generation: Int

    init(fileSystem: SimulatedFileSystem, node: SimNode, path: String, generation: Int) {
        self.fileSystem = fileSystem
        self.node = node
        self.path = path
        self.generation = generation
    }

    var fileDescriptor: Int32? { nil }

    func size() throws(FileSystemError) -> Int64 {
        try fileSystem.withFile(self, nil, "") { _, node, _ in Int64(node.data.size) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FileSystemError) -> Int {
        precondition(offset >= 0, "read at a negative offset")
        return try fileSystem.withFile(self, .read, "\(buffer.count)@\(offset)") { (_, node, fault) throws(FileSystemError) in
            if let fault { throw .system("pread", path, errno: fault.errno) }
            return node.data.read(into: buffer, at: Int(offset))
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FileSystemError) {
        try write(Array(bytes), at: offset)
    }

    func write(gathering parts: [UnsafeRawBufferPointer], at offset: Int64) throws(FileSystemError) {
        var joined: [UInt8] = []
        joined.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { joined.append(contentsOf: part) }
        try write(joined, at: offset)
    }

    private func write(_ bytes: [UInt8], at offset: Int64) throws(FileSystemError) {
        precondition(offset >= 0, "write at a negative offset")
        let pageSize = fileSystem.pageSize
        try fileSystem.withFile(self, .write, "\(bytes.count)@\(offset)") { (core, node, fault) throws(FileSystemError) in
            var count = bytes.count
            var failure: Int32?
            if let fault {
                failure = fault.errno
                if case .shortWrite = fault, count > 1 { count = 1 + Int(core.random.next() % UInt64(count - 1)) } else { count = 0 }
            }
            if let capacity = core.capacity {
                let growth = max(0, Int(offset) + count - node.data.bytes.count)
                let free = max(0, capacity - core.usedBytes())
                if growth > free {
                    count = max(0, count - (growth - free))
                    failure = ENOSPC
                    core.statistics.faultsInjected += 1
                }
            }
            if count > 0 {
                let landed = count == bytes.count ? bytes : Array(bytes[..<count])
                node.apply(.write(offset: Int(offset), bytes: landed), pageSize: pageSize)
                core.statistics.bytesWritten += Int64(count)
            }
            if let failure { throw .system("pwrite", path, errno: failure) }
        }
    }

    func sync() throws(FileSystemError) {
        let pageSize = fileSystem.pageSize
        try fileSystem.withFile(self, .sync, "") { (core, node, fault) throws(FileSystemError) in
            if let fault {
                // Some of the dirty pages reached the disk before the error; the rest are marked clean and lost.
                let (content, torn) = node.crashContent(random: &core.random, mode: .random)
                node.durable = content
                node.pending.removeAll()
                node.dirtyPages.removeAll()
                node.lostWrites = true
                core.statistics.tornWrites += torn ? 1 : 0
                throw .system("fdatasync", path, errno: fault.errno)
            }
            node.commit(pageSize: pageSize)
        }
    }

    func truncate(to size: Int64) throws(FileSystemError) {
        precondition(size >= 0, "truncate to a negative size")
        let pageSize = fileSystem.pageSize
        try fileSystem.withFile(self, .truncate, "to \(size)") { (core, node, fault) throws(FileSystemError) in
            if let fault { throw .system("ftruncate", path, errno: fault.errno) }
            node.apply(.truncate(size: Int(size)), pageSize: pageSize)
        }
    }

    /// The model has no blocks to reserve: contents and size are what writes and truncations make them.
    func reserve(_ length: Int64, at offset: Int64) -> Bool { false }
}

// MARK: - The model

/// A file's bytes: `bytes` then zeros up to `size` (preallocated index files stay cheap).
struct SimContent {
    var bytes: [UInt8] = []
    var size = 0

    mutating func write(_ data: some Collection<UInt8>, at offset: Int) {
        let end = offset + data.count
        if bytes.count < end {
            if bytes.count < offset { bytes.append(contentsOf: repeatElement(0, count: offset - bytes.count)) }
            let overlap = bytes.count - offset
            if overlap > 0 {
                bytes.replaceSubrange(offset..<bytes.count, with: data.prefix(overlap))
                bytes.append(contentsOf: data.dropFirst(overlap))
            } else {
                bytes.append(contentsOf: data)
            }
        } else {
            bytes.replaceSubrange(offset..<end, with: data)
        }
        size = max(size, end)
    }

    mutating func truncate(to newSize: Int) {
        if bytes.count > newSize { bytes.removeSubrange(newSize...) }
        size = newSize
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        guard offset < size else { return 0 }
        let n = min(buffer.count, size - offset)
        let fromBytes = max(0, min(n, bytes.count - offset))
        if fromBytes > 0 {
            bytes.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: fromBytes)
            }
        }
        if n > fromBytes { (buffer.baseAddress! + fromBytes).initializeMemory(as: UInt8.self, repeating: 0, count: n - fromBytes) }
        return n
    }

    func byte(at i: Int) -> UInt8 { i < bytes.count ? bytes[i] : 0 }

    func materialized() -> [UInt8] { bytes + [UInt8](repeating: 0, count: size - bytes.count) }

    /// Equal as files (trailing zeros in `bytes` or after it are the same thing).
    func sameContents(as other: SimContent) -> Bool {
        guard size == other.size else { return false }
        let common = min(bytes.count, other.bytes.count)
        guard bytes[..<common] == other.bytes[..<common] else { return false }
        return bytes[common...].allSatisfy { $0 == 0 } && other.bytes[common...].allSatisfy { $0 == 0 }
    }
}

/// A change to a file not yet synced.
enum SimPending {
    case write(offset: Int, bytes: [UInt8])
    case truncate(size: Int)
}

/// A file or a directory. Guarded by the file system's lock.
final class SimNode: @unchecked Sendable {
    let id: Int
    let isDirectory: Bool
    // Files.
    var data = SimContent()
    var durable = SimContent()
    var pending: [SimPending] = []
    var dirtyPages: Set<Int> = []
    /// A sync failed since the last crash: write-back is page by page from now on.
    var lostWrites = false
    // Directories.
    var entries: [String: SimNode] = [:]
    var durableEntries: [String: SimNode] = [:]

    init(id: Int, isDirectory: Bool) {
        self.id = id
        self.isDirectory = isDirectory
    }

    func apply(_ change: SimPending, pageSize: Int) {
        switch change {
        case .write(let offset, let bytes):
            guard !bytes.isEmpty else { return }
            data.write(bytes, at: offset)
            for page in (offset / pageSize)...((offset + bytes.count - 1) / pageSize) { dirtyPages.insert(page) }
        case .truncate(let size):
            let old = data.size
            data.truncate(to: size)
            if size < old {
                for page in (size / pageSize)...((old - 1) / pageSize) { dirtyPages.insert(page) }
            } else if size > old {
                dirtyPages.insert(old / pageSize)
            }
        }
        pending.append(change)
    }

    /// A successful sync: the dirty pages (all changes, unless a failed sync lost some) become durable.
    func commit(pageSize: Int) {
        if lostWrites {
            var merged = durable
            merged.truncate(to: min(durable.size, data.size))
            merged.size = data.size
            for page in dirtyPages.sorted() {
                let start = page * pageSize
                guard start < data.size else { continue }
                let end = min(start + pageSize, data.size)
                merged.write((start..<end).lazy.map { self.data.byte(at: $0) }, at: start)
            }
            durable = merged
        } else {
            durable = data
        }
        pending.removeAll()
        dirtyPages.removeAll()
    }

    /// What the disk holds if the power goes now: the durable contents plus a prefix of the pending changes, the
    /// next one possibly torn. Returns the contents and whether a write was torn.
    func crashContent(random: inout SimRandom, mode: SimulatedFileSystem.CrashMode) -> (SimContent, Bool) {
        var content = durable
        switch mode {
        case .durableOnly: return (content, false)
        case .everything:
            for change in pending { content.applying(change) }
            return (content, false)
        case .random: break
        }
        guard !pending.isEmpty else { return (content, false) }
        let kept = Int(random.next() % UInt64(pending.count + 1))
        for change in pending[..<kept] { content.applying(change) }
        guard kept < pending.count, random.next() % 2 == 0, case .write(let offset, let bytes) = pending[kept], bytes.count > 1
        else { return (content, false) }
        if random.next() % 2 == 0 {
            // Cut at any byte.
            let cut = 1 + Int(random.next() % UInt64(bytes.count - 1))
            content.write(bytes[..<cut], at: offset)
        } else {
            // Some of its sectors on disk, others not (the file grows to the end of the last one written).
            let sector = SimulatedFileSystem.sectorSize
            var start = offset
            while start < offset + bytes.count {
                let end = min((start / sector + 1) * sector, offset + bytes.count)
                if random.next() % 2 == 0 { content.write(bytes[(start - offset)..<(end - offset)], at: start) }
                start = end
            }
        }
        return (content, true)
    }
}

extension SimContent {
    mutating func applying(_ change: SimPending) {
        switch change {
        case .write(let offset, let bytes): write(bytes, at: offset)
        case .truncate(let size): truncate(to: size)
        }
    }
}

/// Lets a node cross the lock's `sending` boundary (it is only touched under the lock).
struct SimNodeBox: @unchecked Sendable {
    let node: SimNode
    init(_ node: SimNode) { self.node = node }
}

/// One directory entry change; a namespace operation is one or two of them, applied atomically.
struct SimNamespaceChange {
    let directory: SimNode
    let name: String
    let node: SimNode?
}

struct SimFaultRule {
    var fault: SimulatedFileSystem.Fault
    var kinds: Set<SimulatedFileSystem.OperationKind>
    var pathContaining: String?
    var skip: Int
}

/// SplitMix64: small, fast, and the same on every platform.
struct SimRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) { array.swapAt(i, Int(next() % UInt64(i + 1))) }
    }
}

struct SimCore {
    var root: SimNode
    var random: SimRandom
    var generation = 0
    var nodeCounter = 1
    /// Directory changes not yet made durable, oldest first.
    var pendingNamespace: [[SimNamespaceChange]] = []
    var rules: [SimFaultRule] = []
    var numberedFaults: [Int: SimulatedFileSystem.Fault] = [:]
    var capacity: Int?
    var statistics = SimulatedFileSystem.Statistics()
    var journal: [SimulatedFileSystem.Operation] = []
    var journalNext = 0
    let journalCapacity: Int

    init(seed: UInt64, journalCapacity: Int) {
        root = SimNode(id: 0, isDirectory: true)
        random = SimRandom(state: seed)
        self.journalCapacity = journalCapacity
    }

    mutating func nextNodeID() -> Int {
        defer { nodeCounter += 1 }
        return nodeCounter
    }

    // MARK: Counting and faults

    /// Counts an operation, records it, and returns the fault to inject into it, if any.
    mutating func count(_ kind: SimulatedFileSystem.OperationKind, _ path: String, _ detail: String) -> SimulatedFileSystem.Fault? {
        statistics.operations += 1
        statistics.byKind[kind, default: 0] += 1
        let number = statistics.operations
        var fault = numberedFaults.removeValue(forKey: number)
        if fault == nil, let i = rules.firstIndex(where: { $0.kinds.contains(kind) && ($0.pathContaining.map { path.contains($0) } ?? true) }) {
            if rules[i].skip > 0 {
                rules[i].skip -= 1
            } else {
                fault = rules.remove(at: i).fault
            }
        }
        if fault != nil { statistics.faultsInjected += 1 }
        let operation = SimulatedFileSystem.Operation(number: number, kind: kind, path: path, detail: detail, fault: fault)
        if journal.count < journalCapacity {
            journal.append(operation)
        } else {
            journal[journalNext] = operation
            journalNext = (journalNext + 1) % journalCapacity
        }
        return fault
    }

    /// Counts an operation on a path and throws its injected fault (for operations that are all-or-nothing).
    mutating func begin(_ kind: SimulatedFileSystem.OperationKind, _ path: String, _ detail: String) throws(FileSystemError) {
        if let fault = count(kind, path, detail) { throw .system(kind.rawValue, path, errno: fault.errno) }
    }

    func usedBytes() -> Int {
        var total = 0
        SimCore.walk(root, "", durable: false) { _, node in total += node.data.bytes.count }
        return total
    }

    mutating func checkSpace(adding bytes: Int, path: String, operation: String) throws(FileSystemError) {
        guard let capacity, usedBytes() + bytes > capacity else { return }
        statistics.faultsInjected += 1
        throw .system(operation, path, errno: ENOSPC)
    }

    // MARK: Paths

    static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }

    func lookup(_ path: String) throws(FileSystemError) -> SimNode {
        var node = root
        for component in Self.components(path) {
            guard node.isDirectory else { throw .system("lookup", path, errno: ENOTDIR) }
            guard let next = node.entries[component] else { throw .system("lookup", path, errno: ENOENT) }
            node = next
        }
        return node
    }

    /// The directory that holds `path` and the last component.
    func parent(of path: String, _ operation: String) throws(FileSystemError) -> (SimNode, String) {
        var parts = Self.components(path)
        guard let name = parts.popLast() else { throw .system(operation, path, errno: EINVAL) }
        var node = root
        for component in parts {
            guard let next = node.entries[component] else { throw .system(operation, path, errno: ENOENT) }
            guard next.isDirectory else { throw .system(operation, path, errno: ENOTDIR) }
            node = next
        }
        return (node, name)
    }

    func parentOf(_ target: SimNode) -> SimNode? {
        var found: SimNode?
        func search(_ directory: SimNode) {
            for child in directory.entries.values where child.isDirectory {
                if child === target { found = directory; return }
                search(child)
                if found != nil { return }
            }
        }
        search(root)
        return found
    }

    static func walk(_ directory: SimNode, _ prefix: String, durable: Bool, _ visit: (String, SimNode) -> Void) {
        for (name, child) in durable ? directory.durableEntries : directory.entries {
            let path = prefix + "/" + name
            visit(path, child)
            if child.isDirectory { walk(child, path, durable: durable, visit) }
        }
    }

    // MARK: Namespace

    mutating func link(_ directory: SimNode, _ name: String, _ node: SimNode) {
        record([SimNamespaceChange(directory: directory, name: name, node: node)])
    }

    /// Applies a namespace operation to the live tree and queues it for durability.
    mutating func record(_ changes: [SimNamespaceChange]) {
        for change in changes { change.directory.entries[change.name] = change.node }
        pendingNamespace.append(changes)
    }

    /// A directory sync: every pending operation that touches `directory` becomes durable, in order.
    mutating func commitNamespace(touching directory: SimNode) {
        var remaining: [[SimNamespaceChange]] = []
        for operation in pendingNamespace {
            if operation.contains(where: { $0.directory === directory }) {
                for change in operation { change.directory.durableEntries[change.name] = change.node }
            } else {
                remaining.append(operation)
            }
        }
        pendingNamespace = remaining
    }

    // MARK: Crash

    mutating func crash(mode: SimulatedFileSystem.CrashMode, pageSize: Int) -> SimulatedFileSystem.CrashReport {
        var report = SimulatedFileSystem.CrashReport()
        generation += 1
        statistics.crashes += 1
        // Directory changes: a prefix, in order, of those not yet durable.
        let kept: Int
        switch mode {
        case .random: kept = Int(random.next() % UInt64(pendingNamespace.count + 1))
        case .durableOnly: kept = 0
        case .everything: kept = pendingNamespace.count
        }
        for operation in pendingNamespace[..<kept] {
            for change in operation { change.directory.durableEntries[change.name] = change.node }
        }
        report.namespaceChangesKept = kept
        report.namespaceChangesDropped = pendingNamespace.count - kept
        pendingNamespace.removeAll()
        // The tree is what the durable entries say; each file keeps what reached its disk blocks. Visit in a fixed
        // order so the random choices replay.
        var visited = Set<ObjectIdentifier>()
        func settle(_ directory: SimNode, random: inout SimRandom) {
            directory.entries = directory.durableEntries
            for name in directory.durableEntries.keys.sorted() {
                let node = directory.durableEntries[name]!
                guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
                if node.isDirectory {
                    settle(node, random: &random)
                } else {
                    let (content, torn) = node.crashContent(random: &random, mode: mode)
                    if !content.sameContents(as: node.data) {
                        report.filesChanged += 1
                        statistics.bytesLostInCrashes += Int64(max(0, node.data.size - content.size))
                    }
                    if torn { report.tornWrites += 1 }
                    node.data = content
                    node.durable = content
                    node.pending.removeAll()
                    node.dirtyPages.removeAll()
                    node.lostWrites = false
                }
            }
        }
        settle(root, random: &random)
        statistics.tornWrites += report.tornWrites
        return report
    }
}
