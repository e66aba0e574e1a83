/// A zero-copy view of one Kafka RecordBatch (magic 2) in memory: the 61-byte header, then the records.
///
/// The view does not own its bytes: it is valid only while the buffer it was made from is. Reading a field
/// is a load from that buffer; nothing is parsed until asked for.
///
/// ```swift
/// try segmentBytes.withUnsafeBytes { buffer in
///     let batch = try RecordBatch(validating: buffer)          // length, magic, CRC, attributes, count
///     print(batch.baseOffset, batch.lastOffset, batch.compression)
///     var scratch: [UInt8] = []
///     try batch.forEachRecord(scratch: &scratch) { record in print(record.offset, record.value?.count ?? -1) }
/// }
/// ```
///
/// Layout (big-endian):
/// ```
///  0 baseOffset int64        8 batchLength int32      12 partitionLeaderEpoch int32   16 magic int8
/// 17 crc uint32 (CRC32C of bytes 21..<end)            21 attributes int16             23 lastOffsetDelta int32
/// 27 baseTimestamp int64    35 maxTimestamp int64     43 producerId int64             51 producerEpoch int16
/// 53 baseSequence int32     57 recordCount int32      61 records...
/// ```
public struct RecordBatch {
    /// Exactly this batch's bytes (`batchLength + 12`).
    public let bytes: UnsafeRawBufferPointer

    /// The size of the fixed header.
    public static let headerSize = 61
    /// Bytes before `batchLength`'s coverage begins: baseOffset + batchLength.
    public static let logOverhead = 12
    /// The magic byte of RecordBatch v2.
    public static let currentMagic: Int8 = 2
    /// Default cap on a batch's size when none is configured (Kafka's `message.max.bytes` is ~1 MiB; this bounds
    /// what a scan will believe before any configured limit applies).
    public static let defaultMaxBatchSize = 64 << 20
    /// Default cap on how far a compressed records section may inflate.
    public static let defaultMaxDecompressedSize = 256 << 20
    /// `producerId` of a batch from a producer that is neither idempotent nor transactional.
    public static let noProducerId: Int64 = -1
    public static let noProducerEpoch: Int16 = -1
    public static let noSequence: Int32 = -1
    public static let noPartitionLeaderEpoch: Int32 = -1

    enum Field {
        static let baseOffset = 0, batchLength = 8, partitionLeaderEpoch = 12, magic = 16, crc = 17
        static let attributes = 21, lastOffsetDelta = 23, baseTimestamp = 27, maxTimestamp = 35
        static let producerId = 43, producerEpoch = 51, baseSequence = 53, recordCount = 57
    }

    /// Reads the size of the batch that starts at the beginning of `buffer` from its length field, after
    /// checking the format: the magic byte and `batchLength` against `maxBatchSize`. Needs 17 bytes; does not
    /// need the whole batch (a scanner uses this to know how much to read).
    public static func size(
        ofBatchAt buffer: UnsafeRawBufferPointer, maxBatchSize: Int = defaultMaxBatchSize
    ) throws(RecordBatchError) -> Int {
        guard buffer.count > Field.magic else { throw .truncated(needed: Field.magic + 1, available: buffer.count) }
        let length = buffer.loadBigEndian(at: Field.batchLength, as: Int32.self)
        let magic = Int8(bitPattern: buffer[Field.magic])
        if magic != currentMagic {
            // Legacy message sets keep the magic at the same byte (offset, size, crc, magic).
            if magic == 0 || magic == 1 { throw .legacyFormat(magic: magic) }
            throw .unknownMagic(magic)
        }
        let size = Int(length) + logOverhead
        guard length >= headerSize - logOverhead, size <= maxBatchSize else {
            throw .invalidLength(batchLength: length, limit: maxBatchSize - logOverhead)
        }
        return size
    }

    /// Wraps the batch at the start of `buffer` after checking its structure and CRC: the length, the magic,
    /// the CRC32C over the bytes after the CRC field, the codec bits and the record count. Records are not
    /// parsed (see `validateRecords`). Extra bytes after the batch are ignored (`bytes` is exactly the batch).
    public init(
        validating buffer: UnsafeRawBufferPointer, maxBatchSize: Int = defaultMaxBatchSize
    ) throws(RecordBatchError) {
        try self.init(validatingHeaderOf: buffer, maxBatchSize: maxBatchSize)
        try verifyChecksum()
    }

