import NIOCore
import NIOPosix
import SamsaProtocol
import Synchronization
@testable import SamsaClient

/// A tiny broker on a loopback port for connection tests: it frames requests, decodes their headers, and
/// lets the test decide each answer (a list of frames, possibly empty, possibly out of order).
final class FakeBroker: Sendable {
    /// What to answer to one request: frames to write (already size-prefixed); nil closes the connection.
    typealias Responder = @Sendable (RequestHeader, ByteBuffer) -> [ByteBuffer]?

    let channel: any Channel
    let recorder = Recorder()
    var received: [RequestHeader] { recorder.headers.withLock { $0 } }
    var port: Int { channel.localAddress!.port! }
    var address: BrokerAddress { BrokerAddress(host: "127.0.0.1", port: port) }

    init(responder: @escaping Responder) async throws {
        let recorder = self.recorder
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(RequestFrameDecoder()),
                        RequestAnswerer(responder: responder, recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }

    func stop() async { try? await channel.close() }

    /// The ApiVersions answer every test broker starts with: what SamsaProtocol implements.
    static func apiVersions(_ header: RequestHeader, errorCode: ErrorCode = .none) -> ByteBuffer {
        let version: Int16 = errorCode == .none ? header.requestApiVersion : 0
        return try! KafkaFrame.encodeResponse(
            ApiVersionsResponse.implemented(errorCode: errorCode), version: version, correlationId: header.correlationId)
    }

    static func frame<M: KafkaResponseMessage>(_ message: M, _ header: RequestHeader) -> ByteBuffer {
        try! KafkaFrame.encodeResponse(message, version: header.requestApiVersion, correlationId: header.correlationId)
    }

    static func config(_ broker: FakeBroker, requestTimeoutMs: Int64 = 5_000) -> ClientConfig {
        var config = ClientConfig(bootstrapServers: [broker.address], clientId: "test")
        config.requestTimeoutMs = requestTimeoutMs
        return config
    }
}

private struct RequestFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self),
            buffer.readableBytes >= 4 + Int(size)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }
}

private final class RequestAnswerer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let responder: FakeBroker.Responder
    let recorder: Recorder

    init(responder: @escaping FakeBroker.Responder, recorder: Recorder) {
        self.responder = responder
        self.recorder = recorder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let (header, body) = try? KafkaFrame.decodeRequest(frame: frame) else {
            context.close(promise: nil)
            return
        }
        recorder.headers.withLock { $0.append(header) }
        guard let responses = responder(header, body) else {
            context.close(promise: nil)
            return
        }
        for response in responses {
            context.write(wrapOutboundOut(response), promise: nil)
        }
        context.flush()
    }
}

/// The request headers a fake broker received, in order.
final class Recorder: Sendable {
    let headers = Mutex<[RequestHeader]>([])
}
