import NIOCore

/// A Kafka request or response body, decodable and encodable at every version in `supportedVersions`.
///
/// ```swift
/// let request = try MetadataRequest.decode(body, version: 12)
/// let bytes = try MetadataResponse(brokers: [...], topics: [...]).encode(version: 12)
/// ```
public protocol KafkaMessage: Sendable, Equatable {
    static var apiKey: ApiKey { get }
    /// The versions this library reads and writes.
    static var supportedVersions: ClosedRange<Int16> { get }
    /// Reads the body at `version`; throws `unsupportedVersion` outside `supportedVersions`.
    static func decode(from reader: inout WireReader, version: Int16) throws(ProtocolError) -> Self
    /// Writes the body at `version`. Fields the version lacks are not written.
    func encode(to writer: inout WireWriter, version: Int16) throws(ProtocolError)
}

public protocol KafkaRequestMessage: KafkaMessage {
    associatedtype Response: KafkaResponseMessage
}

public protocol KafkaResponseMessage: KafkaMessage {}

extension KafkaMessage {
    /// Reads a body from `buffer` (bytes past the body are left unread and ignored).
    public static func decode(_ buffer: ByteBuffer, version: Int16) throws(ProtocolError) -> Self {
        var reader = WireReader(buffer)
        return try decode(from: &reader, version: version)
    }

    /// The body alone, in one buffer.
    public func encode(version: Int16, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(ProtocolError) -> ByteBuffer {
        var writer = WireWriter(allocator: allocator)
        try encode(to: &writer, version: version)
        return writer.buffer
    }

    /// Whether `version` uses compact lengths and tagged fields.
    public static func isFlexible(version: Int16) -> Bool { apiKey.isFlexible(version: version) }
}
