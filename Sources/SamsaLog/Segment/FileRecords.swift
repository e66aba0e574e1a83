/// A byte range of a segment file holding whole batches (the last may be partial, as in Kafka's fetch
/// responses): what a read returns, and what the broker sends with `sendfile`. Holding a slice keeps the file
/// open, so a segment deleted meanwhile stays readable.
public struct FileSlice: Sendable {
    public let file: any LogFile
    public let position: Int64
    public let length: Int

    /// The descriptor for zero-copy sends (`nil` on a simulated file system).
    public var fileDescriptor: Int32? { file.fileDescriptor }

    /// Copies the slice's bytes (for clients of the engine that are not sockets: tests, dump-log, replay).
    public func readBytes() throws(FileSystemError) -> [UInt8] {
        try file.read(count: length, at: position)
    }
}

/// Reads batch headers from a segment file front to back through a small reused buffer, never loading the
/// records: this is how reads find their start position from an index entry, and how dump-log walks a file.
struct BatchHeaderScanner {
    let file: any LogFile
    /// Where the next header starts.
    private(set) var position: Int64
    /// Bytes at and after this position are not part of the log (unwritten or uncommitted).
    let end: Int64
    private var buffer: [UInt8]
    private var bufferStart: Int64 = 0
    private var bufferCount = 0
    /// The size of the last batch: when batches are larger than the buffer, each read fetches only a header.
    private var lastBatchSize = 0

    init(file: any LogFile, from position: Int64, end: Int64, bufferSize: Int = 4096) {
        self.file = file
        self.position = position
        self.end = end
        self.buffer = [UInt8](repeating: 0, count: max(bufferSize, RecordBatch.headerSize))
    }

    /// The header at the current position and the position it starts at, advancing past the batch; `nil` at the
    /// end. A header cut off by `end` ends the scan too (a partial batch is not part of the log).
    mutating func next() throws(LogError) -> (header: RecordBatchHeader, position: Int64)? {
        guard end - position >= Int64(RecordBatch.headerSize) else { return nil }
        if position < bufferStart || position + Int64(RecordBatch.headerSize) > bufferStart + Int64(bufferCount) {
            let wanted = lastBatchSize >= buffer.count ? RecordBatch.headerSize : buffer.count
            let count = Int(min(Int64(wanted), end - position))
            let file = self.file
            let start = position
            let n = try buffer.withMutableBytes { (b) throws(LogError) in
                do throws(FileSystemError) {
                    return try file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<count]), at: start)
                } catch {
                    throw LogError.io(error)
                }
            }
            bufferStart = position
            bufferCount = n
            guard n >= RecordBatch.headerSize else { return nil }
        }
        let offset = Int(position - bufferStart)
        let header: RecordBatchHeader
        do {
            header = try buffer.withBytes { (b) throws(RecordBatchError) in
                try RecordBatchHeader(parsing: UnsafeRawBufferPointer(rebasing: b[offset..<bufferCount]), maxBatchSize: Int(Int32.max))
            }
        } catch {
            throw .corruptBatch(file: file.path, position: position, reason: error)
        }
        guard position + Int64(header.sizeInBytes) <= end else { return nil }
        let start = position
        position += Int64(header.sizeInBytes)
        lastBatchSize = header.sizeInBytes
        return (header, start)
    }
}

/// Finds the batch a read starts with, allocating nothing: the first batch in `[start, end)` of a segment file
/// whose last offset is at or past `offset` (exactly what a `BatchHeaderScanner` from `start` finds).
///
/// `candidate` is where the offset index says the batch holding `offset` may start (the first entry above it:
/// an entry maps a batch's last offset to its start). When the header there covers `offset`, that batch is the
/// answer (batches are in offset order, so every earlier one ends below it) and one 61-byte read found it;
/// otherwise the headers are scanned from `start` through a 1 KiB buffer on the stack.
enum BatchLocator {
    /// The scan's buffer: a few headers of small batches per read; small enough to live on the stack.
    static let scanBufferSize = 1024

    static func firstBatch(
        lastOffsetAtOrAfter offset: Int64, file: any LogFile, from start: Int64, candidate: Int64?, end: Int64
    ) throws(LogError) -> (header: RecordBatchHeader, position: Int64)? {
        try withUnsafeTemporaryAllocation(byteCount: scanBufferSize, alignment: 8) {
            (buffer) throws(LogError) -> (header: RecordBatchHeader, position: Int64)? in
            let headerSize = RecordBatch.headerSize
            if let candidate, candidate > start, end - candidate >= Int64(headerSize) {
                let header = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<headerSize])
                let n: Int
                do throws(FileSystemError) { n = try file.read(into: header, at: candidate) } catch { throw .io(error) }
                if n == headerSize,
                    let parsed = try? RecordBatchHeader(parsing: UnsafeRawBufferPointer(header), maxBatchSize: Int(Int32.max)),
                    parsed.baseOffset <= offset, parsed.lastOffset >= offset,
                    candidate + Int64(parsed.sizeInBytes) <= end
                {
                    return (parsed, candidate)
                }
            }
            // The scan, as BatchHeaderScanner.next() does it, through the stack buffer.
            var position = start
            var bufferStart: Int64 = 0
            var bufferCount = 0
            while end - position >= Int64(headerSize) {
                if position < bufferStart || position + Int64(headerSize) > bufferStart + Int64(bufferCount) {
                    let count = Int(min(Int64(buffer.count), end - position))
                    let n: Int
                    do throws(FileSystemError) {
                        n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: position)
                    } catch {
                        throw .io(error)
                    }
                    bufferStart = position
                    bufferCount = n
                    guard n >= headerSize else { return nil }
                }
                let at = Int(position - bufferStart)
                let header: RecordBatchHeader
                do throws(RecordBatchError) {
                    header = try RecordBatchHeader(
                        parsing: UnsafeRawBufferPointer(rebasing: buffer[at..<bufferCount]), maxBatchSize: Int(Int32.max))
                } catch {
                    throw .corruptBatch(file: file.path, position: position, reason: error)
                }
                guard position + Int64(header.sizeInBytes) <= end else { return nil }
                if header.lastOffset >= offset { return (header, position) }
                position += Int64(header.sizeInBytes)
            }
            return nil
        }
    }
}
