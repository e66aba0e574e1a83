import Logging
import NIOCore
import NIOPosix
import SamsaLog
import SamsaProtocol
import Synchronization

/// The broker without its network: the data directory (locked), its logs, its topics, the fetches waiting for
/// data, and the handlers that answer requests. `BrokerServer` puts it on sockets; tests put its handlers on an
/// `EmbeddedChannel`.
///
/// ```swift
/// let broker = try Broker.open(config: config, executor: .threadPool(pool))
/// channel.pipeline.addHandlers(broker.makeChannelHandlers(listenerName: "PLAINTEXT"))
/// ...
/// try broker.close()      // flushes, checkpoints, marks a clean shutdown, unlocks the directory
/// ```
public final class Broker: Sendable {
    public let config: BrokerConfig
    public let clusterId: String
    public let logManager: LogManager
    public let topics: TopicManager
    public let delayedFetches: DelayedFetches
    public let executor: BlockingExecutor
    /// Every consumer group's coordinator, with the committed offsets (`__consumer_offsets`).
    public let groupCoordinator: GroupCoordinator
    let producerIds: ProducerIds
    let lock: DataDirectoryLock
    let logger: Logger
    private let advertised: Mutex<[String: Listener]>

    private init(
        config: BrokerConfig, clusterId: String, logManager: LogManager, topics: TopicManager,
        delayedFetches: DelayedFetches, executor: BlockingExecutor, groupCoordinator: GroupCoordinator,
        producerIds: ProducerIds, lock: DataDirectoryLock, logger: Logger
    ) {
        self.config = config
        self.clusterId = clusterId
        self.logManager = logManager
        self.topics = topics
        self.delayedFetches = delayedFetches
        self.executor = executor
        self.groupCoordinator = groupCoordinator
        self.producerIds = producerIds
        self.lock = lock
        self.logger = logger
        var byName: [String: Listener] = [:]
        for listener in config.advertisedListeners { byName[listener.name] = listener }
        advertised = Mutex(byName)
    }

    /// Opens the data directory: locks it, reads `meta.properties` and the topics, opens (and if needed
    /// recovers) every partition log, reconciles topics with partition directories, and loads the groups and
    /// committed offsets of `__consumer_offsets`.
    ///
    /// The group coordinator's timers run on `groupEventLoop` (default: one of NIO's shared loops; tests give an
    /// `EmbeddedEventLoop` and move its clock by hand), and it stamps commits with `groupClock`.
    public static func open(
        config: BrokerConfig, executor: BlockingExecutor, fileSystem: any FileSystem = PosixFileSystem(),
        logger: Logger = Logger(label: "samsa.broker"), backgroundIntervalMs: Int? = 1000,
        groupEventLoop: (any EventLoop)? = nil, groupClock: @escaping Clock = systemClock
    ) throws(BrokerError) -> Broker {
        let directory = config.logDirectory
        do { try fileSystem.createDirectory(directory) } catch { throw .io(error) }
        let lock = try DataDirectoryLock(dataDirectory: directory)
        do throws(BrokerError) {
            let meta = try MetaProperties.loadOrCreate(dataDirectory: directory, nodeId: config.nodeId, fileSystem: fileSystem)
            let file = TopicMetadataFile(dataDirectory: directory, fileSystem: fileSystem)
            let known = try file.read()
            let defaults = config.logDefaults
            let delayedFetches = DelayedFetches()
            let logManager: LogManager
            do {
                logManager = try LogManager.open(
                    dataDirectory: directory,
                    configFor: { tp in
                        known[tp.topic].flatMap { try? LogConfig(properties: $0.overrides, base: defaults) } ?? defaults
                    },
                    fileSystem: fileSystem, logger: logger, backgroundIntervalMs: backgroundIntervalMs,
                    retentionCheckIntervalMs: config.retentionCheckIntervalMs, cleanerConfig: config.cleaner,
                    appendObserver: { tp, _ in delayedFetches.notify(tp) })
            } catch {
                throw BrokerError.log(error)
            }
            for (tp, report) in logManager.openReports.sorted(by: { $0.key < $1.key }) {
                logger.info("\(tp) recovered: \(report)")
            }
            let topics = TopicManager(
                topics: known, file: file, logManager: logManager, defaults: defaults,
                deleteEnabled: config.deleteTopicEnable, fileSystem: fileSystem, logger: logger,
                onPartitionsRemoved: { for tp in $0 { delayedFetches.notify(tp) } })
            do {
                try topics.reconcile()
            } catch {
                try? logManager.close()
                throw error
            }
            let producerIds: ProducerIds
            do {
                producerIds = try ProducerIds(dataDirectory: directory, fileSystem: fileSystem)
            } catch {
                try? logManager.close()
                throw error
            }
            let groupCoordinator = GroupCoordinator(
                config: config.groups, logManager: logManager, topics: topics,
                eventLoop: groupEventLoop ?? MultiThreadedEventLoopGroup.singleton.next(), clock: groupClock, logger: logger)
            return Broker(
                config: config, clusterId: meta.clusterId, logManager: logManager, topics: topics,
                delayedFetches: delayedFetches, executor: executor, groupCoordinator: groupCoordinator,
                producerIds: producerIds, lock: lock, logger: logger)
        } catch {
            lock.release()
            throw error
        }
    }

