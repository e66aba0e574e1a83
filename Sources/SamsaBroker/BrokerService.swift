import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The broker as a swift-service-lifecycle `Service`: opens the data directory, serves every listener, and on
/// graceful shutdown (SIGTERM, SIGINT) stops accepting, closes the connections, and closes the logs cleanly so
/// that the next start skips recovery.
///
/// ```swift
/// let config = try BrokerConfig.load(path: "config/server.properties")
/// try await BrokerService.run(config: config)         // until SIGTERM or SIGINT
/// ```
public struct BrokerService: Service {
    public let config: BrokerConfig
    public let logger: Logger
    /// Called once every listener is bound, with the bound addresses.
    public let onListening: @Sendable ([Listener]) -> Void

    public init(config: BrokerConfig, logger: Logger, onListening: @escaping @Sendable ([Listener]) -> Void = { _ in }) {
        self.config = config
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.numNetworkThreads)
        let pool = NIOThreadPool(numberOfThreads: config.numIoThreads)
        pool.start()
        let broker: Broker
        do {
            broker = try Broker.open(config: config, executor: .threadPool(pool), logger: logger, groupEventLoop: group.next())
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        let server = BrokerServer(broker: broker, group: group, logger: logger)
        var failure: (any Error)?
        do {
            let bound = try await server.start()
            let topicCount = broker.topics.all.count
            for listener in bound {
                logger.notice("Samsa broker \(config.nodeId) listening on \(listener) (data in \(config.logDirectory), \(topicCount) topics)")
            }
            onListening(bound)
            await withGracefulShutdownHandler {
                await server.waitUntilStopped()
            } onGracefulShutdown: {
                Task { await server.stop() }
            }
            logger.notice("shutting down")
        } catch {
            failure = error
        }
        await server.stop()
        try? await pool.shutdownGracefully()
        do {
            try broker.close()
        } catch {
            logger.error("closing the logs: \(error)")
            failure = failure ?? error
        }
        try? await group.shutdownGracefully()
        if let failure { throw failure }
        logger.notice("stopped cleanly")
    }

    /// Runs the broker until SIGTERM or SIGINT, then shuts it down gracefully.
    public static func run(config: BrokerConfig, logger: Logger = Logger(label: "samsa.broker")) async throws {
        let service = BrokerService(config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
