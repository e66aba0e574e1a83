import NIOCore

/// Reads Kafka's primitive types from a `ByteBuffer`, checking every length against the bytes that remain
/// before anything is allocated.
///
/// Each read names its field (a static string such as `"ProduceRequest.Acks"`), which a failure carries in its
/// `ProtocolError`. Byte fields come back as slices of the buffer (`readSlice`), so record batches are not copied.
///
/// ```swift
/// var reader = WireReader(body)
/// let acks = try reader.readInt16("ProduceRequest.Acks")
/// ```
public struct WireReader: Sendable {
    public var buffer: ByteBuffer

    public init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    /// Bytes not yet read.
    @inlinable public var remaining: Int { buffer.readableBytes }

    @usableFromInline
    func truncated(_ needed: Int, _ field: StaticString) -> ProtocolError {
        ProtocolError(.truncated(needed: needed, remaining: buffer.readableBytes), field: "\(field)")
    }

    // MARK: Fixed-width integers (big-endian)

    @inlinable
    mutating func readFixed<T: FixedWidthInteger>(_ type: T.Type, _ field: StaticString) throws(ProtocolError) -> T {
        guard let value = buffer.readInteger(endianness: .big, as: T.self) else {
            throw truncated(MemoryLayout<T>.size, field)
        }
        return value
    }

    @inlinable public mutating func readInt8(_ field: StaticString) throws(ProtocolError) -> Int8 { try readFixed(Int8.self, field) }
    @inlinable public mutating func readInt16(_ field: StaticString) throws(ProtocolError) -> Int16 { try readFixed(Int16.self, field) }
    @inlinable public mutating func readInt32(_ field: StaticString) throws(ProtocolError) -> Int32 { try readFixed(Int32.self, field) }
    @inlinable public mutating func readInt64(_ field: StaticString) throws(ProtocolError) -> Int64 { try readFixed(Int64.self, field) }
    @inlinable public mutating func readUInt16(_ field: StaticString) throws(ProtocolError) -> UInt16 { try readFixed(UInt16.self, field) }
    @inlinable public mutating func readUInt32(_ field: StaticString) throws(ProtocolError) -> UInt32 { try readFixed(UInt32.self, field) }

    /// Kafka's boolean: one byte, anything but zero is true.
    @inlinable public mutating func readBool(_ field: StaticString) throws(ProtocolError) -> Bool {
        try readFixed(UInt8.self, field) != 0
    }

    /// IEEE 754 double, big-endian.
    @inlinable public mutating func readFloat64(_ field: StaticString) throws(ProtocolError) -> Double {
        Double(bitPattern: try readFixed(UInt64.self, field))
    }

    @inlinable public mutating func readUuid(_ field: StaticString) throws(ProtocolError) -> Uuid {
        guard buffer.readableBytes >= 16 else { throw truncated(16, field) }
        let hi = buffer.readInteger(endianness: .big, as: UInt64.self)!
        let lo = buffer.readInteger(endianness: .big, as: UInt64.self)!
        return Uuid(mostSignificantBits: hi, leastSignificantBits: lo)
    }

    // MARK: Varints (protobuf-style base-128, little-endian groups)