    /// Flushes and closes every log (so the next start skips recovery) and unlocks the data directory.
    public func close() throws(BrokerError) {
        defer { lock.release() }
        groupCoordinator.close()
        do { try logManager.close() } catch { throw .log(error) }
    }

    // MARK: Listeners

    /// What clients of `listenerName` are told to connect to.
    public func advertisedListener(_ listenerName: String) -> Listener? {
        advertised.withLock { $0[listenerName] }
    }

    /// Once a listener configured with port 0 is bound, its advertised port becomes the bound one (when the
    /// advertised address was derived from the listener).
    func listenerBound(_ listener: Listener, port: Int) {
        advertised.withLock { byName in
            if var entry = byName[listener.name], entry.port == 0 {
                entry.port = port
                byName[listener.name] = entry
            }
        }
    }

    // MARK: Handlers

    /// Every API this broker answers. ApiVersions advertises exactly these.
    public func makeRouter() -> RequestRouter {
        var router = RequestRouter()
        router.register(ProduceHandler(broker: self))
        router.register(FetchHandler(broker: self))
        router.register(ListOffsetsHandler(broker: self))
        router.register(MetadataHandler(broker: self))
        router.register(SaslHandshakeHandler())
        router.register(CreateTopicsHandler(broker: self))
        router.register(DeleteTopicsHandler(broker: self))
        router.register(DeleteRecordsHandler(broker: self))
        router.register(InitProducerIdHandler(broker: self))
        router.register(DescribeConfigsHandler(broker: self))
        router.register(CreatePartitionsHandler(broker: self))
        router.register(IncrementalAlterConfigsHandler(broker: self))
        router.register(DescribeClusterHandler(broker: self))
        router.register(FindCoordinatorHandler(broker: self))
        router.register(JoinGroupHandler(broker: self))
        router.register(SyncGroupHandler(broker: self))
        router.register(HeartbeatHandler(broker: self))
        router.register(LeaveGroupHandler(broker: self))
        router.register(ListGroupsHandler(broker: self))
        router.register(DescribeGroupsHandler(broker: self))
        router.register(DeleteGroupsHandler(broker: self))
        router.register(OffsetCommitHandler(broker: self))
        router.register(OffsetFetchHandler(broker: self))
        router.register(OffsetDeleteHandler(broker: self))
        let apiVersions = ApiVersionsHandler(otherApis: router.advertised)
        router.register(apiVersions)
        return router
    }

    /// The handlers of one connection, in pipeline order: the framer, then the request handler.
    public func makeChannelHandlers(listenerName: String, router: RequestRouter? = nil) -> [any ChannelHandler] {
        [
            ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: config.socketRequestMaxBytes)),
            ConnectionHandler(
                router: router ?? makeRouter(), listenerName: listenerName, executor: executor, logger: logger,
                maxInFlight: config.maxInFlightRequestsPerConnection),
        ]
    }
}
