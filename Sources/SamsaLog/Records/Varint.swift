/// Kafka's variable-length integers (protobuf style): zigzag-encoded signed values, 7 bits per byte, least
/// significant group first. `int32` values take at most 5 bytes and `int64` values at most 10.
///
/// ```swift
/// var bytes: [UInt8] = []
/// Varint.append(Int32(-1), to: &bytes)          // [0x01]
/// var cursor = 0
/// let value = try bytes.withUnsafeBytes { try Varint.readInt32($0, at: &cursor) }   // -1
/// ```
public enum Varint {
    /// The largest encoded size of an `Int32` and of an `Int64`.
    public static let maxInt32Bytes = 5
    public static let maxInt64Bytes = 10

    @inline(__always)
    public static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

    @inline(__always)
    public static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }

    /// The number of bytes `value` takes as a zigzag varint.
    public static func size(of value: Int64) -> Int {
        let z = zigzag(value)
        // Each byte holds 7 bits; zero still takes one byte.
        return z == 0 ? 1 : (64 - z.leadingZeroBitCount + 6) / 7
    }

    /// Appends `value` zigzag-encoded.
    public static func append(_ value: Int64, to bytes: inout [UInt8]) {
        var z = zigzag(value)
        while z >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: z) | 0x80)
            z >>= 7
        }
        bytes.append(UInt8(z))
    }

    public static func append(_ value: Int32, to bytes: inout [UInt8]) { append(Int64(value), to: &bytes) }

    /// Reads an unsigned varint of at most `maxBytes` bytes at `position`, advancing it.
    ///
    /// Inlined fast path for one- and two-byte varints: nearly every varint of a record (lengths, deltas, counts)
    /// is one of those, and a record has six of them. This halves the cost of validating a producer's
    /// uncompressed batch (measured: Benchmarks/RecordBenchmarks).
    @inline(__always)
    static func readUnsigned(
        _ buffer: UnsafeRawBufferPointer, at position: inout Int, maxBytes: Int
    ) throws(VarintError) -> UInt64 {
        let index = position
        if index < buffer.count {
            let first = buffer[index]
            if first < 0x80 {
                position = index + 1
                return UInt64(first)
            }
            if maxBytes >= 2 && index + 1 < buffer.count {
                let second = buffer[index + 1]
                if second < 0x80 {
                    position = index + 2
                    return UInt64(first & 0x7F) | UInt64(second) << 7
                }
            }
        }
        return try readUnsignedLoop(buffer, at: &position, maxBytes: maxBytes)
    }

    static func readUnsignedLoop(
        _ buffer: UnsafeRawBufferPointer, at position: inout Int, maxBytes: Int
    ) throws(VarintError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = position
        let end = buffer.count
        for _ in 0..<maxBytes {
            guard index < end else { throw .truncated(position: position) }
            let byte = buffer[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                position = index
                return result
            }
            shift += 7
        }
        throw .tooLong(position: position, maxBytes: maxBytes)
    }

    /// Reads a zigzag `Int32` at `position` (advancing it); more than 5 bytes or a value outside Int32 is an error.
    @inline(__always)
    public static func readInt32(_ buffer: UnsafeRawBufferPointer, at position: inout Int) throws(VarintError) -> Int32 {
        let start = position
        let raw = try readUnsigned(buffer, at: &position, maxBytes: maxInt32Bytes)
        guard raw <= UInt64(UInt32.max) else {
            position = start
            throw .overflow(position: start)
        }
        return Int32(truncatingIfNeeded: unzigzag(raw))
    }

    /// Reads a zigzag `Int64` at `position` (advancing it); more than 10 bytes is an error.
    @inline(__always)
    public static func readInt64(_ buffer: UnsafeRawBufferPointer, at position: inout Int) throws(VarintError) -> Int64 {
        unzigzag(try readUnsigned(buffer, at: &position, maxBytes: maxInt64Bytes))
    }
}

/// Why a varint could not be read; `position` is where it started.
public enum VarintError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(position: Int)
    case tooLong(position: Int, maxBytes: Int)
    case overflow(position: Int)

    public var description: String {
        switch self {
        case .truncated(let p): "varint at byte \(p) runs past the end of the buffer"
        case .tooLong(let p, let max): "varint at byte \(p) does not end within \(max) bytes"
        case .overflow(let p): "varint at byte \(p) does not fit in 32 bits"
        }
    }
}
