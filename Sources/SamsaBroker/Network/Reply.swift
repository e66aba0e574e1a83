import NIOCore
import SamsaLog
import SamsaProtocol

/// What a handler gives back for one request.
public enum Reply: Sendable {
    /// A response to write, in its turn among the connection's responses.
    case frame(ResponseFrame)
    /// No response (Produce with acks=0).
    case none
    /// Close the connection once the responses before this one are written (Kafka closes the connection of an
    /// acks=0 producer whose produce failed, so that it refreshes its metadata).
    case close(reason: String)
}

/// An encoded response: buffers and, for Fetch, holes (`FramePart.external`) filled from `files[token]` with
/// a `FileRegion` (sendfile).
public struct ResponseFrame: Sendable {
    public var parts: [FramePart]
    public var files: [FileSlice]

    public init(parts: [FramePart], files: [FileSlice] = []) {
        self.parts = parts
        self.files = files
    }

    public init(buffer: ByteBuffer) {
        self.init(parts: [.bytes(buffer)])
    }

    /// The frame's size on the wire, size prefix included.
    public var length: Int { parts.reduce(0) { $0 + $1.length } }
}

/// Encodes responses for one request (its version and correlation id); Sendable, so completions off the event
/// loop can encode too.
public struct ResponseEncoder: Sendable {
    public let version: Int16
    public let correlationId: Int32

    public func encode<M: KafkaResponseMessage>(_ message: M) throws(ProtocolError) -> Reply {
        .frame(ResponseFrame(buffer: try KafkaFrame.encodeResponse(message, version: version, correlationId: correlationId)))
    }
}
