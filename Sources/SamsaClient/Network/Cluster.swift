import NIOCore
import NIOPosix
import SamsaProtocol

/// The connections of one client to a cluster, and its metadata.
///
/// Connections are made on demand, one per broker, and made again when they close (after
/// `reconnect.backoff.ms` if the last attempt failed). Metadata is fetched from any live connection,
/// starting from the bootstrap servers.
///
/// ```swift
/// let cluster = Cluster(config: try ClientConfig(bootstrap: "127.0.0.1:9092"))
/// let metadata = try await cluster.refreshMetadata(topics: ["orders"])
/// let leader = try await cluster.connection(to: metadata.leader(topic: "orders", partition: 0)!)
/// ```
public actor Cluster {
    public let config: ClientConfig
    let group: any EventLoopGroup
    private var connections: [Int32: BrokerConnection] = [:]
    private var connecting: [Int32: Task<BrokerConnection, any Error>] = [:]
    private var lastFailure: [Int32: (at: NIODeadline, error: ClientError)] = [:]
    private var bootstrapConnection: BrokerConnection?
    private var nextBootstrapIndex = 0
    private var isClosed = false
    public private(set) var metadata = ClusterMetadata()

    public init(config: ClientConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.config = config
        self.group = group
    }

    /// A live connection to `nodeId`, made if needed.
    public func connection(to nodeId: Int32) async throws(ClientError) -> BrokerConnection {
        if isClosed { throw .closed }
        if let existing = connections[nodeId], existing.isActive { return existing }
        connections[nodeId] = nil
        if let inProgress = connecting[nodeId] { return try await Self.value(of: inProgress) }
        guard let address = metadata.brokers[nodeId] else {
            throw .protocolViolation("broker \(nodeId) is not in the cluster metadata")
        }
        if let failure = lastFailure[nodeId], .now() < failure.at + .milliseconds(config.reconnectBackoffMs) {
            throw failure.error
        }
        let config = self.config
        let group = self.group
        let task = Task<BrokerConnection, any Error> {
            try await BrokerConnection.connect(to: address, nodeId: nodeId, config: config, group: group)
        }
        connecting[nodeId] = task
        defer { connecting[nodeId] = nil }
        do throws(ClientError) {
            let connection = try await Self.value(of: task)
            if isClosed {
                connection.close()
                throw .closed
            }
            connections[nodeId] = connection
            lastFailure[nodeId] = nil
            return connection
        } catch {
            lastFailure[nodeId] = (.now(), error)
            throw error
        }
    }

    /// A live connection to `nodeId`, which lives at `address`: for a broker named by FindCoordinator, which a
    /// Metadata response may not have listed yet.
    public func connection(to nodeId: Int32, at address: BrokerAddress) async throws(ClientError) -> BrokerConnection {
        if metadata.brokers[nodeId] != address {
            metadata.brokers[nodeId] = address
            if let stale = connections.removeValue(forKey: nodeId) { stale.close() }
        }
        return try await connection(to: nodeId)
    }

    /// Some live connection: an open one, else a known broker, else the bootstrap servers in turn.
    public func anyConnection() async throws(ClientError) -> BrokerConnection {
        if isClosed { throw .closed }
        if let live = connections.values.first(where: { $0.isActive }) { return live }
        if let bootstrap = bootstrapConnection, bootstrap.isActive { return bootstrap }
        var lastError: ClientError?
        for nodeId in metadata.brokers.keys.sorted() {
            do { return try await connection(to: nodeId) } catch { lastError = error }
        }
        let servers = config.bootstrapServers
        for attempt in 0..<servers.count {
            let address = servers[(nextBootstrapIndex + attempt) % servers.count]
            do throws(ClientError) {
                let connection = try await BrokerConnection.connect(to: address, nodeId: -1 - Int32(attempt), config: config, group: group)
                if isClosed {
                    connection.close()
                    throw .closed
                }
                bootstrapConnection = connection
                return connection
            } catch {
                lastError = error
            }
        }
        nextBootstrapIndex += 1
        throw lastError ?? .invalidAddress("(no bootstrap servers)")
    }

    /// The controller's connection (for CreateTopics, DeleteTopics, CreatePartitions), else any.
    public func controllerConnection() async throws(ClientError) -> BrokerConnection {
        if metadata.brokers.isEmpty { _ = try await refreshMetadata(topics: []) }
        let controller = metadata.controllerId
        if controller >= 0, metadata.brokers[controller] != nil {
            return try await connection(to: controller)
        }
        return try await anyConnection()
    }

    /// Asks for metadata of `topics` (nil: every topic) and folds it into `metadata`.
    @discardableResult
    public func refreshMetadata(topics: [String]?, allowAutoTopicCreation: Bool = false) async throws(ClientError) -> ClusterMetadata {
        let connection = try await anyConnection()
        let request = MetadataRequest(
            topics: topics.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } },
            allowAutoTopicCreation: allowAutoTopicCreation)
        let response: MetadataResponse
        do {
            response = try await connection.request(request)
        } catch {
            if !connection.isActive { forget(connection) }
            throw error
        }
        if topics == nil {
            metadata.replaceAll(response)
        } else {
            metadata.merge(response)
        }
        // Drop connections to brokers that left.
        for (nodeId, connection) in connections where metadata.brokers[nodeId] == nil {
            connection.close()
            connections[nodeId] = nil
        }
        return metadata
    }

    /// Metadata for `topics`, refreshed if any is missing or older than `metadata.max.age.ms`.
    public func metadata(for topics: [String], allowAutoTopicCreation: Bool = false) async throws(ClientError) -> ClusterMetadata {
        let now = NIODeadline.now()
        let maxAge = TimeAmount.milliseconds(config.metadataMaxAgeMs)
        let stale = topics.contains { name in
            guard metadata.topics[name] != nil, let at = metadata.refreshedAt[name] else { return true }
            return now - at > maxAge
        }
        if stale { return try await refreshMetadata(topics: topics, allowAutoTopicCreation: allowAutoTopicCreation) }
        return metadata
    }

    /// Marks a topic's metadata stale so the next `metadata(for:)` asks again.
    public func invalidate(topic: String) {
        metadata.refreshedAt[topic] = nil
    }

    /// Forgets a connection that failed, so the next call makes a new one.
    public func forget(_ connection: BrokerConnection) {
        connection.close()
        if connections[connection.nodeId] === connection { connections[connection.nodeId] = nil }
        if bootstrapConnection === connection { bootstrapConnection = nil }
    }

    /// Closes every connection; later calls throw `closed`.
    public func close() {
        isClosed = true
        for connection in connections.values { connection.close() }
        bootstrapConnection?.close()
        connections = [:]
        bootstrapConnection = nil
        for task in connecting.values { task.cancel() }
    }

    private static func value(of task: Task<BrokerConnection, any Error>) async throws(ClientError) -> BrokerConnection {
        do {
            return try await task.value
        } catch {
            throw (error as? ClientError) ?? .protocolViolation("\(error)")
        }
    }
}
