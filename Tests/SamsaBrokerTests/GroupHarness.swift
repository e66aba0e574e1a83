import Logging
import NIOCore
import NIOEmbedded
import SamsaLog
import SamsaProtocol
import Synchronization
import Testing

@testable import SamsaBroker

/// A wall clock a test moves by hand.
final class ManualClock: Sendable {
    private let ms: Mutex<Int64>

    init(_ start: Int64 = 1_700_000_000_000) { ms = Mutex(start) }

    var now: Int64 { ms.withLock { $0 } }
    func advance(_ delta: Int64) { ms.withLock { $0 += delta } }
    var clock: Clock { { [self] in now } }
}

/// A broker whose connections and group coordinator share one `EmbeddedEventLoop`: the coordinator's timers fire
/// only when the test moves time (`advance`), together with the wall clock commits are stamped with.
final class GroupTestBroker {
    let directory: TemporaryDirectory
    let settings: [String: String]
    let loop = EmbeddedEventLoop()
    let clock = ManualClock()
    private(set) var broker: Broker
    private var connections: [GroupConnection] = []

    /// A short initial rebalance delay (tests move time past it); 3 partitions of `__consumer_offsets` keep topic
    /// creation quick.
    static let defaults = [
        "group.initial.rebalance.delay.ms": "100", "offsets.topic.num.partitions": "3", "group.min.session.timeout.ms": "1000",
    ]

    init(_ settings: [String: String] = [:], directory: TemporaryDirectory = TemporaryDirectory("samsa-groups")) throws {
        self.directory = directory
        self.settings = Self.defaults.merging(settings) { $1 }
        broker = try Self.open(self.settings, directory: directory, loop: loop, clock: clock)
    }

    private static func open(
        _ settings: [String: String], directory: TemporaryDirectory, loop: EmbeddedEventLoop, clock: ManualClock
    ) throws -> Broker {
        var properties = ["log.dirs": directory.path + "/data", "listeners": "PLAINTEXT://127.0.0.1:9092"]
        for (key, value) in settings { properties[key] = value }
        var logger = Logger(label: "samsa.groups.test")
        logger.logLevel = .warning
        return try Broker.open(
            config: try BrokerConfig(properties: properties), executor: .inline, logger: logger, backgroundIntervalMs: nil,
            groupEventLoop: loop, groupClock: clock.clock)
    }

    var coordinator: GroupCoordinator { broker.groupCoordinator }

    func connect(clientId: String = "test") throws -> GroupConnection {
        let connection = try GroupConnection(broker: broker, loop: loop, clientId: clientId)
        connections.append(connection)
        return connection
    }

    /// Moves the event loop's time (firing due timers) and the wall clock by `ms`.
    func advance(ms: Int64) {
        clock.advance(ms)
        loop.advanceTime(by: .milliseconds(ms))
    }

    /// Closes the broker cleanly and opens it again on the same directory (the coordinator reloads from
    /// `__consumer_offsets`).
    func restart() throws {
        for connection in connections { connection.close() }
        connections = []
        try broker.close()
        loop.run()
        broker = try Self.open(settings, directory: directory, loop: loop, clock: clock)
    }

    func close() {
        for connection in connections { connection.close() }
        connections = []
        try? broker.close()
        loop.run()
    }

    deinit { close() }
}

/// One client connection on an `EmbeddedChannel` of the shared loop. Requests may be answered later (a parked
/// JoinGroup): `send` and then `receive` when the test expects the answer.
final class GroupConnection {
    let channel: EmbeddedChannel
    let clientId: String
    private var received = ByteBuffer()
    private var nextCorrelationId: Int32 = 1
    /// API and version of each request sent and not yet received, by correlation id.
    private var pending: [Int32: (ApiKey, Int16)] = [:]

    init(broker: Broker, loop: EmbeddedEventLoop, clientId: String) throws {
        self.clientId = clientId
        channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandlers(broker.makeChannelHandlers(listenerName: "PLAINTEXT"))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
    }

    @discardableResult
    func send<M: KafkaRequestMessage>(_ message: M, version: Int16) throws -> Int32 {
        let id = nextCorrelationId
        nextCorrelationId += 1
        let frame = try KafkaFrame.encodeRequest(message, version: version, correlationId: id, clientId: clientId)
        pending[id] = (M.apiKey, version)
        try channel.writeInbound(frame)
        channel.embeddedEventLoop.run()
        return id
    }

