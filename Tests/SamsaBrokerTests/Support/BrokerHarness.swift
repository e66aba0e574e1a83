import Foundation
import Logging
import NIOCore
import NIOEmbedded
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

/// A fresh temporary directory, removed when released.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = "samsa-broker-test") {
        let template = NSTemporaryDirectory() + "\(label)-XXXXXX"
        var bytes = Array(template.utf8CString)
        let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A broker on a temporary data directory, with blocking work inline and no background thread, so that a test
/// drives everything from its own thread through `EmbeddedChannel`s.
final class TestBroker {
    let directory: TemporaryDirectory
    let settings: [String: String]
    private(set) var broker: Broker
    private var connections: [TestConnection] = []

    init(_ settings: [String: String] = [:], directory: TemporaryDirectory = TemporaryDirectory()) throws {
        self.directory = directory
        self.settings = settings
        broker = try Self.open(settings, directory: directory)
    }

    static func open(_ settings: [String: String], directory: TemporaryDirectory) throws -> Broker {
        var properties = ["log.dirs": directory.path + "/data", "listeners": "PLAINTEXT://127.0.0.1:9092"]
        for (key, value) in settings { properties[key] = value }
        let config = try BrokerConfig(properties: properties)
        var logger = Logger(label: "samsa.broker.test")
        logger.logLevel = .warning
        return try Broker.open(config: config, executor: .inline, logger: logger, backgroundIntervalMs: nil)
    }

    var dataPath: String { broker.config.logDirectory }

    /// A new client connection.
    func connect() throws -> TestConnection {
        let connection = try TestConnection(broker: broker)
        connections.append(connection)
        return connection
    }

    /// Closes the broker (cleanly) and opens it again on the same directory.
    func restart() throws {
        for connection in connections { connection.close() }
        connections = []
        try broker.close()
        broker = try Self.open(settings, directory: directory)
    }

    func close() {
        for connection in connections { connection.close() }
        connections = []
        try? broker.close()
    }

    deinit { close() }
}

/// Turns `FileRegion` writes into the bytes they stand for (read from the region's descriptor before the
/// broker closes it), so tests see exactly what a socket would carry, and counts them.
final class FileRegionCapture: ChannelOutboundHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData
    private(set) var regions = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .fileRegion(let region) = Self.unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        regions += 1
        var buffer = context.channel.allocator.buffer(capacity: region.readableBytes)
        let count = region.readableBytes
        try! region.fileHandle.withUnsafeFileDescriptor { fd in
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
                pread(fd, pointer.baseAddress, count, off_t(region.readerIndex))
            }
        }
        precondition(buffer.readableBytes == count, "short read of a file region")
        context.write(Self.wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
    }
}

/// One client connection on an `EmbeddedChannel`.
final class TestConnection {
    let channel = EmbeddedChannel()
    let capture = FileRegionCapture()
    private var received = ByteBuffer()
    private var nextCorrelationId: Int32 = 1

    init(broker: Broker) throws {
        try channel.pipeline.syncOperations.addHandler(capture)
        try channel.pipeline.syncOperations.addHandlers(broker.makeChannelHandlers(listenerName: "PLAINTEXT"))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
    }

    var isActive: Bool { channel.isActive }

    /// Sends a request; returns its correlation id.
    @discardableResult
    func send<M: KafkaRequestMessage>(_ message: M, version: Int16, correlationId: Int32? = nil) throws -> Int32 {
        let id = correlationId ?? nextCorrelationId
        nextCorrelationId = max(nextCorrelationId, id) + 1
        let frame = try KafkaFrame.encodeRequest(message, version: version, correlationId: id, clientId: "test")
        try sendRaw(frame)
        return id
    }

    /// Sends bytes as they are.
    func sendRaw(_ bytes: ByteBuffer) throws {
        guard channel.isActive else { return }
        try channel.writeInbound(bytes)
        channel.embeddedEventLoop.run()
    }

    func sendRaw(_ bytes: [UInt8]) throws { try sendRaw(ByteBuffer(bytes: bytes)) }

    /// Runs what is queued on the event loop and collects what the broker wrote.
    func pump() {
        channel.embeddedEventLoop.run()
        while let data = try? channel.readOutbound(as: IOData.self) {
            switch data {
            case .byteBuffer(var buffer): received.writeBuffer(&buffer)
            case .fileRegion: Issue.record("a file region passed the capture handler")
            }
        }
    }

    /// The next whole response frame (without its size prefix), if one has arrived.
    func nextFrame() -> ByteBuffer? {
        pump()
        guard let size = received.getInteger(at: received.readerIndex, as: Int32.self),
            received.readableBytes >= 4 + Int(size)
        else { return nil }
        received.moveReaderIndex(forwardBy: 4)
        return received.readSlice(length: Int(size))
    }

