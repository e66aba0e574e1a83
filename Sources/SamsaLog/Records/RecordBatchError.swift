/// Why bytes are not a valid RecordBatch v2. Positions are byte offsets from the start of the batch
/// (record-level errors name the record's index and its position in the records section).
/// Layers above add where the batch was (segment file and position, or produce request).
public enum RecordBatchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The buffer ends before the batch does.
    case truncated(needed: Int, available: Int)
    /// `batchLength` is impossible (below the header size) or above the allowed maximum.
    case invalidLength(batchLength: Int32, limit: Int)
    /// A legacy message set (magic 0 or 1, Kafka before 0.11), which Samsa does not read.
    case legacyFormat(magic: Int8)
    /// A magic byte that is neither 2 nor a legacy format.
    case unknownMagic(Int8)
    /// The CRC32C stored in the header does not match the bytes after it.
    case crcMismatch(stored: UInt32, computed: UInt32)
    /// Attribute bits 0-2 name no codec (5, 6, 7).
    case unknownCompression(codecBits: Int)
    /// A negative record count, or a count that cannot fit in the batch.
    case invalidRecordCount(Int32)
    /// The records section holds a different number of records than the header says.
    case recordCountMismatch(declared: Int32, found: Int)
    /// A record is malformed; `index` is its position in the batch, `position` the byte in the records section.
    case corruptRecord(index: Int, position: Int, reason: String)
    /// The records section of a compressed batch could not be decompressed (or inflates past the limit).
    case decompression(CompressionError)
    /// A control batch whose key is not a valid control record key.
    case invalidControlRecord(reason: String)
    /// The base offset plus the last offset delta does not fit an Int64 (nor does the offset after it).
    case offsetOverflow(baseOffset: Int64, lastOffsetDelta: Int32)

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            "batch truncated: needs \(needed) bytes, only \(available) present"
        case .invalidLength(let length, let limit):
            "invalid batch length \(length) (must be \(RecordBatch.headerSize - RecordBatch.logOverhead)...\(limit))"
        case .legacyFormat(let magic):
            "legacy message format v\(magic) (magic \(magic), Kafka < 0.11 MessageSet) is not supported; only RecordBatch v2 (magic 2) is"
        case .unknownMagic(let magic):
            "unknown magic byte \(magic) (RecordBatch v2 has magic 2)"
        case .crcMismatch(let stored, let computed):
            "CRC mismatch: header says 0x\(String(stored, radix: 16)), bytes give 0x\(String(computed, radix: 16))"
        case .unknownCompression(let bits):
            "unknown compression codec \(bits) in attributes"
        case .invalidRecordCount(let count):
            "invalid record count \(count)"
        case .recordCountMismatch(let declared, let found):
            "header declares \(declared) records, records section holds \(found)"
        case .corruptRecord(let index, let position, let reason):
            "record \(index) at byte \(position) of the records section: \(reason)"
        case .decompression(let error):
            "records section: \(error)"
        case .invalidControlRecord(let reason):
            "invalid control record: \(reason)"
        case .offsetOverflow(let base, let delta):
            "base offset \(base) plus last offset delta \(delta) overflows"
        }
    }
}
