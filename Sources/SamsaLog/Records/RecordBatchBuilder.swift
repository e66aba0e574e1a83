/// Writes a RecordBatch v2 exactly as Kafka's producer does (same attribute bits, same field values, same
/// CRC32C), with the chosen codec.
///
/// ```swift
/// var builder = RecordBatchBuilder(codec: .lz4)
/// builder.append(timestamp: 1_732_400_000_000, key: Array("k".utf8), value: Array("v".utf8),
///                headers: [RecordHeader(key: "trace-id", value: Array("abc".utf8))])
/// let bytes: [UInt8] = try builder.build()          // one batch, base offset 0
/// ```
///
/// Records are encoded as they are appended into one reused buffer; `build` writes the header (and compresses
/// the records section) once. `reset` keeps the buffers' capacity for the next batch.
public struct RecordBatchBuilder {
    public var baseOffset: Int64
    public var partitionLeaderEpoch: Int32
    public var codec: CompressionCodec
    public var compressionLevel: Int?
    public var timestampType: TimestampType
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var isTransactional: Bool
    public var isControl: Bool
    /// When set, the batch carries a delete horizon (attribute bit 6) as its base timestamp, and record
    /// timestamp deltas are relative to it (as Kafka's cleaner writes them). Set it before the first append.
    public var deleteHorizonMs: Int64? {
        didSet { precondition(recordCount == 0, "set deleteHorizonMs before appending records") }
    }
    /// For LogAppendTime batches: the broker's append time, written as the max timestamp.
    public var logAppendTime: Int64?

    /// The encoded records so far (uncompressed).
    var records: [UInt8] = []
    public private(set) var recordCount: Int32 = 0
    var firstTimestamp: Int64?
    var maxTimestamp: Int64 = -1
    var lastOffsetDelta: Int32 = -1

    public init(
        baseOffset: Int64 = 0, codec: CompressionCodec = .none, compressionLevel: Int? = nil,
        timestampType: TimestampType = .createTime, partitionLeaderEpoch: Int32 = RecordBatch.noPartitionLeaderEpoch,
        producerId: Int64 = RecordBatch.noProducerId, producerEpoch: Int16 = RecordBatch.noProducerEpoch,
        baseSequence: Int32 = RecordBatch.noSequence, isTransactional: Bool = false, isControl: Bool = false
    ) {
        self.baseOffset = baseOffset
        self.codec = codec
        self.compressionLevel = compressionLevel
        self.timestampType = timestampType
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.isTransactional = isTransactional
        self.isControl = isControl
    }

    /// The uncompressed size of the batch so far (header plus encoded records).
    public var estimatedSize: Int { RecordBatch.headerSize + records.count }
    public var isEmpty: Bool { recordCount == 0 }

    /// Appends a record at the next offset (or at `offsetDelta`, which must be above the previous one: a
    /// compacted batch keeps its original offsets).
    public mutating func append(
        offsetDelta: Int32? = nil, timestamp: Int64, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: some Collection<RecordHeader> = [RecordHeader](), attributes: Int8 = 0
    ) {
        let delta = offsetDelta ?? (lastOffsetDelta + 1)
        precondition(delta > lastOffsetDelta, "offset deltas must increase: \(delta) after \(lastOffsetDelta)")
        if firstTimestamp == nil { firstTimestamp = deleteHorizonMs ?? timestamp }
        let base = firstTimestamp!
        let timestampDelta = timestamp &- base
        // Body size first: the length prefix counts everything after itself.
        var bodySize = 1 + Varint.size(of: timestampDelta) + Varint.size(of: Int64(delta))
        bodySize += Self.sizeOfBytes(key) + Self.sizeOfBytes(value) + Varint.size(of: Int64(headers.count))
        for header in headers {
            bodySize += Varint.size(of: Int64(header.key.utf8.count)) + header.key.utf8.count
            bodySize += Self.sizeOfBytes(header.value)
        }
        Varint.append(Int64(bodySize), to: &records)
        records.append(UInt8(bitPattern: attributes))
        Varint.append(timestampDelta, to: &records)
        Varint.append(Int64(delta), to: &records)
        Self.appendBytes(key, to: &records)
        Self.appendBytes(value, to: &records)
        Varint.append(Int64(headers.count), to: &records)
        for header in headers {
            Varint.append(Int64(header.key.utf8.count), to: &records)
            records.append(contentsOf: header.key.utf8)
            header.value.withUnsafeBufferPointerIfPresent { Self.appendBytes($0, to: &records) }
        }
        recordCount += 1
        lastOffsetDelta = delta
        maxTimestamp = Swift.max(maxTimestamp, timestamp)
    }

