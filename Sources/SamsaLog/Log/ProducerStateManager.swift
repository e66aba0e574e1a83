/// Per-producer sequence state of one partition, for idempotent producers (Kafka's `ProducerStateManager`):
/// a duplicate batch is acknowledged with its original offsets instead of being written twice, a gap in the
/// sequence is `outOfOrderSequence`, an older epoch is `invalidProducerEpoch`.
///
/// The state is kept in memory, snapshotted to `<offset>.snapshot` files (Kafka's format: version 1, CRC32C,
/// 46-byte entries) when a segment rolls and when the log closes, and rebuilt on open from the latest snapshot
/// plus a scan of the batch headers after it.
///
/// Not thread-safe: the owning `Log` guards it with its lock.
final class ProducerStateManager: @unchecked Sendable {
    /// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
    static let batchesToRetain = 5
    static let snapshotVersion: Int16 = 1
    static let entrySize = 46

    struct BatchMetadata: Equatable {
        var firstSequence: Int32
        var lastSequence: Int32
        var firstOffset: Int64
        var lastOffset: Int64
        var timestamp: Int64
    }

    struct Entry: Equatable {
        var producerEpoch: Int16
        var coordinatorEpoch: Int32 = -1
        var lastTimestamp: Int64
        /// Oldest first, at most `batchesToRetain`.
        var batches: [BatchMetadata] = []
        var lastSequence: Int32 { batches.last?.lastSequence ?? RecordBatch.noSequence }
    }

    let directory: String
    let fileSystem: any FileSystem
    private(set) var producers: [Int64: Entry] = [:]
    /// The state covers the log below this offset.
    private(set) var mapEndOffset: Int64 = 0

    init(directory: String, fileSystem: any FileSystem) {
        self.directory = directory
        self.fileSystem = fileSystem
    }

    // MARK: Checking and updating

    /// What appending `header` (from a client) would do: `.duplicate` with the original offsets, `.append`, or a
    /// thrown sequence/epoch error. Batches without a producer id always append.
    enum Verdict: Equatable {
        case append
        case duplicate(BatchMetadata)
    }

    func check(_ header: RecordBatchHeader, batch index: Int) throws(LogError) -> Verdict {
        guard header.producerId >= 0 else { return .append }
        guard let entry = producers[header.producerId] else {
            // An unknown producer (new, or its state expired): any sequence is accepted, as Kafka does.
            return .append
        }
        if header.producerEpoch < entry.producerEpoch {
            throw .invalidProducerEpoch(
                batch: index,
                reason: "epoch \(header.producerEpoch) of producer \(header.producerId) is below its current epoch \(entry.producerEpoch)")
        }
        let firstSequence = header.baseSequence
        if header.producerEpoch != entry.producerEpoch {
            guard firstSequence == 0 || entry.producerEpoch == RecordBatch.noProducerEpoch else {
                throw .outOfOrderSequence(
                    batch: index,
                    reason: "new epoch \(header.producerEpoch) of producer \(header.producerId) must start at sequence 0, not \(firstSequence)")
            }
            return .append
        }
        if let duplicate = entry.batches.first(where: { $0.firstSequence == firstSequence && $0.lastSequence == header.lastSequence }) {
            return .duplicate(duplicate)
        }
        let last = entry.lastSequence
        let inSequence = Int64(firstSequence) == Int64(last) + 1 || (firstSequence == 0 && last == Int32.max)
        guard inSequence || last == RecordBatch.noSequence else {
            throw .outOfOrderSequence(
                batch: index,
                reason: "producer \(header.producerId) sent sequence \(firstSequence) after \(last)")
        }
        return .append
    }

    /// Records a batch that is now in the log at `firstOffset...lastOffset`.
    func update(_ header: RecordBatchHeader, firstOffset: Int64, lastOffset: Int64, timestamp: Int64) {
        defer { mapEndOffset = max(mapEndOffset, lastOffset + 1) }
        guard header.producerId >= 0 else { return }
        var entry = producers[header.producerId] ?? Entry(producerEpoch: header.producerEpoch, lastTimestamp: timestamp)
        if header.producerEpoch != entry.producerEpoch {
            entry = Entry(producerEpoch: header.producerEpoch, lastTimestamp: timestamp)
        }
        if header.isControl, header.isTransactional {
            // A transaction marker ends the producer's transaction; its sequence does not move.
            entry.lastTimestamp = timestamp
            producers[header.producerId] = entry
            return
        }
        guard header.baseSequence >= 0 else {
            entry.lastTimestamp = timestamp
            producers[header.producerId] = entry
            return
        }
        if entry.batches.count == Self.batchesToRetain { entry.batches.removeFirst() }
        entry.batches.append(
            BatchMetadata(
                firstSequence: header.baseSequence, lastSequence: header.lastSequence, firstOffset: firstOffset,
                lastOffset: lastOffset, timestamp: timestamp))
        entry.lastTimestamp = timestamp
        producers[header.producerId] = entry
    }

    /// Forgets producers whose last write is older than `expirationMs` (Kafka's `producer.id.expiration.ms`).
    func removeExpired(nowMs: Int64, expirationMs: Int64) {
        producers = producers.filter { nowMs - $0.value.lastTimestamp < expirationMs }
    }

    func reset(at offset: Int64) {
        producers.removeAll()
        mapEndOffset = offset
    }

    // MARK: Snapshots

    static func snapshotName(_ offset: Int64) -> String { LogSegment.fileName(offset, "snapshot") }

