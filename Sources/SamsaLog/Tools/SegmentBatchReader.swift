/// Reads the batches of one `.log` file front to back through a reused window, the way Kafka's
/// `FileLogInputStream` walks a segment: what `dump-log` and `replay` are built on.
///
/// The window holds whole batches: `next()` makes the batch it returns available to `withBytes`, reading ahead
/// `readSize` bytes at a time. Bytes at and after `keepFrom` survive refills, so a caller can gather a run of
/// consecutive batches and hand them on as one contiguous buffer. Memory stays bounded by `readSize` plus the
/// kept run plus the largest batch; a length field is never believed beyond the bytes the file holds.
struct SegmentBatchReader {
    /// What the next step of a scan found.
    enum Step: Equatable {
        /// A batch whose header parsed and whose bytes are all in the file (its CRC is not checked here).
        case batch(position: Int64, size: Int)
        /// The scan reached `limit`; fewer than 17 bytes (Kafka's header up to the magic byte) remain.
        case end
        /// The batch at `position` claims `size` bytes but only `available` are left before `limit`.
        case truncated(position: Int64, size: Int, available: Int64)
        /// The bytes at `position` are not a batch header (bad length, legacy or unknown magic).
        case invalid(position: Int64, reason: RecordBatchError)
    }

    /// Kafka's `HEADER_SIZE_UP_TO_MAGIC`: offset, length, leader epoch, magic.
    static let headerSizeUpToMagic = 17

    let file: any LogFile
    /// Bytes at and after this position are not read (the file size, or `--max-bytes`).
    let limit: Int64
    let readSize: Int
    /// Where the next batch starts.
    private(set) var position: Int64
    /// Bytes from this position on are kept when the window moves (nil: nothing is kept).
    var keepFrom: Int64?
    private var window: [UInt8] = []
    private var windowStart: Int64 = 0

    init(file: any LogFile, from position: Int64 = 0, limit: Int64, readSize: Int = 1 << 20) {
        precondition(position >= 0 && readSize > 0)
        self.file = file
        self.position = position
        self.limit = limit
        self.readSize = readSize
    }

    /// Opens `path` and reads up to `maxBytes` of it.
    init(path: String, fileSystem: any FileSystem, maxBytes: Int64 = .max, readSize: Int = 1 << 20) throws(FileSystemError) {
        let file = try fileSystem.openFile(path, create: false)
        self.init(file: file, limit: min(try file.size(), maxBytes), readSize: readSize)
    }

    /// The next batch (its bytes then readable through `withBytes`), or why the scan stops. A stop is final:
    /// later calls return the same step.
    mutating func next() throws(FileSystemError) -> Step {
        let remaining = limit - position
        guard remaining >= Int64(Self.headerSizeUpToMagic) else { return .end }
        try ensure(position, count: Int(min(remaining, Int64(RecordBatch.headerSize))))
        let at = Int(position - windowStart)
        let start = position
        let parsed: Result<Int, RecordBatchError> = window.withUnsafeBytes { bytes in
            let rest = UnsafeRawBufferPointer(rebasing: bytes[at..<min(bytes.count, at + Int(min(remaining, Int64(RecordBatch.headerSize))))])
            return Result { () throws(RecordBatchError) in
                try RecordBatch.size(ofBatchAt: rest, maxBatchSize: Int(Int32.max))
            }
        }
        let size: Int
        switch parsed {
        case .failure(let reason): return .invalid(position: start, reason: reason)
        case .success(let s): size = s
        }
        guard Int64(size) <= remaining else { return .truncated(position: start, size: size, available: remaining) }
        try ensure(start, count: size)
        position = start + Int64(size)
        return .batch(position: start, size: size)
    }

    /// Calls `body` with the bytes `[from, from + count)`, which must lie in the window (a batch `next` just
    /// returned, or a run of batches kept by `keepFrom`).
    func withBytes<R, E: Error>(from: Int64, count: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(from >= windowStart && from + Int64(count) <= windowStart + Int64(window.count), "bytes outside the window")
        let at = Int(from - windowStart)
        return try window.withBytes { (bytes) throws(E) -> R in try body(UnsafeRawBufferPointer(rebasing: bytes[at..<(at + count)])) }
    }

    /// Makes `[position, position + count)` available, keeping bytes from `keepFrom` on.
    private mutating func ensure(_ position: Int64, count: Int) throws(FileSystemError) {
        let windowEnd = windowStart + Int64(window.count)
        if position >= windowStart && position + Int64(count) <= windowEnd { return }
        // Keep from `keepFrom` (when it is inside the window) or from `position`; drop what is before.
        var keep = min(keepFrom ?? position, position)
        if keep < windowStart || keep > windowEnd { keep = position }
        if keep >= windowEnd {
            window.removeAll(keepingCapacity: true)
            windowStart = keep
        } else {
            window.removeSubrange(0..<Int(keep - windowStart))
            windowStart = keep
        }
        let end = windowStart + Int64(window.count)
        let needed = position + Int64(count) - end
        let want = Int(min(max(needed, Int64(readSize)), limit - end))
        guard want > 0 else { return }
        let old = window.count
        window.append(contentsOf: repeatElement(0, count: want))
        let file = self.file
        let n = try window.withMutableBytes { (bytes) throws(FileSystemError) -> Int in
            try file.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[old..<(old + want)]), at: end)
        }
        window.removeLast(want - n)
        guard Int64(window.count) + windowStart >= position + Int64(count) else {
            throw .shortRead(path: file.path, offset: end, wanted: want, got: n)
        }
    }
}