    /// Like `init(validating:)` but without the CRC check (for batches already checked, or whose CRC is
    /// checked separately).
    public init(
        validatingHeaderOf buffer: UnsafeRawBufferPointer, maxBatchSize: Int = defaultMaxBatchSize
    ) throws(RecordBatchError) {
        let size = try Self.size(ofBatchAt: buffer, maxBatchSize: maxBatchSize)
        guard buffer.count >= size else { throw .truncated(needed: size, available: buffer.count) }
        self.bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<size])
        try Self.checkOffsets(baseOffset: baseOffset, lastOffsetDelta: lastOffsetDelta)
        guard compression != nil else { throw .unknownCompression(codecBits: Int(attributes & 0x07)) }
        let count = recordCount
        // Every record takes at least `Record.minimumSize` bytes once decompressed.
        let room = compression == CompressionCodec.none ? size - Self.headerSize : Self.defaultMaxDecompressedSize
        guard count >= 0, Int(count) <= room / Record.minimumSize else { throw .invalidRecordCount(count) }
    }

    /// `lastOffset` and `nextOffset` must be computable: a batch ending past Int64.max is invalid, not a trap.
    static func checkOffsets(baseOffset: Int64, lastOffsetDelta: Int32) throws(RecordBatchError) {
        guard !baseOffset.addingReportingOverflow(Int64(lastOffsetDelta) + 1).overflow,
            !baseOffset.addingReportingOverflow(Int64(lastOffsetDelta)).overflow
        else { throw .offsetOverflow(baseOffset: baseOffset, lastOffsetDelta: lastOffsetDelta) }
    }

    /// Wraps bytes already known to hold exactly one valid batch (for example, read back from a segment that
    /// was validated on append). Only the length is checked, as a precondition.
    public init(unchecked buffer: UnsafeRawBufferPointer) {
        precondition(buffer.count >= Self.headerSize, "RecordBatch(unchecked:) on \(buffer.count) bytes")
        let size = Int(buffer.loadBigEndian(at: Field.batchLength, as: Int32.self)) + Self.logOverhead
        precondition(size >= Self.headerSize && size <= buffer.count, "RecordBatch(unchecked:) with a bad length")
        self.bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<size])
    }

    /// Checks the stored CRC32C against the bytes after it.
    public func verifyChecksum() throws(RecordBatchError) {
        let computed = computeChecksum()
        guard computed == crc else { throw .crcMismatch(stored: crc, computed: computed) }
    }

    /// The CRC32C of the bytes after the CRC field (what `crc` should be).
    public func computeChecksum() -> UInt32 {
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[Field.attributes...]))
    }

    // MARK: Header fields

    public var sizeInBytes: Int { bytes.count }
    public var baseOffset: Int64 { bytes.loadBigEndian(at: Field.baseOffset, as: Int64.self) }
    public var batchLength: Int32 { bytes.loadBigEndian(at: Field.batchLength, as: Int32.self) }
    public var partitionLeaderEpoch: Int32 {
        bytes.loadBigEndian(at: Field.partitionLeaderEpoch, as: Int32.self)
    }
    public var magic: Int8 { Int8(bitPattern: bytes[Field.magic]) }
    public var crc: UInt32 { bytes.loadBigEndian(at: Field.crc, as: UInt32.self) }
    public var attributes: Int16 { bytes.loadBigEndian(at: Field.attributes, as: Int16.self) }
    public var lastOffsetDelta: Int32 { bytes.loadBigEndian(at: Field.lastOffsetDelta, as: Int32.self) }
    /// The first record's timestamp, or the delete horizon when `hasDeleteHorizon`.
    public var baseTimestamp: Int64 { bytes.loadBigEndian(at: Field.baseTimestamp, as: Int64.self) }
    public var maxTimestamp: Int64 { bytes.loadBigEndian(at: Field.maxTimestamp, as: Int64.self) }
    public var producerId: Int64 { bytes.loadBigEndian(at: Field.producerId, as: Int64.self) }
    public var producerEpoch: Int16 { bytes.loadBigEndian(at: Field.producerEpoch, as: Int16.self) }
    public var baseSequence: Int32 { bytes.loadBigEndian(at: Field.baseSequence, as: Int32.self) }
    public var recordCount: Int32 { bytes.loadBigEndian(at: Field.recordCount, as: Int32.self) }

    /// The offset of the last record slot (records may be missing after compaction; the slot still counts).
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// The offset after this batch.
    public var nextOffset: Int64 { lastOffset + 1 }

    // MARK: Attributes

    /// The codec, or `nil` for the undefined values 5-7 (rejected by validation).
    public var compression: CompressionCodec? { CompressionCodec(rawValue: UInt8(attributes & 0x07)) }
    public var timestampType: TimestampType { attributes & 0x08 != 0 ? .logAppendTime : .createTime }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }
    /// Set by the log cleaner: `baseTimestamp` then holds the time after which tombstones and transaction
    /// markers in this batch may be removed.
    public var hasDeleteHorizon: Bool { attributes & 0x40 != 0 }
    /// The delete horizon, when the batch carries one.
    public var deleteHorizonMs: Int64? { hasDeleteHorizon ? baseTimestamp : nil }
    /// The batch carries a producer id (idempotent or transactional producer).
    public var hasProducerId: Bool { producerId >= 0 }

    /// The records section (compressed for codecs other than none).
    public var recordsSection: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Self.headerSize...])
    }
}

/// How a batch's timestamps were set: by the producer, or by the broker when it appended the batch.
public enum TimestampType: Sendable, Equatable, CustomStringConvertible {
    case createTime
    case logAppendTime

    public var description: String { self == .createTime ? "CreateTime" : "LogAppendTime" }
}

extension RecordBatch {
    /// The attribute bits for a batch with these properties.
    public static func attributes(
        compression: CompressionCodec, timestampType: TimestampType = .createTime, isTransactional: Bool = false,
        isControl: Bool = false, hasDeleteHorizon: Bool = false
    ) -> Int16 {
        var bits = Int16(compression.rawValue)
        if timestampType == .logAppendTime { bits |= 0x08 }
        if isTransactional { bits |= 0x10 }
        if isControl { bits |= 0x20 }
        if hasDeleteHorizon { bits |= 0x40 }
        return bits
    }
}
