import NIOCore
import NIOPosix
import SamsaProtocol
import Synchronization

/// One TCP connection to one broker, after the ApiVersions handshake.
///
/// Requests are pipelined: `send` writes at once and returns the future of the response, and many may be
/// outstanding; responses are matched in order (see `RequestHandler`). Every request has the connection's
/// timeout (`request.timeout.ms`). The version of each request is the highest both sides support.
///
/// ```swift
/// let connection = try await BrokerConnection.connect(to: BrokerAddress(host: "127.0.0.1", port: 9092), config: config)
/// let metadata = try await connection.request(MetadataRequest(topics: nil))
/// ```
public final class BrokerConnection: Sendable {
    public let address: BrokerAddress
    /// The broker's node id, or a negative id for a bootstrap connection (node unknown).
    public let nodeId: Int32
    /// The versions the broker offers (its ApiVersions response).
    public let versions: ApiVersionTable
    let channel: any Channel
    let clientId: String
    let requestTimeout: TimeAmount
    private let nextCorrelationId: Atomic<Int32>

    private init(
        address: BrokerAddress, nodeId: Int32, versions: ApiVersionTable, channel: any Channel, clientId: String,
        requestTimeout: TimeAmount, firstCorrelationId: Int32
    ) {
        self.address = address
        self.nodeId = nodeId
        self.versions = versions
        self.channel = channel
        self.clientId = clientId
        self.requestTimeout = requestTimeout
        self.nextCorrelationId = Atomic(firstCorrelationId)
    }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed, for any reason.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Connects, then asks the broker which API versions it speaks (ApiVersions v3, falling back to the version
    /// the broker names when it answers UNSUPPORTED_VERSION).
    public static func connect(
        to address: BrokerAddress, nodeId: Int32 = -1, config: ClientConfig,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(ClientError) -> BrokerConnection {
        let maxFrame = config.maxResponseSizeBytes
        let (host, port) = (address.host, address.port)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(config.connectTimeoutMs))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65_536, maximum: 1 << 20))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(ResponseFrameDecoder(maxFrameSize: maxFrame)),
                            RequestHandler(host: host, port: port))
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            throw .connectionFailed(host: host, port: port, reason: Self.describe(error))
        }
        let timeout = TimeAmount.milliseconds(config.requestTimeoutMs)
        do {
            let versions = try await handshake(channel: channel, clientId: config.clientId, timeout: timeout)
            return BrokerConnection(
                address: address, nodeId: nodeId, versions: versions, channel: channel, clientId: config.clientId,
                requestTimeout: timeout, firstCorrelationId: 2)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// ApiVersions at our highest version; a broker that does not know it answers v0 with UNSUPPORTED_VERSION
    /// and its own range, and we ask again within that range.
    static func handshake(channel: any Channel, clientId: String, timeout: TimeAmount) async throws(ClientError) -> ApiVersionTable {
        var version = ApiVersionsRequest.supportedVersions.upperBound
        for attempt in 0..<2 {
            let request = ApiVersionsRequest(clientSoftwareName: "samsa", clientSoftwareVersion: SamsaClientInfo.version)
            let body = try await roundTrip(
                channel: channel, request, version: version, correlationId: Int32(attempt), clientId: clientId,
                timeout: timeout)
            let response = try decodeApiVersions(body, version: version)
            if response.errorCode == .none { return ApiVersionTable(response) }
            if response.errorCode == .unsupportedVersion, attempt == 0 {
                // Within the range the broker offers; v0, which every broker speaks, when it offers none.
                let offered = response.apiKeys.first(where: { $0.apiKey == ApiKey.apiVersions.rawValue })
                version = min(offered?.maxVersion ?? 0, ApiVersionsRequest.supportedVersions.upperBound)
                continue
            }
            throw .broker(response.errorCode, context: "ApiVersions", message: nil)
        }
        throw .protocolViolation("ApiVersions negotiation did not settle")
    }

    /// Decodes an ApiVersions response body. Kafka writes an error response as v0 (the broker may not know our
    /// version), so a body whose error code is set is read as v0; librdkafka's mock cluster writes it in the
    /// version asked, so that is tried next; failing both, the error code alone (the first field in every
    /// version) is returned, with no API ranges.
    public static func decodeApiVersions(_ body: ByteBuffer, version: Int16) throws(ClientError) -> ApiVersionsResponse {
        let errorCode = body.getInteger(at: body.readerIndex, endianness: .big, as: Int16.self) ?? 0
        if errorCode != 0 {
            if let v0 = try? ApiVersionsResponse.decode(body, version: 0) { return v0 }
            if let asked = try? ApiVersionsResponse.decode(body, version: version) { return asked }
            return ApiVersionsResponse(errorCode: ErrorCode(rawValue: errorCode), apiKeys: [], throttleTimeMs: 0)
        }
        do {
            return try ApiVersionsResponse.decode(body, version: version)
        } catch {
            throw .protocolError(error)
        }
    }

    private static func roundTrip<M: KafkaRequestMessage>(
        channel: any Channel, _ message: M, version: Int16, correlationId: Int32, clientId: String, timeout: TimeAmount
    ) async throws(ClientError) -> ByteBuffer {
        let frame: ByteBuffer
        do {
            frame = try KafkaFrame.encodeRequest(message, version: version, correlationId: correlationId, clientId: clientId)
        } catch {
            throw .protocolError(error)
        }
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let request = OutboundRequest(
            frame: frame, correlationId: correlationId, apiKey: M.apiKey, version: version, response: promise,
            timeout: timeout)
        channel.writeAndFlush(request, promise: nil)
        do {
            return try await promise.futureResult.get()
        } catch {
            throw (error as? ClientError) ?? .protocolViolation("\(error)")
        }
    }

    /// Sends `message` at the negotiated version; the future holds the decoded response.
    public func send<M: KafkaRequestMessage>(_ message: M) -> EventLoopFuture<M.Response> {
        do {
            let version = try versions.version(for: M.self)
            return send(message, version: version)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends `message` at `version`; `timeout` replaces `request.timeout.ms` for this request (JoinGroup waits for
    /// a whole rebalance).
    public func send<M: KafkaRequestMessage>(_ message: M, version: Int16, timeout: TimeAmount? = nil) -> EventLoopFuture<M.Response> {
        sendRaw(message, version: version, expectsResponse: true, timeout: timeout).flatMapThrowing { body in
            guard let body else { throw ClientError.protocolViolation("no response body") }
            do throws(ProtocolError) {
                return try M.Response.decode(body, version: version)
            } catch {
                throw ClientError.protocolError(error)
            }
        }
    }

    /// Sends a request that gets no response (Produce with acks=0); the future completes once it is written.
    public func sendWithoutResponse<M: KafkaRequestMessage>(_ message: M) -> EventLoopFuture<Void> {
        do {
            let version = try versions.version(for: M.self)
            return sendRaw(message, version: version, expectsResponse: false).map { _ in () }
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends and awaits the decoded response.
    public func request<M: KafkaRequestMessage>(_ message: M) async throws(ClientError) -> M.Response {
        do {
            return try await send(message).get()
        } catch {
            throw (error as? ClientError) ?? .protocolViolation("\(error)")
        }
    }

    /// Sends at the negotiated version with its own timeout, and awaits the decoded response.
    public func request<M: KafkaRequestMessage>(_ message: M, timeout: TimeAmount) async throws(ClientError) -> M.Response {
        do {
            let version = try versions.version(for: M.self)
            return try await send(message, version: version, timeout: timeout).get()
        } catch {
            throw (error as? ClientError) ?? .protocolViolation("\(error)")
        }
    }

    /// The version `send` will use for `M`.
    public func version<M: KafkaRequestMessage>(for message: M.Type) throws(ClientError) -> Int16 {
        try versions.version(for: M.self)
    }

    func sendRaw<M: KafkaRequestMessage>(
        _ message: M, version: Int16, expectsResponse: Bool, timeout: TimeAmount? = nil
    ) -> EventLoopFuture<ByteBuffer?> {
        let correlationId = nextCorrelationId.wrappingAdd(1, ordering: .relaxed).oldValue
        let frame: ByteBuffer
        do {
            frame = try KafkaFrame.encodeRequest(
                message, version: version, correlationId: correlationId, clientId: clientId, allocator: channel.allocator)
        } catch {
            return channel.eventLoop.makeFailedFuture(ClientError.protocolError(error))
        }
        guard channel.isActive else {
            return channel.eventLoop.makeFailedFuture(ClientError.connectionClosed(host: address.host, port: address.port))
        }
        if expectsResponse {
            let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
            let request = OutboundRequest(
                frame: frame, correlationId: correlationId, apiKey: M.apiKey, version: version, response: promise,
                timeout: timeout ?? requestTimeout)
            channel.writeAndFlush(request, promise: nil)
            return promise.futureResult.map { Optional($0) }
        } else {
            let written = channel.eventLoop.makePromise(of: Void.self)
            let request = OutboundRequest(
                frame: frame, correlationId: correlationId, apiKey: M.apiKey, version: version, response: nil,
                timeout: requestTimeout)
            channel.writeAndFlush(request, promise: written)
            let (host, port) = (address.host, address.port)
            return written.futureResult.flatMapErrorThrowing { _ in
                throw ClientError.connectionClosed(host: host, port: port)
            }.map { nil }
        }
    }

    /// Closes the connection; outstanding requests fail with `connectionClosed`.
    public func close() {
        channel.close(promise: nil)
    }

    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return io.description }
        if let connect = error as? NIOConnectionError {
            if let first = connect.connectionErrors.first { return "\(first.error)" }
            if let dns = connect.dnsAAAAError ?? connect.dnsAError { return "\(dns)" }
        }
        if error is ChannelError { return "\(error)" }
        return "\(error)"
    }
}

/// This library's name and version, as sent in ApiVersions.
public enum SamsaClientInfo {
    public static let version = "0.1.0"
}
