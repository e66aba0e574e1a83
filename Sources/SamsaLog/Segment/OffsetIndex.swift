/// An `.index` entry: `(offset - baseOffset: int32, position: int32)`, both strictly increasing.
struct OffsetEntry: IndexEntry, CustomStringConvertible {
    static let size = 8
    var relativeOffset: UInt32
    var position: UInt32

    init(relativeOffset: UInt32, position: UInt32) {
        self.relativeOffset = relativeOffset
        self.position = position
    }

    init(loading buffer: UnsafeRawBufferPointer, at position: Int) {
        relativeOffset = buffer.loadBigEndian(at: position, as: UInt32.self)
        self.position = buffer.loadBigEndian(at: position + 4, as: UInt32.self)
    }

    func append(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(relativeOffset)
        bytes.appendBigEndian(position)
    }

    var isZero: Bool { relativeOffset == 0 && position == 0 }
    func follows(_ previous: OffsetEntry) -> Bool {
        relativeOffset > previous.relativeOffset && position > previous.position
    }
    var description: String { "(\(relativeOffset), \(position))" }
}

/// The sparse offset index of one segment: Kafka's `.index`. An entry maps the *last* offset of a batch to the
/// position where that batch *starts*; a lookup returns the greatest entry at or below an offset, from which a
/// forward scan of batch headers finds the target.
final class OffsetIndex {
    let baseOffset: Int64
    let storage: IndexFile<OffsetEntry>

    init(storage: IndexFile<OffsetEntry>, baseOffset: Int64) {
        self.storage = storage
        self.baseOffset = baseOffset
    }

    /// Loads the entries, dropping any that point at or past `logSize`.
    func load(logSize: Int64) throws(IndexError) {
        try storage.load { Int64($0.position) < logSize }
    }

    func append(offset: Int64, position: Int) {
        let relative = offset - baseOffset
        precondition(relative >= 0 && relative <= Int64(UInt32.max), "offset \(offset) outside segment \(baseOffset)")
        precondition(position > 0 && position <= Int(UInt32.max), "position \(position) does not fit an index entry")
        storage.append(OffsetEntry(relativeOffset: UInt32(relative), position: UInt32(position)))
    }

    /// The greatest entry at or below `offset`; `(baseOffset, 0)` when there is none.
    func lookup(_ offset: Int64) -> (offset: Int64, position: Int) {
        let target = offset - baseOffset
        guard target >= 0 else { return (baseOffset, 0) }
        guard let i = storage.lastIndex(where: { Int64($0.relativeOffset) <= target }) else { return (baseOffset, 0) }
        let entry = storage.entries[i]
        return (baseOffset + Int64(entry.relativeOffset), Int(entry.position))
    }

    /// The greatest entry's position at or below `offset` (as `lookup`), and the next entry's position: where
    /// the batch holding `offset` starts if that batch is indexed (nil when no entry is above `offset`).
    func positions(for offset: Int64) -> (floor: Int, next: Int?) {
        let target = offset - baseOffset
        guard target >= 0 else { return (0, nil) }
        let i = storage.lastIndex(where: { Int64($0.relativeOffset) <= target })
        let floor = i.map { Int(storage.entries[$0].position) } ?? 0
        let next = (i ?? -1) + 1
        return (floor, next < storage.count ? Int(storage.entries[next].position) : nil)
    }

    /// Removes entries for offsets at or above `offset`.
    func truncate(toOffset offset: Int64) {
        let keep = storage.lastIndex { baseOffset + Int64($0.relativeOffset) < offset }.map { $0 + 1 } ?? 0
        storage.removeAll(from: keep)
    }

    var lastOffset: Int64? { storage.last.map { baseOffset + Int64($0.relativeOffset) } }
    var entries: [(offset: Int64, position: Int)] {
        storage.entries.map { (baseOffset + Int64($0.relativeOffset), Int($0.position)) }
    }
}
