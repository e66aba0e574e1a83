/// A `.timeindex` entry: `(timestamp: int64, offset - baseOffset: int32)`; timestamps strictly increase.
struct TimeEntry: IndexEntry, CustomStringConvertible {
    static let size = 12
    var timestamp: Int64
    var relativeOffset: UInt32

    init(timestamp: Int64, relativeOffset: UInt32) {
        self.timestamp = timestamp
        self.relativeOffset = relativeOffset
    }

    init(loading buffer: UnsafeRawBufferPointer, at position: Int) {
        timestamp = buffer.loadBigEndian(at: position, as: Int64.self)
        relativeOffset = buffer.loadBigEndian(at: position + 8, as: UInt32.self)
    }

    func append(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(timestamp)
        bytes.appendBigEndian(relativeOffset)
    }

    var isZero: Bool { timestamp == 0 && relativeOffset == 0 }
    func follows(_ previous: TimeEntry) -> Bool {
        timestamp > previous.timestamp && relativeOffset >= previous.relativeOffset
    }
    var description: String { "(\(timestamp), \(relativeOffset))" }
}

/// The sparse time index of one segment: Kafka's `.timeindex`. An entry says: the largest timestamp in the
/// segment up to offset `o` is `t`. Entries are added only when the timestamp grows (`maybeAppend`).
final class TimeIndex {
    let baseOffset: Int64
    let storage: IndexFile<TimeEntry>

    init(storage: IndexFile<TimeEntry>, baseOffset: Int64) {
        self.storage = storage
        self.baseOffset = baseOffset
    }

    /// Loads the entries, dropping any whose offset is at or past `logEndOffset`.
    func load(logEndOffset: Int64) throws(IndexError) {
        try storage.load { baseOffset + Int64($0.relativeOffset) < logEndOffset }
    }

    /// Appends `(timestamp, offset)` when `timestamp` is larger than the last entry's (Kafka's rule); returns
    /// whether it did. `ignoreFull` is for the final entry written when a segment is rolled or closed.
    @discardableResult
    func maybeAppend(timestamp: Int64, offset: Int64, ignoreFull: Bool = false) -> Bool {
        guard timestamp > (storage.last?.timestamp ?? -1) else { return false }
        guard ignoreFull || !storage.isFull else { return false }
        let relative = offset - baseOffset
        precondition(relative >= 0 && relative <= Int64(UInt32.max), "offset \(offset) outside segment \(baseOffset)")
        storage.append(TimeEntry(timestamp: timestamp, relativeOffset: UInt32(relative)))
        return true
    }

    /// The greatest entry with a timestamp at or below `timestamp`, or nil.
    func lookup(_ timestamp: Int64) -> (timestamp: Int64, offset: Int64)? {
        guard let i = storage.lastIndex(where: { $0.timestamp <= timestamp }) else { return nil }
        let entry = storage.entries[i]
        return (entry.timestamp, baseOffset + Int64(entry.relativeOffset))
    }

    /// Removes entries for offsets at or above `offset`.
    func truncate(toOffset offset: Int64) {
        let keep = storage.lastIndex { baseOffset + Int64($0.relativeOffset) < offset }.map { $0 + 1 } ?? 0
        storage.removeAll(from: keep)
    }

    var last: (timestamp: Int64, offset: Int64)? {
        storage.last.map { ($0.timestamp, baseOffset + Int64($0.relativeOffset)) }
    }
    var entries: [(timestamp: Int64, offset: Int64)] {
        storage.entries.map { ($0.timestamp, baseOffset + Int64($0.relativeOffset)) }
    }
}
