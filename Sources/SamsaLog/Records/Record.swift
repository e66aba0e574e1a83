/// One record of a batch, as views into the batch's (or its decompressed records section's) bytes.
///
/// Layout (varints are zigzag):
/// ```
/// length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
/// keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value
/// headerCount varint | headers: keyLength varint, key (UTF-8), valueLength varint (-1 = null), value
/// ```
/// A record is valid only inside the closure that received it (its bytes belong to the batch or to the
/// decompression scratch buffer).
public struct Record {
    /// The smallest encoded record: a one-byte length, then six one-byte fields.
    public static let minimumSize = 7

    public let offset: Int64
    /// The record's timestamp as a consumer sees it: the batch's max timestamp for LogAppendTime batches.
    public let timestamp: Int64
    public let offsetDelta: Int32
    public let timestampDelta: Int64
    public let attributes: Int8
    /// `nil` for a null key (distinct from an empty one).
    public let key: UnsafeRawBufferPointer?
    /// `nil` for a null value: a tombstone on a compacted topic.
    public let value: UnsafeRawBufferPointer?
    public let headers: RecordHeaders
    /// Encoded size including the length varint.
    public let sizeInBytes: Int

    public var keyBytes: [UInt8]? { key.map { Array($0) } }
    public var valueBytes: [UInt8]? { value.map { Array($0) } }
}

/// A record's headers, parsed lazily from bytes that were already validated.
public struct RecordHeaders: Sequence {
    public let count: Int
    let bytes: UnsafeRawBufferPointer

    init(count: Int, bytes: UnsafeRawBufferPointer) {
        self.count = count
        self.bytes = bytes
    }

    /// A header: the key is UTF-8 and never null; the value may be null.
    public struct Header {
        public let key: UnsafeRawBufferPointer
        public let value: UnsafeRawBufferPointer?
        public var keyString: String { String(decoding: key, as: UTF8.self) }
    }

    public struct Iterator: IteratorProtocol {
        let bytes: UnsafeRawBufferPointer
        var remaining: Int
        var position = 0

        public mutating func next() -> Header? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            // Validated when the record was parsed, so these cannot fail.
            do {
                let key = try RecordReader.readBytes(bytes, at: &position)
                let value = try RecordReader.readBytes(bytes, at: &position)
                return Header(key: key ?? UnsafeRawBufferPointer(start: nil, count: 0), value: value)
            } catch {
                preconditionFailure("record headers changed after validation: \(error)")
            }
        }
    }

    public func makeIterator() -> Iterator { Iterator(bytes: bytes, remaining: count) }
}

/// Iterates the records of an (uncompressed or already decompressed) records section, validating each.
public struct RecordIterator {
    let section: UnsafeRawBufferPointer
    let baseOffset: Int64
    let baseTimestamp: Int64
    let logAppendTime: Int64?
    let declaredCount: Int32
    /// Where the next record starts in the records section.
    public private(set) var position = 0
    /// How many records have been returned.
    public private(set) var index = 0

    init(section: UnsafeRawBufferPointer, batch: RecordBatch) {
        self.section = section
        self.baseOffset = batch.baseOffset
        self.baseTimestamp = batch.baseTimestamp
        self.logAppendTime = batch.timestampType == .logAppendTime ? batch.maxTimestamp : nil
        self.declaredCount = batch.recordCount
    }

    /// The next record, `nil` after the last; throws when a record is malformed or the section holds a
    /// different number of records than the header declared.
    public mutating func next() throws(RecordBatchError) -> Record? {
        guard index < Int(declaredCount) else {
            if position != section.count {
                throw .corruptRecord(
                    index: index, position: position,
                    reason: "\(section.count - position) bytes after the last declared record")
            }
            return nil
        }
        guard position < section.count else {
            throw .recordCountMismatch(declared: declaredCount, found: index)
        }
        let start = position
        do throws(RecordParseFailure) {
            let record = try RecordReader.read(
                section, at: &position, baseOffset: baseOffset, baseTimestamp: baseTimestamp,
                logAppendTime: logAppendTime)
            index += 1
            return record
        } catch {
            throw .corruptRecord(index: index, position: start, reason: error.reason)
        }
    }
}


struct RecordParseFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}


enum RecordReader {
    /// Reads a length-prefixed byte string (`-1` = null) at `position`.
    @inline(__always)
    static func readBytes(
        _ buffer: UnsafeRawBufferPointer, at position: inout Int
    ) throws(RecordParseFailure) -> UnsafeRawBufferPointer? {
        let length: Int32
        do { length = try Varint.readInt32(buffer, at: &position) } catch { throw RecordParseFailure(error.description) }
        if length < 0 {
            guard length == -1 else { throw RecordParseFailure("negative length \(length)") }
            return nil
        }
        let end = position + Int(length)
        guard end <= buffer.count else {
            throw RecordParseFailure("length \(length) at byte \(position) runs past the record")
        }
        defer { position = end }
        return UnsafeRawBufferPointer(rebasing: buffer[position..<end])
    }

