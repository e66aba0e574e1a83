import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The broker on sockets: one NIO server channel per listener, each accepted connection given the broker's
/// framer and connection handler. Tracks open connections so that a shutdown can close them.
public final class BrokerServer: Sendable {
    public let broker: Broker
    let group: any EventLoopGroup
    let logger: Logger
    private let servers = Mutex<[any Channel]>([])
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    public init(broker: Broker, group: any EventLoopGroup, logger: Logger) {
        self.broker = broker
        self.group = group
        self.logger = logger
    }

    /// Binds every listener; returns them with their bound ports.
    public func start() async throws(BrokerError) -> [Listener] {
        let router = broker.makeRouter()
        var bound: [Listener] = []
        for listener in broker.config.listeners {
            let config = broker.config
            let broker = self.broker
            let name = listener.name
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.socketOption(.so_keepalive), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelOption(
                    .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16 * 1024, maximum: 1 << 20))
                .childChannelInitializer { [weak self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if config.socketSendBufferBytes > 0 {
                            try channel.syncOptions?.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(config.socketSendBufferBytes))
                        }
                        if config.socketReceiveBufferBytes > 0 {
                            try channel.syncOptions?.setOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(config.socketReceiveBufferBytes))
                        }
                        try channel.pipeline.syncOperations.addHandlers(broker.makeChannelHandlers(listenerName: name, router: router))
                        self?.track(channel)
                    }
                }
            let host = listener.host.isEmpty ? "0.0.0.0" : listener.host
            do {
                let channel = try await bootstrap.bind(host: host, port: listener.port).get()
                servers.withLock { $0.append(channel) }
                let port = channel.localAddress?.port ?? listener.port
                broker.listenerBound(listener, port: port)
                var actual = listener
                actual.port = port
                bound.append(actual)
            } catch {
                await stop()
                if let error = error as? IOError {
                    throw .bind(listener: listener, reason: String(cString: strerror(error.errnoCode)))
                }
                throw .bind(listener: listener, reason: "\(error)")
            }
        }
        return bound
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.connections.withLock { _ = $0.removeValue(forKey: id) }
        }
    }

    /// Completes when every server channel has closed.
    public func waitUntilStopped() async {
        for channel in servers.withLock({ $0 }) {
            try? await channel.closeFuture.get()
        }
    }

    /// Stops accepting, then closes every open connection (their waiting fetches let go).
    public func stop() async {
        let servers = self.servers.withLock { $0 }
        for channel in servers { try? await channel.close() }
        let open = connections.withLock { Array($0.values) }
        for channel in open { try? await channel.close() }
    }

    /// How many client connections are open.
    public var connectionCount: Int { connections.withLock { $0.count } }
}
