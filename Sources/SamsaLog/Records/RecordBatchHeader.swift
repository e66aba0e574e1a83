/// The fixed header of a record batch, copied out of its bytes: what segment scans, indexes and dump-log need
/// without holding the batch's memory.
public struct RecordBatchHeader: Sendable, Equatable {
    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    public var sizeInBytes: Int { Int(batchLength) + RecordBatch.logOverhead }
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    public var nextOffset: Int64 { lastOffset + 1 }
    public var compression: CompressionCodec? { CompressionCodec(rawValue: UInt8(attributes & 0x07)) }
    public var timestampType: TimestampType { attributes & 0x08 != 0 ? .logAppendTime : .createTime }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }
    public var hasDeleteHorizon: Bool { attributes & 0x40 != 0 }
    public var lastSequence: Int32 {
        baseSequence < 0 ? baseSequence : Int32(truncatingIfNeeded: (Int64(baseSequence) + Int64(lastOffsetDelta)) % (Int64(Int32.max) + 1))
    }

    public init(_ batch: RecordBatch) {
        baseOffset = batch.baseOffset
        batchLength = batch.batchLength
        partitionLeaderEpoch = batch.partitionLeaderEpoch
        magic = batch.magic
        crc = batch.crc
        attributes = batch.attributes
        lastOffsetDelta = batch.lastOffsetDelta
        baseTimestamp = batch.baseTimestamp
        maxTimestamp = batch.maxTimestamp
        producerId = batch.producerId
        producerEpoch = batch.producerEpoch
        baseSequence = batch.baseSequence
        recordCount = batch.recordCount
    }

    /// Parses the header at the start of `buffer` (at least 61 bytes), checking the magic byte and the length
    /// against `maxBatchSize`. The batch's body need not be present; its CRC is not checked.
    public init(parsing buffer: UnsafeRawBufferPointer, maxBatchSize: Int = RecordBatch.defaultMaxBatchSize) throws(RecordBatchError) {
        _ = try RecordBatch.size(ofBatchAt: buffer, maxBatchSize: maxBatchSize)
        guard buffer.count >= RecordBatch.headerSize else {
            throw .truncated(needed: RecordBatch.headerSize, available: buffer.count)
        }
        self.init(RecordBatch(headerOf: buffer))
        try RecordBatch.checkOffsets(baseOffset: baseOffset, lastOffsetDelta: lastOffsetDelta)
    }
}

extension RecordBatch {
    /// A view of only the header bytes (for field access; the records section is not there).
    init(headerOf buffer: UnsafeRawBufferPointer) {
        precondition(buffer.count >= Self.headerSize)
        self.bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<Self.headerSize])
    }
}
