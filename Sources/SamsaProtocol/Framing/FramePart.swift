import NIOCore

/// A records field of a Fetch response: bytes in memory, or `length` bytes that the broker sends from a
/// file (identified by its own `token`) in place, with `sendfile`.
///
/// `.bytes(nil)` is a null records field.
public enum RecordsPayload: Sendable, Equatable {
    case bytes(ByteBuffer?)
    case external(length: Int, token: Int)

    /// The payload's size on the wire (without its length prefix); 0 for null.
    public var length: Int {
        switch self {
        case .bytes(let b): return b?.readableBytes ?? 0
        case .external(let length, _): return length
        }
    }
}

/// One piece of an encoded frame: bytes to write, or a hole of `length` bytes the sender fills from `token`
/// (a `FileRegion`).
public enum FramePart: Sendable, Equatable {
    case bytes(ByteBuffer)
    case external(token: Int, length: Int)

    public var length: Int {
        switch self {
        case .bytes(let b): return b.readableBytes
        case .external(_, let length): return length
        }
    }
}