    /// Appends a record from byte arrays (`nil` = null).
    public mutating func append(
        offsetDelta: Int32? = nil, timestamp: Int64, key: [UInt8]?, value: [UInt8]?,
        headers: [RecordHeader] = [], attributes: Int8 = 0
    ) {
        key.withUnsafeBufferPointerIfPresent { keyBytes in
            value.withUnsafeBufferPointerIfPresent { valueBytes in
                append(
                    offsetDelta: offsetDelta, timestamp: timestamp, key: keyBytes, value: valueBytes, headers: headers,
                    attributes: attributes)
            }
        }
    }

    /// Sets the last offset delta beyond the last record (a compacted batch whose last records were removed
    /// keeps its original last offset).
    public mutating func setLastOffsetDelta(_ delta: Int32) {
        precondition(delta >= lastOffsetDelta, "last offset delta \(delta) below the last record's \(lastOffsetDelta)")
        lastOffsetDelta = delta
    }

    /// Encodes the batch, appending it to `output`.
    public mutating func build(into output: inout [UInt8]) throws(CompressionError) {
        let start = output.count
        output.reserveCapacity(start + RecordBatch.headerSize + records.count)
        output.append(contentsOf: repeatElement(0, count: RecordBatch.headerSize))
        if codec == .none {
            output.append(contentsOf: records)
        } else {
            try records.withBytes { section throws(CompressionError) in
                try Compression.compress(section, codec: codec, level: compressionLevel, into: &output)
            }
        }
        let batchLength = Int32(output.count - start - RecordBatch.logOverhead)
        let hasHorizon = deleteHorizonMs != nil
        let attributes = RecordBatch.attributes(
            compression: codec, timestampType: timestampType, isTransactional: isTransactional, isControl: isControl,
            hasDeleteHorizon: hasHorizon)
        let baseTimestamp = firstTimestamp ?? deleteHorizonMs ?? -1
        let maxTimestamp =
            timestampType == .logAppendTime ? (logAppendTime ?? self.maxTimestamp) : self.maxTimestamp
        output.withUnsafeMutableBytes { whole in
            let header = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            typealias F = RecordBatch.Field
            header.storeBigEndian(baseOffset, at: F.baseOffset)
            header.storeBigEndian(batchLength, at: F.batchLength)
            header.storeBigEndian(partitionLeaderEpoch, at: F.partitionLeaderEpoch)
            header[F.magic] = UInt8(RecordBatch.currentMagic)
            header.storeBigEndian(attributes, at: F.attributes)
            header.storeBigEndian(lastOffsetDelta, at: F.lastOffsetDelta)
            header.storeBigEndian(baseTimestamp, at: F.baseTimestamp)
            header.storeBigEndian(maxTimestamp, at: F.maxTimestamp)
            header.storeBigEndian(producerId, at: F.producerId)
            header.storeBigEndian(producerEpoch, at: F.producerEpoch)
            header.storeBigEndian(baseSequence, at: F.baseSequence)
            header.storeBigEndian(recordCount, at: F.recordCount)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: header[F.attributes...]))
            header.storeBigEndian(crc, at: F.crc)
        }
    }

    /// Encodes the batch as a new array.
    public mutating func build() throws(CompressionError) -> [UInt8] {
        var output: [UInt8] = []
        try build(into: &output)
        return output
    }

    /// Clears the records (keeping buffer capacity) for the next batch with the same settings.
    public mutating func reset(baseOffset: Int64 = 0) {
        self.baseOffset = baseOffset
        records.removeAll(keepingCapacity: true)
        recordCount = 0
        firstTimestamp = nil
        maxTimestamp = -1
        lastOffsetDelta = -1
        deleteHorizonMs = nil
        logAppendTime = nil
    }

    @inline(__always)
    static func sizeOfBytes(_ bytes: UnsafeRawBufferPointer?) -> Int {
        guard let bytes else { return 1 }
        return Varint.size(of: Int64(bytes.count)) + bytes.count
    }

    @inline(__always)
    static func sizeOfBytes(_ bytes: [UInt8]?) -> Int {
        guard let bytes else { return 1 }
        return Varint.size(of: Int64(bytes.count)) + bytes.count
    }

    @inline(__always)
    static func appendBytes(_ bytes: UnsafeRawBufferPointer?, to output: inout [UInt8]) {
        guard let bytes else { return Varint.append(Int64(-1), to: &output) }
        Varint.append(Int64(bytes.count), to: &output)
        output.append(contentsOf: bytes)
    }
}

/// A record header for the builder: a UTF-8 key and an optional value.
public struct RecordHeader: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

extension Optional where Wrapped == [UInt8] {
    /// Calls `body` with a raw view of the bytes, or with `nil`.
    func withUnsafeBufferPointerIfPresent<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let bytes = self else { return try body(nil) }
        return try bytes.withUnsafeBytes { try body($0) }
    }
}