    private func pump() {
        channel.embeddedEventLoop.run()
        while let data = try? channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(var buffer) = data { received.writeBuffer(&buffer) }
        }
    }

    /// The next response, if one has arrived, decoded as `R`.
    func receive<R: KafkaResponseMessage>(_ type: R.Type) throws -> R? {
        pump()
        guard let size = received.getInteger(at: received.readerIndex, as: Int32.self),
            received.readableBytes >= 4 + Int(size)
        else { return nil }
        let correlationId = received.getInteger(at: received.readerIndex + 4, as: Int32.self)!
        let sent = pending.removeValue(forKey: correlationId)
        let (key, version) = try #require(sent, "a response to nothing sent")
        #expect(key == R.apiKey, "expected a \(R.apiKey.name) response, got \(key.name)")
        received.moveReaderIndex(forwardBy: 4)
        let frame = received.readSlice(length: Int(size))!
        let (_, body) = try KafkaFrame.decodeResponse(frame: frame, apiKey: R.apiKey, version: version)
        return try R.decode(body, version: version)
    }

    /// Whether a response is waiting to be read.
    var hasResponse: Bool {
        pump()
        return received.readableBytes >= 4
    }

    func roundTrip<M: KafkaRequestMessage>(_ message: M, version: Int16) throws -> M.Response {
        try send(message, version: version)
        return try #require(try receive(M.Response.self), "no immediate response to \(M.apiKey.name)")
    }

    func close() {
        if channel.isActive { _ = try? channel.close().wait() }
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

// MARK: Requests

/// The consumer protocol's subscription bytes (version 0: topics, null user data).
func subscription(_ topics: [String]) -> ByteBuffer {
    var b = ByteBuffer()
    b.writeInteger(Int16(0))
    b.writeInteger(Int32(topics.count))
    for t in topics {
        b.writeInteger(Int16(t.utf8.count))
        b.writeString(t)
    }
    b.writeInteger(Int32(-1))
    return b
}

extension JoinGroupRequest {
    static func consumer(
        _ group: String, memberId: String = "", instanceId: String? = nil, sessionTimeoutMs: Int32 = 10_000,
        rebalanceTimeoutMs: Int32 = 30_000, protocols: [(String, ByteBuffer)] = [("range", subscription(["t"]))],
        protocolType: String = "consumer"
    ) -> JoinGroupRequest {
        JoinGroupRequest(
            groupId: group, sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: rebalanceTimeoutMs, memberId: memberId,
            groupInstanceId: instanceId, protocolType: protocolType,
            protocols: protocols.map { .init(name: $0.0, metadata: $0.1) })
    }
}

extension GroupConnection {
    /// Joins as a new dynamic member at v5: the MEMBER_ID_REQUIRED round, then the real JoinGroup (sent, not
    /// received: it may wait for the rebalance). Returns the member id.
    func beginJoin(_ group: String, sessionTimeoutMs: Int32 = 10_000, rebalanceTimeoutMs: Int32 = 30_000) throws -> String {
        let first = try roundTrip(
            JoinGroupRequest.consumer(group, sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: rebalanceTimeoutMs),
            version: 5)
        #expect(first.errorCode == .memberIdRequired)
        #expect(first.memberId.hasPrefix(clientId + "-"))
        try send(
            JoinGroupRequest.consumer(
                group, memberId: first.memberId, sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: rebalanceTimeoutMs),
            version: 5)
        return first.memberId
    }

    func heartbeat(_ group: String, generation: Int32, memberId: String, instanceId: String? = nil) throws -> ErrorCode {
        try roundTrip(
            HeartbeatRequest(groupId: group, generationId: generation, memberId: memberId, groupInstanceId: instanceId),
            version: 4
        ).errorCode
    }

    /// Commits `offsets` (topic, partition, offset) for a member (generation -1 and no member: a simple commit).
    func commit(
        _ group: String, _ offsets: [(String, Int32, Int64)], generation: Int32 = -1, memberId: String = "",
        metadata: String? = "", version: Int16 = 8
    ) throws -> [String: [Int32: ErrorCode]] {
        var topics: [OffsetCommitRequest.OffsetCommitRequestTopic] = []
        for (topic, partition, offset) in offsets {
            if let i = topics.firstIndex(where: { $0.name == topic }) {
                topics[i].partitions.append(.init(partitionIndex: partition, committedOffset: offset, committedMetadata: metadata))
            } else {
                topics.append(.init(name: topic, partitions: [.init(partitionIndex: partition, committedOffset: offset, committedMetadata: metadata)]))
            }
        }
        let response = try roundTrip(
            OffsetCommitRequest(groupId: group, generationIdOrMemberEpoch: generation, memberId: memberId, topics: topics),
            version: version)
        var out: [String: [Int32: ErrorCode]] = [:]
        for topic in response.topics {
            for partition in topic.partitions { out[topic.name, default: [:]][partition.partitionIndex] = partition.errorCode }
        }
        return out
    }

    /// The committed offsets of `group` (v8, all topics), as topic -> partition -> offset.
    func committed(_ group: String) throws -> [String: [Int32: Int64]] {
        let response = try roundTrip(OffsetFetchRequest(groups: [.init(groupId: group, topics: nil)]), version: 8)
        var out: [String: [Int32: Int64]] = [:]
        for topic in try #require(response.groups.first).topics {
            for partition in topic.partitions { out[topic.name, default: [:]][partition.partitionIndex] = partition.committedOffset }
        }
        return out
    }

    func createTopic(_ name: String, partitions: Int32) throws {
        let response = try roundTrip(
            CreateTopicsRequest(
                topics: [.init(name: name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [])],
                timeoutMs: 10_000, validateOnly: false),
            version: 7)
        #expect(response.topics.first?.errorCode == ErrorCode.none)
    }
}