    @inline(__always)
    static func varint(_ buffer: UnsafeRawBufferPointer, at position: inout Int) throws(RecordParseFailure) -> Int32 {
        do { return try Varint.readInt32(buffer, at: &position) } catch { throw RecordParseFailure(error.description) }
    }

    static func read(
        _ section: UnsafeRawBufferPointer, at position: inout Int, baseOffset: Int64, baseTimestamp: Int64,
        logAppendTime: Int64?
    ) throws(RecordParseFailure) -> Record {
        let start = position
        let length = try varint(section, at: &position)
        guard length >= Int32(Record.minimumSize - 1) else { throw RecordParseFailure("record length \(length)") }
        let end = position + Int(length)
        guard end <= section.count else {
            throw RecordParseFailure("record length \(length) runs past the records section")
        }
        // Parse within the record's own bytes so no field can reach into the next record.
        let body = UnsafeRawBufferPointer(rebasing: section[..<end])
        let attributes = Int8(bitPattern: body[position])
        position += 1
        let timestampDelta: Int64
        do { timestampDelta = try Varint.readInt64(body, at: &position) } catch {
            throw RecordParseFailure(error.description)
        }
        let offsetDelta = try varint(body, at: &position)
        let key = try readBytes(body, at: &position)
        let value = try readBytes(body, at: &position)
        let headerCount = try varint(body, at: &position)
        guard headerCount >= 0 else { throw RecordParseFailure("negative header count \(headerCount)") }
        let headersStart = position
        for h in 0..<Int(headerCount) {
            guard let _ = try readBytes(body, at: &position) else {
                throw RecordParseFailure("header \(h) has a null key")
            }
            _ = try readBytes(body, at: &position)
        }
        guard position == end else {
            throw RecordParseFailure("record declares \(length) bytes but its fields take \(position - start) with the length")
        }
        return Record(
            offset: baseOffset &+ Int64(offsetDelta),  // (an offset delta past the last one is rejected by validateRecords)
            timestamp: logAppendTime ?? baseTimestamp &+ timestampDelta,
            offsetDelta: offsetDelta,
            timestampDelta: timestampDelta,
            attributes: attributes,
            key: key,
            value: value,
            headers: RecordHeaders(
                count: Int(headerCount), bytes: UnsafeRawBufferPointer(rebasing: body[headersStart..<end])),
            sizeInBytes: end - start)
    }
}

extension RecordBatch {
    /// Calls `body` with an iterator over this batch's records. A compressed records section is first
    /// decompressed into `scratch` (its contents are replaced; reuse one scratch buffer across batches to avoid
    /// allocations), at most `maxDecompressedSize` bytes.
    public func withRecords<R>(
        scratch: inout [UInt8], maxDecompressedSize: Int = RecordBatch.defaultMaxDecompressedSize,
        _ body: (inout RecordIterator) throws -> R
    ) throws -> R {
        guard let codec = compression else { throw RecordBatchError.unknownCompression(codecBits: Int(attributes & 7)) }
        if codec == .none {
            var iterator = RecordIterator(section: recordsSection, batch: self)
            return try body(&iterator)
        }
        scratch.removeAll(keepingCapacity: true)
        do {
            try Compression.decompress(recordsSection, codec: codec, limit: maxDecompressedSize, into: &scratch)
        } catch {
            throw RecordBatchError.decompression(error)
        }
        return try scratch.withUnsafeBytes { section in
            var iterator = RecordIterator(section: section, batch: self)
            return try body(&iterator)
        }
    }

    /// Calls `body` with each record in order (see `withRecords` for `scratch`).
    public func forEachRecord(
        scratch: inout [UInt8], maxDecompressedSize: Int = RecordBatch.defaultMaxDecompressedSize,
        _ body: (Record) throws -> Void
    ) throws {
        try withRecords(scratch: &scratch, maxDecompressedSize: maxDecompressedSize) { iterator in
            while let record = try iterator.next() { try body(record) }
        }
    }

    /// Parses every record (decompressing if needed) and checks the count, each record's structure, and that
    /// offset deltas increase and stay within `lastOffsetDelta`. Returns the number of records.
    @discardableResult
    public func validateRecords(
        scratch: inout [UInt8], maxDecompressedSize: Int = RecordBatch.defaultMaxDecompressedSize
    ) throws -> Int {
        let lastDelta = lastOffsetDelta
        return try withRecords(scratch: &scratch, maxDecompressedSize: maxDecompressedSize) { iterator in
            var count = 0
            var previousDelta: Int32 = -1
            while true {
                let position = iterator.position
                guard let record = try iterator.next() else { break }
                guard record.offsetDelta > previousDelta, record.offsetDelta <= lastDelta else {
                    throw RecordBatchError.corruptRecord(
                        index: count, position: position,
                        reason: "offset delta \(record.offsetDelta) after \(previousDelta) (last offset delta \(lastDelta))")
                }
                previousDelta = record.offsetDelta
                count += 1
            }
            return count
        }
    }
}
