import NIOCore
import SamsaProtocol

/// One request on its way to the broker: the encoded frame, and (unless the request expects no response,
/// like Produce with acks=0) the promise of its response body.
public struct OutboundRequest: Sendable {
    public var frame: ByteBuffer
    public var correlationId: Int32
    public var apiKey: ApiKey
    public var version: Int16
    /// nil: no response will come; the write's completion is the answer.
    public var response: EventLoopPromise<ByteBuffer>?
    public var timeout: TimeAmount

    public init(
        frame: ByteBuffer, correlationId: Int32, apiKey: ApiKey, version: Int16,
        response: EventLoopPromise<ByteBuffer>?, timeout: TimeAmount
    ) {
        self.frame = frame
        self.correlationId = correlationId
        self.apiKey = apiKey
        self.version = version
        self.response = response
        self.timeout = timeout
    }
}

/// Matches responses to requests on one connection. Kafka answers the requests of a connection in the order
/// it received them, so pending requests form a FIFO queue; a response whose correlation id is not the head's
/// is a protocol violation and closes the connection.
///
/// Each request may be pipelined behind others; each has its own deadline. A request that times out closes
/// the connection (as Kafka's client does): every other pending request then fails with `connectionClosed`.
final class RequestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutboundRequest
    typealias OutboundOut = ByteBuffer

    struct Pending {
        var correlationId: Int32
        var apiKey: ApiKey
        var version: Int16
        var promise: EventLoopPromise<ByteBuffer>
        var timeout: Scheduled<Void>?
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 8)
    private let host: String
    private let port: Int
    private var failure: ClientError?

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    var pendingCount: Int { pending.count }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.response?.fail(failure)
            promise?.fail(failure)
            return
        }
        if let response = request.response {
            let id = request.correlationId
            let api = request.apiKey
            let timeoutMs = Int64(request.timeout.nanoseconds / 1_000_000)
            let (host, port) = (self.host, self.port)
            let scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: request.timeout) { [weak self] () -> Void in
                self?.timedOut(correlationId: id, error: .requestTimedOut(api: api, host: host, port: port, timeoutMs: timeoutMs))
            }
            pending.append(Pending(
                correlationId: id, apiKey: request.apiKey, version: request.version, promise: response,
                timeout: scheduled))
            self.context = context
        }
        context.write(wrapOutboundOut(request.frame), promise: promise)
    }

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(failure ?? .connectionClosed(host: host, port: port))
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let correlationId = frame.getInteger(at: frame.readerIndex, endianness: .big, as: Int32.self) else {
            return fatal(context: context, .protocolViolation("response frame of \(frame.readableBytes) bytes has no correlation id"))
        }
        guard let head = pending.first else {
            return fatal(context: context, .protocolViolation("response with correlation id \(correlationId) but no request outstanding"))
        }
        guard head.correlationId == correlationId else {
            return fatal(context: context, .protocolViolation(
                "response correlation id \(correlationId), expected \(head.correlationId) (\(head.apiKey.name))"))
        }
        pending.removeFirst()
        head.timeout?.cancel()
        do {
            let (_, body) = try KafkaFrame.decodeResponse(frame: frame, apiKey: head.apiKey, version: head.version)
            head.promise.succeed(body)
        } catch {
            head.promise.fail(ClientError.protocolError(error))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(failure ?? .connectionClosed(host: host, port: port))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let clientError = (error as? ClientError) ?? .protocolViolation("\(error)")
        fatal(context: context, clientError)
    }

    private func timedOut(correlationId: Int32, error: ClientError) {
        guard pending.contains(where: { $0.correlationId == correlationId }), let context else { return }
        fatal(context: context, error, failingFirst: correlationId)
    }

    /// Fails every pending request (the one named first with `error`, the rest with `connectionClosed` unless
    /// `error` concerns the whole connection) and closes the channel.
    private func fatal(context: ChannelHandlerContext, _ error: ClientError, failingFirst id: Int32? = nil) {
        if failure == nil { failure = error }
        if let id, let index = pending.firstIndex(where: { $0.correlationId == id }) {
            let entry = pending.remove(at: index)
            entry.timeout?.cancel()
            entry.promise.fail(error)
            failAll(.connectionClosed(host: host, port: port))
        } else {
            failAll(error)
        }
        context.close(promise: nil)
    }

    private func failAll(_ error: ClientError) {
        while let entry = pending.popFirst() {
            entry.timeout?.cancel()
            entry.promise.fail(error)
        }
    }
}
