import NIOCore

/// Frames on the wire: a 4-byte big-endian size, then a header, then a body.
///
/// ```swift
/// // broker: one buffer, or parts when records come from files
/// let frame = try KafkaFrame.encodeResponse(response, version: 12, correlationId: header.correlationId)
/// let parts = try KafkaFrame.encodeResponseParts(fetchResponse, version: 12, correlationId: id)
/// // client
/// let request = try KafkaFrame.encodeRequest(MetadataRequest(topics: nil), version: 12, correlationId: 1, clientId: "samsa")
/// ```
public enum KafkaFrame {
    /// The size prefix's width.
    public static let sizePrefixLength = 4

    /// A request as one size-prefixed frame.
    public static func encodeRequest<M: KafkaRequestMessage>(
        _ message: M, version: Int16, correlationId: Int32, clientId: String?,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(ProtocolError) -> ByteBuffer {
        var writer = WireWriter(allocator: allocator)
        writer.writeInt32(0)
        let header = RequestHeader(apiKey: M.apiKey, apiVersion: version, correlationId: correlationId, clientId: clientId)
        try header.encode(to: &writer)
        try message.encode(to: &writer, version: version)
        return try sealed(&writer)
    }

    /// A response as one size-prefixed frame. Throws `externalPayloadNotAllowed` for file-backed records.
    public static func encodeResponse<M: KafkaResponseMessage>(
        _ message: M, version: Int16, correlationId: Int32,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(ProtocolError) -> ByteBuffer {
        var writer = WireWriter(allocator: allocator)
        writer.writeInt32(0)
        ResponseHeader(correlationId: correlationId)
            .encode(to: &writer, headerVersion: M.apiKey.responseHeaderVersion(version: version))
        try message.encode(to: &writer, version: version)
        return try sealed(&writer)
    }

    /// A response as parts: buffers, with an `.external` hole for each file-backed records payload. The first
    /// part starts with the 4-byte size, which counts the external lengths.
    public static func encodeResponseParts<M: KafkaResponseMessage>(
        _ message: M, version: Int16, correlationId: Int32,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(ProtocolError) -> [FramePart] {
        var writer = WireWriter(allocator: allocator, allowsExternalPayloads: true)
        writer.writeInt32(0)
        ResponseHeader(correlationId: correlationId)
            .encode(to: &writer, headerVersion: M.apiKey.responseHeaderVersion(version: version))
        try message.encode(to: &writer, version: version)
        return try sealedParts(&writer)
    }

    /// Finishes a writer that began with a 4-byte placeholder: sets the size and returns the frame.
    public static func sealed(_ writer: inout WireWriter) throws(ProtocolError) -> ByteBuffer {
        precondition(!writer.hasExternalParts, "a frame with external parts needs sealedParts")
        try setSize(&writer)
        return writer.buffer
    }

    /// Finishes a writer that began with a 4-byte placeholder: sets the size (which counts the external
    /// parts' lengths) and returns the parts.
    public static func sealedParts(_ writer: inout WireWriter) throws(ProtocolError) -> [FramePart] {
        try setSize(&writer)
        return writer.finishParts()
    }

    private static func setSize(_ writer: inout WireWriter) throws(ProtocolError) {
        precondition(writer.buffer.readableBytes >= sizePrefixLength, "a frame begins with its size placeholder")
        let size = writer.totalBytes - sizePrefixLength
        guard size <= Int(Int32.max) else { throw ProtocolError(.frameTooLarge(size), field: "frame") }
        writer.buffer.setInteger(Int32(size), at: writer.buffer.readerIndex, endianness: .big)
    }

    /// Splits a request frame (without its size prefix) into its header and its body (a slice, no copy).
    public static func decodeRequest(frame: ByteBuffer) throws(ProtocolError) -> (header: RequestHeader, body: ByteBuffer) {
        var reader = WireReader(frame)
        let header = try RequestHeader.decode(from: &reader)
        return (header, reader.buffer)
    }

    /// Splits a response frame (without its size prefix) to a request of `apiKey` at `version`.
    public static func decodeResponse(
        frame: ByteBuffer, apiKey: ApiKey, version: Int16
    ) throws(ProtocolError) -> (header: ResponseHeader, body: ByteBuffer) {
        var reader = WireReader(frame)
        let header = try ResponseHeader.decode(from: &reader, headerVersion: apiKey.responseHeaderVersion(version: version))
        return (header, reader.buffer)
    }
}
