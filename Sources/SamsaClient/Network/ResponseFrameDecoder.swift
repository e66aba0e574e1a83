import NIOCore

/// Splits the broker's byte stream into response frames: a 4-byte big-endian size, then that many bytes.
/// Emits each frame without its size prefix (a slice of the stream, not a copy).
///
/// A size below the smallest response (a 4-byte correlation id) or above `maxFrameSize` is a protocol
/// violation: the decoder throws before allocating anything, and the connection closes.
public struct ResponseFrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    public let maxFrameSize: Int

    public init(maxFrameSize: Int) {
        precondition(maxFrameSize >= 4, "a response frame holds at least a correlation id")
        self.maxFrameSize = maxFrameSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.nextFrame(&buffer, maxFrameSize: maxFrameSize) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// The next whole frame in `buffer` (consumed), nil when more bytes are needed.
    public static func nextFrame(_ buffer: inout ByteBuffer, maxFrameSize: Int) throws(ClientError) -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else { return nil }
        guard size >= 4, Int(size) <= maxFrameSize else {
            throw .protocolViolation("response frame size \(size) outside 4...\(maxFrameSize)")
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(size))
    }
}
