import NIOCore

/// Cuts the byte stream into request frames: a 4-byte big-endian size, then that many bytes. Each frame is
/// passed on as a slice of the received bytes (no copy), without its size prefix.
///
/// The size is checked as soon as its 4 bytes are in: a negative size, or one above `maxFrameBytes`
/// (`socket.request.max.bytes`), throws `FrameError` before anything is allocated for the frame, and the
/// connection handler closes that connection.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxFrameBytes: Int

    init(maxFrameBytes: Int) {
        precondition(maxFrameBytes > 0, "a frame bound must be positive")
        self.maxFrameBytes = maxFrameBytes
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return .needMoreData
        }
        guard size >= 0 else { throw FrameError.negativeSize(Int(size)) }
        guard Int(size) <= maxFrameBytes else { throw FrameError.tooLarge(size: Int(size), limit: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(size))!
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // Whole frames still buffered are served; a partial one at EOF is dropped with the connection.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// A frame the broker refuses to read.
enum FrameError: Error, CustomStringConvertible {
    case negativeSize(Int)
    case tooLarge(size: Int, limit: Int)

    var description: String {
        switch self {
        case .negativeSize(let size): "request frame with a negative size (\(size))"
        case .tooLarge(let size, let limit):
            "request frame of \(size) bytes exceeds socket.request.max.bytes (\(limit))"
        }
    }
}
