import Logging
import NIOCore
import SamsaLog
import SamsaProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One client connection: reads request frames, starts each request in arrival order, and writes the responses
/// in that same order, whatever order they complete in (a long-polling Fetch holds back the responses behind it,
/// as in Kafka). Fetch records go out as `FileRegion`s (sendfile).
///
/// A request this broker cannot read (a malformed header or body, an API or version it does not serve) closes
/// this connection with a logged reason; other connections are not affected. With more than
/// `maxInFlight` requests pending, or while the socket's send buffer is full, the connection stops reading.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    let router: RequestRouter
    let listenerName: String
    let executor: BlockingExecutor
    let logger: Logger
    let maxInFlight: Int

    private var context: ChannelHandlerContext?
    private var connection: Connection?
    private var nextSequence: UInt64 = 0
    private var nextToWrite: UInt64 = 0
    private var completed: [UInt64: Reply] = [:]
    private var inFlight = 0
    private var readSuppressed = false
    private var inChannelRead = false
    private var flushPending = false
    private var closing = false

    init(router: RequestRouter, listenerName: String, executor: BlockingExecutor, logger: Logger, maxInFlight: Int) {
        precondition(maxInFlight > 0, "a connection must allow one request in flight")
        self.router = router
        self.listenerName = listenerName
        self.executor = executor
        self.logger = logger
        self.maxInFlight = maxInFlight
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let remote = context.channel.remoteAddress.map { "\($0)" } ?? "unknown peer"
        connection = Connection(eventLoop: context.eventLoop, listenerName: listenerName, remoteDescription: remote)
        connection?.remoteAddress = context.channel.remoteAddress
    }

    func channelActive(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress { connection?.remoteAddress = address }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connection?.close()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        connection?.close()
        completed.removeAll()
        context.fireChannelInactive()
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, let connection else { return }
        let frame = Self.unwrapInboundIn(data)
        let header: RequestHeader
        let body: ByteBuffer
        do {
            (header, body) = try KafkaFrame.decodeRequest(frame: frame)
        } catch {
            close(reason: "malformed request header: \(error)")
            return
        }
        let requestContext = RequestContext(
            header: header, eventLoop: context.eventLoop, connection: connection, executor: executor, logger: logger)
        inChannelRead = true
        defer {
            inChannelRead = false
            flushIfPending()
        }
        switch router.dispatch(header: header, body: body, context: requestContext) {
        case .close(let reason):
            close(reason: "\(reason) (correlation id \(header.correlationId), client \(header.clientId ?? "-"))")
        case .run(let future):
            let sequence = nextSequence
            nextSequence += 1
            inFlight += 1
            let apiName = header.apiKey?.name ?? "\(header.requestApiKey)"
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let reply):
                    self.completed[sequence] = reply
                    self.writeCompleted()
                case .failure(let error):
                    self.close(reason: "\(apiName) v\(header.requestApiVersion) failed: \(error)")
                }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfPending()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as FrameError:
            close(reason: "\(error)")
        case let error as ByteToMessageDecoderError:
            close(reason: "\(error)")
        default:
            logger.debug("connection \(connection?.remoteDescription ?? "-"): \(error)")
            closing = true
            context.close(promise: nil)
        }
    }

    // MARK: Responses

    /// Writes every response whose turn has come.
    private func writeCompleted() {
        guard !closing, let context else { return }
        while let reply = completed.removeValue(forKey: nextToWrite) {
            nextToWrite += 1
            inFlight -= 1
            switch reply {
            case .frame(let frame):
                write(frame, context: context)
                flushPending = true
            case .none:
                break
            case .close(let reason):
                flushIfPending()
                close(reason: reason)
                return
            }
        }
        if !inChannelRead { flushIfPending() }
        resumeReadingIfPossible()
    }

    private func write(_ frame: ResponseFrame, context: ChannelHandlerContext) {
        for part in frame.parts {
            switch part {
            case .bytes(let buffer):
                context.write(Self.wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
            case .external(let token, let length):
                let slice = frame.files[token]
                precondition(length <= slice.length, "a frame hole is larger than its file slice")
                if let fd = slice.fileDescriptor {
                    // NIO owns (and closes) the descriptor it is given: give it a duplicate, closed when the write
                    // is done. The duplicate also keeps a deleted segment readable until then.
                    let duplicate = dup(fd)
                    guard duplicate >= 0 else {
                        close(reason: "cannot send \(slice.file.path): dup failed with errno \(errno)")
                        return
                    }
                    let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: duplicate)
                    let start = Int(slice.position)
                    let region = FileRegion(fileHandle: handle, readerIndex: start, endIndex: start + length)
                    let promise = context.eventLoop.makePromise(of: Void.self)
                    promise.futureResult.whenComplete { _ in try? handle.close() }
                    context.write(Self.wrapOutboundOut(.fileRegion(region)), promise: promise)
                } else {
                    // A file system without descriptors (tests): copy the bytes.
                    do {
                        let bytes = try slice.file.read(count: length, at: slice.position)
                        context.write(Self.wrapOutboundOut(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
                    } catch {
                        close(reason: "cannot read \(slice.file.path): \(error)")
                        return
                    }
                }
            }
        }
    }

    private func flushIfPending() {
        guard flushPending, let context else { return }
        flushPending = false
        context.flush()
    }

    private func close(reason: String) {
        guard !closing, let context else { return }
        closing = true
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? connection?.remoteDescription ?? "-"
        logger.warning("closing connection from \(peer): \(reason)")
        flushIfPending()
        context.close(promise: nil)
    }

    // MARK: Back-pressure

    func read(context: ChannelHandlerContext) {
        if inFlight >= maxInFlight || !context.channel.isWritable {
            readSuppressed = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfPossible()
        context.fireChannelWritabilityChanged()
    }

    private func resumeReadingIfPossible() {
        guard readSuppressed, let context, inFlight < maxInFlight, context.channel.isWritable else { return }
        readSuppressed = false
        context.read()
    }
}
