import NIOCore

/// Writes Kafka's primitive types into a `ByteBuffer`.
///
/// A writer made with `allowsExternalPayloads: true` can also leave a hole for bytes that come from a file
/// (`writeExternal`): it then ends as a list of `FramePart`s, buffers split around each hole, so a broker can
/// send a Fetch response's records with `sendfile` instead of copying them.
///
/// ```swift
/// var writer = WireWriter()
/// writer.writeInt16(3)
/// try writer.writeString("orders", compact: true, "CreateTopicsRequest.Topics.Name")
/// let bytes = writer.buffer
/// ```
public struct WireWriter: Sendable {
    /// Every byte written so far (external parts are not in it: they are holes recorded in `holes`).
    public var buffer: ByteBuffer
    /// External parts: where in `buffer` each hole sits (a writer index), its token and its length.
    @usableFromInline var holes: [(offset: Int, token: Int, length: Int)] = []
    @usableFromInline var externalBytes = 0
    @usableFromInline let allowsExternalPayloads: Bool
    @usableFromInline let allocator: ByteBufferAllocator

    public init(
        buffer: ByteBuffer? = nil, allocator: ByteBufferAllocator = ByteBufferAllocator(),
        allowsExternalPayloads: Bool = false
    ) {
        self.allocator = allocator
        self.buffer = buffer ?? allocator.buffer(capacity: 256)
        self.allowsExternalPayloads = allowsExternalPayloads
    }

    /// Bytes written so far, counting external parts' lengths.
    public var totalBytes: Int { buffer.readableBytes + externalBytes }

    /// Whether any external part was written.
    public var hasExternalParts: Bool { !holes.isEmpty }

    // MARK: Fixed-width integers (big-endian)

