/// One fixed-size entry of a sparse index file, big-endian on disk.
protocol IndexEntry: Equatable {
    static var size: Int { get }
    init(loading buffer: UnsafeRawBufferPointer, at position: Int)
    func append(to bytes: inout [UInt8])
    /// Whether the entry is all zeros (preallocated space).
    var isZero: Bool { get }
    /// Whether `self` may follow `previous` in the file.
    func follows(_ previous: Self) -> Bool
}

/// The storage shared by `.index` and `.timeindex`: entries in memory, loaded from the file on first use and
/// written behind (`flush` writes the pending ones; `trim` cuts the preallocated file to its entries).
///
/// Not thread-safe: the owning `Log` guards it with its lock.
final class IndexFile<Entry: IndexEntry> {
    let file: any LogFile
    /// Capacity from `segment.index.bytes`; a full index rolls the segment.
    let maxEntries: Int
    private(set) var entries: [Entry] = []
    /// Entries already written to the file.
    private var persistedCount = 0
    private(set) var isLoaded: Bool

    /// An empty index over a new file, preallocated (sparse) to `maxIndexBytes` rounded down to whole entries.
    init(newFile file: any LogFile, maxIndexBytes: Int) throws(FileSystemError) {
        self.file = file
        self.maxEntries = maxIndexBytes / Entry.size
        self.isLoaded = true
        try file.truncate(to: Int64(maxEntries * Entry.size))
    }

    /// An existing index file; its entries are read by `load`.
    init(existingFile file: any LogFile, maxIndexBytes: Int) {
        self.file = file
        self.maxEntries = maxIndexBytes / Entry.size
        self.isLoaded = false
    }

    var count: Int {
        precondition(isLoaded, "\(file.path) used before load")
        return entries.count
    }
    var isFull: Bool { count >= maxEntries }
    var last: Entry? { entries.last }

    /// Reads the entries from the file. Zeros after the entries are preallocated space; `keep` decides where the
    /// valid entries end (an entry pointing past a truncated log ends them). Entries out of order are corruption
    /// (the caller rebuilds the index from the log).
    func load(keep: (Entry) -> Bool) throws(IndexError) {
        guard !isLoaded else { return }
        let size: Int64
        do { size = try file.size() } catch { throw .io(error) }
        guard size % Int64(Entry.size) == 0 else {
            throw .corrupt(path: file.path, reason: "size \(size) is not a multiple of \(Entry.size)")
        }
        let bytes: [UInt8]
        do { bytes = try file.read(count: Int(size), at: 0) } catch { throw .io(error) }
        var loaded: [Entry] = []
        try bytes.withBytes { (buffer) throws(IndexError) in
            for i in 0..<(buffer.count / Entry.size) {
                let entry = Entry(loading: buffer, at: i * Entry.size)
                if entry.isZero {
                    guard buffer[(i * Entry.size)...].allSatisfy({ $0 == 0 }) else {
                        throw .corrupt(path: file.path, reason: "entry \(i) is zero but later entries are not")
                    }
                    break
                }
                if !keep(entry) { break }
                if let previous = loaded.last, !entry.follows(previous) {
                    throw .corrupt(path: file.path, reason: "entry \(i) \(entry) does not follow \(previous)")
                }
                loaded.append(entry)
            }
        }
        entries = loaded
        persistedCount = loaded.count
        isLoaded = true
    }

    /// Bytes of entries held in memory.
    var memoryBytes: Int { entries.count * Entry.size }

    /// Drops the entries from memory (every one is in the file: `trim` or `flush` first); the next `load` reads
    /// them again.
    func unload() {
        precondition(persistedCount == entries.count, "\(file.path) unloaded with unwritten entries")
        entries = []
        persistedCount = 0
        isLoaded = false
    }

    func append(_ entry: Entry) {
        precondition(isLoaded, "\(file.path) appended before load")
        if let previous = entries.last { precondition(entry.follows(previous), "index entries must increase") }
        entries.append(entry)
    }

    /// The index of the last entry satisfying `isAtOrBelow` (entries are sorted by it), or nil.
    func lastIndex(where isAtOrBelow: (Entry) -> Bool) -> Int? {
        precondition(isLoaded, "\(file.path) used before load")
        var low = 0
        var high = entries.count - 1
        var found: Int?
        while low <= high {
            let mid = (low + high) / 2
            if isAtOrBelow(entries[mid]) {
                found = mid
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return found
    }

    /// Keeps the first `count` entries. The file is rewritten from there at the next flush.
    func removeAll(from count: Int) {
        precondition(isLoaded, "\(file.path) truncated before load")
        guard count < entries.count else { return }
        entries.removeSubrange(count...)
        persistedCount = min(persistedCount, count)
    }

    func reset() {
        entries.removeAll(keepingCapacity: true)
        persistedCount = 0
        isLoaded = true
    }

    /// Writes the entries not yet in the file.
    func flush() throws(FileSystemError) {
        guard isLoaded, persistedCount < entries.count else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((entries.count - persistedCount) * Entry.size)
        for entry in entries[persistedCount...] { entry.append(to: &bytes) }
        try bytes.withBytes { (buffer) throws(FileSystemError) in
            try file.write(buffer, at: Int64(persistedCount * Entry.size))
        }
        persistedCount = entries.count
    }

    /// Flushes, then cuts the file to its entries (what a cleanly closed or rolled segment leaves).
    func trim() throws(FileSystemError) {
        guard isLoaded else { return }
        try flush()
        try file.truncate(to: Int64(entries.count * Entry.size))
    }

    /// Writes the entries and zeros the rest of the preallocated file (after a truncation removed entries, stale
    /// ones may remain in the file past the new end).
    func rewrite() throws(FileSystemError) {
        persistedCount = 0
        try file.truncate(to: 0)
        try file.truncate(to: Int64(maxEntries * Entry.size))
        try flush()
    }

    /// Writes all entries from the start and cuts the file to them (after a rebuild).
    func rewriteTrimmed() throws(FileSystemError) {
        persistedCount = 0
        try trim()
    }

    /// Grows the file back to its preallocated size (when a trimmed segment becomes active again).
    func preallocate() throws(FileSystemError) {
        try file.truncate(to: Int64(maxEntries * Entry.size))
    }
}

/// Why an index file could not be used (it is then rebuilt from its `.log`).
enum IndexError: Error, CustomStringConvertible {
    case corrupt(path: String, reason: String)
    case io(FileSystemError)

    var description: String {
        switch self {
        case .corrupt(let path, let reason): "\(path): corrupt index: \(reason)"
        case .io(let error): error.description
        }
    }
}