    /// The next response, decoded as `R` at `version`, with its correlation id.
    func receive<R: KafkaResponseMessage>(_ type: R.Type, version: Int16) throws -> (correlationId: Int32, response: R)? {
        guard let frame = nextFrame() else { return nil }
        let (header, body) = try KafkaFrame.decodeResponse(frame: frame, apiKey: R.apiKey, version: version)
        return (header.correlationId, try R.decode(body, version: version))
    }

    /// Sends a request and returns its response, which must come at once.
    func roundTrip<M: KafkaRequestMessage>(_ message: M, version: Int16) throws -> M.Response {
        let id = try send(message, version: version)
        let answer = try #require(try receive(M.Response.self, version: version), "no response to \(M.apiKey.name)")
        #expect(answer.correlationId == id)
        return answer.response
    }

    /// Bytes written that do not make a whole frame yet.
    var pendingBytes: Int {
        pump()
        return received.readableBytes
    }

    func close() {
        if channel.isActive { _ = try? channel.close().wait() }
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

// MARK: Building requests

/// Record batches as a producer would send them.
enum Batches {
    /// One batch of `values` (keys `k<i>` unless given), timestamps `timestamp + i`.
    static func make(
        _ values: [String], keys: [String?]? = nil, timestamp: Int64 = 1_700_000_000_000, codec: CompressionCodec = .none,
        headers: [RecordHeader] = []
    ) -> [UInt8] {
        var builder = RecordBatchBuilder(codec: codec)
        for (i, value) in values.enumerated() {
            let key = keys.map { $0[i] } ?? "k\(i)"
            builder.append(
                timestamp: timestamp + Int64(i), key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers)
        }
        return try! builder.build()
    }

    /// The records in `bytes` (whole batches back to back): offset, timestamp, key, value.
    static func records(_ bytes: [UInt8]) throws -> [(offset: Int64, timestamp: Int64, key: String?, value: String?)] {
        var out: [(Int64, Int64, String?, String?)] = []
        var scratch: [UInt8] = []
        try bytes.withUnsafeBytes { buffer in
            for whole in WholeBatches(buffer) {
                try RecordBatch(validating: whole).forEachRecord(scratch: &scratch) { r in
                    out.append((
                        r.offset, r.timestamp, r.keyBytes.map { String(decoding: $0, as: UTF8.self) },
                        r.valueBytes.map { String(decoding: $0, as: UTF8.self) }
                    ))
                }
            }
        }
        return out
    }
}

extension ProduceRequest {
    static func single(_ topic: String, partition: Int32 = 0, _ batch: [UInt8], acks: Int16 = -1) -> ProduceRequest {
        ProduceRequest(
            transactionalId: nil, acks: acks, timeoutMs: 30_000,
            topicData: [.init(name: topic, partitionData: [.init(index: partition, records: ByteBuffer(bytes: batch))])])
    }
}

extension FetchRequest {
    static func single(
        _ topic: String, partition: Int32 = 0, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 1,
        partitionMaxBytes: Int32 = 1 << 20, maxBytes: Int32 = 50 << 20
    ) -> FetchRequest {
        FetchRequest(
            replicaId: -1, maxWaitMs: maxWaitMs, minBytes: minBytes, maxBytes: maxBytes, isolationLevel: 0, sessionId: 0,
            sessionEpoch: -1,
            topics: [.init(topic: topic, partitions: [.init(partition: partition, fetchOffset: offset, partitionMaxBytes: partitionMaxBytes)])])
    }
}

extension FetchResponse {
    /// The first partition's record bytes.
    var firstRecords: [UInt8] {
        guard case .bytes(let buffer?) = responses.first?.partitions.first?.records else { return [] }
        return Array(buffer.readableBytesView)
    }

    var firstPartition: FetchResponse.PartitionData? { responses.first?.partitions.first }
}

extension CreateTopicsRequest {
    static func one(_ name: String, partitions: Int32 = 1, replicationFactor: Int16 = 1, configs: [String: String?] = [:], validateOnly: Bool = false) -> CreateTopicsRequest {
        CreateTopicsRequest(
            topics: [
                .init(
                    name: name, numPartitions: partitions, replicationFactor: replicationFactor, assignments: [],
                    configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
            ], timeoutMs: 10_000, validateOnly: validateOnly)
    }
}

extension TestConnection {
    /// Creates a topic through CreateTopics and checks it worked.
    func createTopic(_ name: String, partitions: Int32 = 1, configs: [String: String?] = [:]) throws {
        let response = try roundTrip(CreateTopicsRequest.one(name, partitions: partitions, configs: configs), version: 7)
        #expect(response.topics.first?.errorCode == ErrorCode.none, "\(response.topics.first?.errorMessage ?? "")")
    }

    /// Produces one batch with acks=-1 and returns the partition response.
    func produce(_ topic: String, partition: Int32 = 0, _ batch: [UInt8]) throws -> ProduceResponse.PartitionProduceResponse {
        let response = try roundTrip(ProduceRequest.single(topic, partition: partition, batch), version: 9)
        return try #require(response.responses.first?.partitionResponses.first)
    }
}