    @inlinable public mutating func writeInt8(_ v: Int8) { buffer.writeInteger(v) }
    @inlinable public mutating func writeInt16(_ v: Int16) { buffer.writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeInt32(_ v: Int32) { buffer.writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeInt64(_ v: Int64) { buffer.writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeUInt16(_ v: UInt16) { buffer.writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeUInt32(_ v: UInt32) { buffer.writeInteger(v, endianness: .big) }
    @inlinable public mutating func writeBool(_ v: Bool) { buffer.writeInteger(v ? 1 : 0 as UInt8) }
    @inlinable public mutating func writeFloat64(_ v: Double) { buffer.writeInteger(v.bitPattern, endianness: .big) }

    @inlinable public mutating func writeUuid(_ v: Uuid) {
        buffer.writeInteger(v.mostSignificantBits, endianness: .big)
        buffer.writeInteger(v.leastSignificantBits, endianness: .big)
    }

    // MARK: Varints

    @inlinable public mutating func writeUnsignedVarint(_ value: UInt32) {
        var v = value
        while v >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(truncatingIfNeeded: v))
    }

    @inlinable public mutating func writeUnsignedVarlong(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(truncatingIfNeeded: v))
    }

    @inlinable public mutating func writeVarint(_ v: Int32) {
        writeUnsignedVarint(UInt32(bitPattern: (v &<< 1) ^ (v >> 31)))
    }

    @inlinable public mutating func writeVarlong(_ v: Int64) {
        writeUnsignedVarlong(UInt64(bitPattern: (v &<< 1) ^ (v >> 63)))
    }

    /// The number of bytes `writeUnsignedVarint(value)` writes.
    @inlinable public static func unsignedVarintSize(_ value: UInt32) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    // MARK: Length prefixes

    @inlinable mutating func writeLength(_ length: Int?, compact: Bool, wide: Bool, _ field: StaticString) throws(ProtocolError) {
        guard let length else {
            if compact { writeUnsignedVarint(0) } else if wide { writeInt32(-1) } else { writeInt16(-1) }
            return
        }
        if compact {
            guard length < Int(UInt32.max) else {
                throw ProtocolError(.valueTooLong(length: length, limit: Int(UInt32.max) - 1), field: "\(field)")
            }
            writeUnsignedVarint(UInt32(length + 1))
        } else if wide {
            guard length <= Int(Int32.max) else {
                throw ProtocolError(.valueTooLong(length: length, limit: Int(Int32.max)), field: "\(field)")
            }
            writeInt32(Int32(length))
        } else {
            guard length <= Int(Int16.max) else {
                throw ProtocolError(.valueTooLong(length: length, limit: Int(Int16.max)), field: "\(field)")
            }
            writeInt16(Int16(length))
        }
    }

    // MARK: Strings and bytes

    @inlinable public mutating func writeString(_ s: String, compact: Bool, _ field: StaticString) throws(ProtocolError) {
        try writeLength(s.utf8.count, compact: compact, wide: false, field)
        buffer.writeString(s)
    }

    @inlinable public mutating func writeNullableString(_ s: String?, compact: Bool, _ field: StaticString) throws(ProtocolError) {
        guard let s else { return try writeLength(nil, compact: compact, wide: false, field) }
        try writeString(s, compact: compact, field)
    }

    @inlinable public mutating func writeBytes(_ b: ByteBuffer, compact: Bool, _ field: StaticString) throws(ProtocolError) {
        try writeLength(b.readableBytes, compact: compact, wide: true, field)
        buffer.writeImmutableBuffer(b)
    }

    @inlinable public mutating func writeNullableBytes(_ b: ByteBuffer?, compact: Bool, _ field: StaticString) throws(ProtocolError) {
        guard let b else { return try writeLength(nil, compact: compact, wide: true, field) }
        try writeBytes(b, compact: compact, field)
    }

    /// A records field: a length prefix, then either the bytes or an external part of that length.
    public mutating func writeRecords(_ payload: RecordsPayload, compact: Bool, _ field: StaticString) throws(ProtocolError) {
        switch payload {
        case .bytes(let b):
            try writeNullableBytes(b, compact: compact, field)
        case let .external(length, token):
            precondition(length >= 0, "external records length must not be negative")
            try writeLength(length, compact: compact, wide: true, field)
            try writeExternal(token: token, length: length, field)
        }
    }

    /// Records a hole of `length` bytes, here, that the sender fills from `token`.
    public mutating func writeExternal(token: Int, length: Int, _ field: StaticString) throws(ProtocolError) {
        guard allowsExternalPayloads else { throw ProtocolError(.externalPayloadNotAllowed, field: "\(field)") }
        holes.append((buffer.writerIndex, token, length))
        externalBytes += length
    }

    // MARK: Arrays

    @inlinable public mutating func writeArrayCount(_ count: Int, compact: Bool, _ field: StaticString) throws(ProtocolError) {
        try writeLength(count, compact: compact, wide: true, field)
    }

    @inlinable public mutating func writeNullableArrayCount(_ count: Int?, compact: Bool, _ field: StaticString) throws(ProtocolError) {
        try writeLength(count, compact: compact, wide: true, field)
    }

    /// Writes one tagged field: its tag, the size of its value, then the value that `body` writes.
    @inlinable public mutating func writeTaggedField(
        tag: UInt32, _ body: (inout WireWriter) throws(ProtocolError) -> Void
    ) throws(ProtocolError) {
        var value = WireWriter(allocator: allocator)
        try body(&value)
        writeUnsignedVarint(tag)
        writeUnsignedVarint(UInt32(value.buffer.readableBytes))
        buffer.writeImmutableBuffer(value.buffer)
    }

    // MARK: Results

    /// Everything written, as parts: slices of the one buffer, with the external holes between them.
    /// Slicing happens only here, after the last write, so no part is ever copied.
    public mutating func finishParts() -> [FramePart] {
        var parts: [FramePart] = []
        parts.reserveCapacity(holes.count * 2 + 1)
        var start = buffer.readerIndex
        for hole in holes {
            if hole.offset > start {
                parts.append(.bytes(buffer.getSlice(at: start, length: hole.offset - start)!))
            }
            parts.append(.external(token: hole.token, length: hole.length))
            start = hole.offset
        }
        if buffer.writerIndex > start || parts.isEmpty {
            parts.append(.bytes(buffer.getSlice(at: start, length: buffer.writerIndex - start)!))
        }
        holes = []
        externalBytes = 0
        buffer = allocator.buffer(capacity: 0)
        return parts
    }
}

/// Converts an optional to a value, or throws `unexpectedNull` for the field.
@inlinable func nonNull<T>(_ value: T?, _ field: StaticString) throws(ProtocolError) -> T {
    guard let value else { throw ProtocolError(.unexpectedNull, field: "\(field)") }
    return value
}