    /// The offsets of the snapshot files in the directory, ascending.
    func snapshotOffsets() throws(FileSystemError) -> [Int64] {
        try fileSystem.listDirectory(directory).compactMap { LogSegment.baseOffset(fromFileName: $0, ext: "snapshot") }.sorted()
    }

    /// Writes the state as `<mapEndOffset>.snapshot` (temp file, then rename).
    func takeSnapshot() throws(FileSystemError) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(10 + producers.count * Self.entrySize)
        bytes.appendBigEndian(Self.snapshotVersion)
        bytes.appendBigEndian(UInt32(0))  // CRC, filled below
        bytes.appendBigEndian(Int32(producers.count))
        for (id, entry) in producers.sorted(by: { $0.key < $1.key }) {
            let last = entry.batches.last
            bytes.appendBigEndian(id)
            bytes.appendBigEndian(entry.producerEpoch)
            bytes.appendBigEndian(last?.lastSequence ?? RecordBatch.noSequence)
            bytes.appendBigEndian(last?.lastOffset ?? -1)
            bytes.appendBigEndian(last.map { Int32(truncatingIfNeeded: $0.lastOffset - $0.firstOffset) } ?? 0)
            bytes.appendBigEndian(entry.lastTimestamp)
            bytes.appendBigEndian(entry.coordinatorEpoch)
            bytes.appendBigEndian(Int64(-1))  // no transaction in progress
        }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[6...])) }
        bytes.storeBigEndian(crc, at: 2)
        let path = directory + "/" + Self.snapshotName(mapEndOffset)
        let file = try fileSystem.openFile(path + ".tmp", create: true)
        try file.truncate(to: 0)
        try bytes.withBytes { (b) throws(FileSystemError) in try file.write(b, at: 0) }
        try file.sync()
        try fileSystem.rename(path + ".tmp", to: path)
    }

    /// Loads the newest snapshot at or below `offset` (a corrupt one is removed and the next older is tried);
    /// returns the offset the state now covers up to, or nil when there is none.
    func loadLatestSnapshot(atOrBelow offset: Int64) throws(FileSystemError) -> Int64? {
        for snapshot in try snapshotOffsets().reversed() where snapshot <= offset {
            let path = directory + "/" + Self.snapshotName(snapshot)
            let file = try fileSystem.openFile(path, create: false)
            let size = try file.size()
            guard size <= 64 << 20 else { try fileSystem.removeFile(path); continue }
            let bytes = try file.read(count: Int(size), at: 0)
            if let entries = Self.parseSnapshot(bytes) {
                producers = entries
                mapEndOffset = snapshot
                return snapshot
            }
            try fileSystem.removeFile(path)
        }
        return nil
    }

    /// Decodes a snapshot file; nil when its version, size or CRC is wrong.
    static func parseSnapshot(_ bytes: [UInt8]) -> [Int64: Entry]? {
        bytes.withUnsafeBytes { buffer -> [Int64: Entry]? in
            guard buffer.count >= 10, buffer.loadBigEndian(at: 0, as: Int16.self) == snapshotVersion else { return nil }
            let crc = buffer.loadBigEndian(at: 2, as: UInt32.self)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[6...])) == crc else { return nil }
            let count = Int(buffer.loadBigEndian(at: 6, as: Int32.self))
            guard count >= 0, buffer.count == 10 + count * entrySize else { return nil }
            var entries: [Int64: Entry] = [:]
            for i in 0..<count {
                let p = 10 + i * entrySize
                let id = buffer.loadBigEndian(at: p, as: Int64.self)
                let epoch = buffer.loadBigEndian(at: p + 8, as: Int16.self)
                let lastSequence = buffer.loadBigEndian(at: p + 10, as: Int32.self)
                let lastOffset = buffer.loadBigEndian(at: p + 14, as: Int64.self)
                let offsetDelta = buffer.loadBigEndian(at: p + 22, as: Int32.self)
                let timestamp = buffer.loadBigEndian(at: p + 26, as: Int64.self)
                let coordinatorEpoch = buffer.loadBigEndian(at: p + 34, as: Int32.self)
                var entry = Entry(producerEpoch: epoch, coordinatorEpoch: coordinatorEpoch, lastTimestamp: timestamp)
                if lastOffset >= 0 && lastSequence >= 0 {
                    // The batch spans offsetDelta offsets ending at lastOffset: anything else is corruption (and
                    // would overflow below).
                    guard offsetDelta >= 0, Int64(offsetDelta) <= lastOffset else { return nil }
                    let firstSequence = Int32(truncatingIfNeeded: (Int64(lastSequence) - Int64(offsetDelta) + (Int64(Int32.max) + 1)) % (Int64(Int32.max) + 1))
                    entry.batches = [
                        BatchMetadata(
                            firstSequence: firstSequence, lastSequence: lastSequence, firstOffset: lastOffset - Int64(offsetDelta),
                            lastOffset: lastOffset, timestamp: timestamp)
                    ]
                }
                entries[id] = entry
            }
            return entries
        }
    }

    /// Removes snapshots above `offset` (after a truncation) and below `floor` (older than the log start).
    func removeSnapshots(above offset: Int64 = .max, below floor: Int64 = .min) throws(FileSystemError) {
        let all = try snapshotOffsets()
        // Keep the newest snapshot at or below the floor: loading needs a starting point.
        let keepBelow = all.last { $0 <= floor }
        for snapshot in all where snapshot > offset || (snapshot < floor && snapshot != keepBelow) {
            try fileSystem.removeFile(directory + "/" + Self.snapshotName(snapshot))
        }
    }
}