    /// At most 5 bytes; like Kafka, bits beyond 32 in the fifth byte are dropped.
    @inlinable public mutating func readUnsignedVarint(_ field: StaticString) throws(ProtocolError) -> UInt32 {
        var value: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw truncated(1, field) }
            value |= UInt32(byte & 0x7F) &<< shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 28 { throw ProtocolError(.varintTooLong(maxBytes: 5), field: "\(field)") }
        }
    }

    /// At most 10 bytes.
    @inlinable public mutating func readUnsignedVarlong(_ field: StaticString) throws(ProtocolError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw truncated(1, field) }
            value |= UInt64(byte & 0x7F) &<< shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { throw ProtocolError(.varintTooLong(maxBytes: 10), field: "\(field)") }
        }
    }

    /// Zig-zag signed 32-bit varint.
    @inlinable public mutating func readVarint(_ field: StaticString) throws(ProtocolError) -> Int32 {
        let raw = try readUnsignedVarint(field)
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Zig-zag signed 64-bit varint.
    @inlinable public mutating func readVarlong(_ field: StaticString) throws(ProtocolError) -> Int64 {
        let raw = try readUnsignedVarlong(field)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    // MARK: Length prefixes

    /// A string's length: int16 (classic, -1 = null) or unsigned varint N+1 (compact, 0 = null). nil = null.
    @inlinable mutating func readStringLength(compact: Bool, _ field: StaticString) throws(ProtocolError) -> Int? {
        let length: Int
        if compact {
            let n = try readUnsignedVarint(field)
            if n == 0 { return nil }
            length = Int(n) - 1
        } else {
            let n = try readInt16(field)
            if n == -1 { return nil }
            guard n >= 0 else { throw ProtocolError(.invalidLength(Int(n)), field: "\(field)") }
            length = Int(n)
        }
        guard length <= buffer.readableBytes else {
            throw ProtocolError(.lengthExceedsRemaining(claimed: length, remaining: buffer.readableBytes), field: "\(field)")
        }
        return length
    }

    /// A byte array's (or records') length: int32 (classic, -1 = null) or unsigned varint N+1 (compact). nil = null.
    @inlinable mutating func readBytesLength(compact: Bool, _ field: StaticString) throws(ProtocolError) -> Int? {
        let length: Int
        if compact {
            let n = try readUnsignedVarint(field)
            if n == 0 { return nil }
            length = Int(n) - 1
        } else {
            let n = try readInt32(field)
            if n == -1 { return nil }
            guard n >= 0 else { throw ProtocolError(.invalidLength(Int(n)), field: "\(field)") }
            length = Int(n)
        }
        guard length <= buffer.readableBytes else {
            throw ProtocolError(.lengthExceedsRemaining(claimed: length, remaining: buffer.readableBytes), field: "\(field)")
        }
        return length
    }

    // MARK: Strings and bytes

    @inlinable public mutating func readString(compact: Bool, _ field: StaticString) throws(ProtocolError) -> String {
        guard let length = try readStringLength(compact: compact, field) else {
            throw ProtocolError(.unexpectedNull, field: "\(field)")
        }
        return buffer.readString(length: length)!
    }

    @inlinable public mutating func readNullableString(compact: Bool, _ field: StaticString) throws(ProtocolError) -> String? {
        guard let length = try readStringLength(compact: compact, field) else { return nil }
        return buffer.readString(length: length)!
    }

    /// A slice of the buffer (no copy).
    @inlinable public mutating func readBytes(compact: Bool, _ field: StaticString) throws(ProtocolError) -> ByteBuffer {
        guard let length = try readBytesLength(compact: compact, field) else {
            throw ProtocolError(.unexpectedNull, field: "\(field)")
        }
        return buffer.readSlice(length: length)!
    }

    /// A slice of the buffer (no copy), or nil for null.
    @inlinable public mutating func readNullableBytes(compact: Bool, _ field: StaticString) throws(ProtocolError) -> ByteBuffer? {
        guard let length = try readBytesLength(compact: compact, field) else { return nil }
        return buffer.readSlice(length: length)!
    }

    /// The next `length` bytes as a reader of their own (tagged field values).
    @inlinable public mutating func readSubReader(length: Int, _ field: StaticString) throws(ProtocolError) -> WireReader {
        guard length <= buffer.readableBytes else {
            throw ProtocolError(.lengthExceedsRemaining(claimed: length, remaining: buffer.readableBytes), field: "\(field)")
        }
        return WireReader(buffer.readSlice(length: length)!)
    }

    // MARK: Arrays

    /// An array's element count, checked so that `count * minElementSize` bytes remain. nil = null.
    /// A caller may then `reserveCapacity(count)`: the frame itself bounds it.
    @inlinable public mutating func readNullableArrayCount(
        compact: Bool, minElementSize: Int, _ field: StaticString
    ) throws(ProtocolError) -> Int? {
        let count: Int
        if compact {
            let n = try readUnsignedVarint(field)
            if n == 0 { return nil }
            count = Int(n) - 1
        } else {
            let n = try readInt32(field)
            if n == -1 { return nil }
            guard n >= 0 else { throw ProtocolError(.invalidLength(Int(n)), field: "\(field)") }
            count = Int(n)
        }
        let size = max(1, minElementSize)
        guard count <= buffer.readableBytes / size else {
            throw ProtocolError(
                .arrayExceedsRemaining(count: count, minElementSize: size, remaining: buffer.readableBytes),
                field: "\(field)")
        }
        return count
    }

    @inlinable public mutating func readArrayCount(
        compact: Bool, minElementSize: Int, _ field: StaticString
    ) throws(ProtocolError) -> Int {
        guard let count = try readNullableArrayCount(compact: compact, minElementSize: minElementSize, field) else {
            throw ProtocolError(.unexpectedNull, field: "\(field)")
        }
        return count
    }

    // MARK: Tagged fields

    /// Reads a tagged-field section, handing each (tag, value reader) to `body`; unknown tags are for `body`
    /// to ignore. Each value is bounded by its declared size, and the reader moves past it whatever `body` read.
    @inlinable public mutating func readTaggedFields(
        _ field: StaticString, _ body: (UInt32, inout WireReader) throws(ProtocolError) -> Void
    ) throws(ProtocolError) {
        let count = try readUnsignedVarint(field)
        var i: UInt32 = 0
        while i < count {
            let tag = try readUnsignedVarint(field)
            let size = try readUnsignedVarint(field)
            var value = try readSubReader(length: Int(size), field)
            try body(tag, &value)
            i += 1
        }
    }

    /// Skips a tagged-field section whose tags are all unknown here.
    @inlinable public mutating func skipTaggedFields(_ field: StaticString) throws(ProtocolError) {
        try readTaggedFields(field) { (_: UInt32, _: inout WireReader) throws(ProtocolError) in }
    }
}
