import NIOCore
import Testing
@testable import SamsaProtocol

/// Request frames captured from kcat, confluent-kafka (librdkafka), kafka-python and aiokafka
/// (scripts/protocol/capture_clients.py): each decodes completely and re-encodes byte for byte.
@Suite struct GoldenClientCaptureTests {
    private func decoded(_ client: String, _ api: String, _ version: Int16) throws -> KafkaRequest {
        let capture = try #require(clientCaptures.first { $0.client == client && $0.api == api && $0.version == version })
        let (header, body) = try KafkaFrame.decodeRequest(frame: ByteBuffer(hex: capture.hex))
        return try KafkaRequest.decode(header: header, body: body)
    }

    @Test(arguments: clientCaptures)
    func captureDecodesCompletelyAndReencodesIdentically(_ capture: ClientCapture) throws {
        let frame = ByteBuffer(hex: capture.hex)
        let (header, body) = try KafkaFrame.decodeRequest(frame: frame)
        #expect(header.requestApiKey == capture.apiKey)
        #expect(header.requestApiVersion == capture.version)
        #expect(header.clientId?.isEmpty == false)
        let message = try #require(messageCasesByName["\(capture.api)Request"])
        guard message.versions.contains(capture.version) else {
            // A client newer than our range (kafka-python asks ApiVersions v4 first): the header is enough.
            #expect(throws: ProtocolError.self) { _ = try KafkaRequest.decode(header: header, body: body) }
            return
        }
        let result = try message.golden(body, capture.version)
        #expect(result.leftover == 0)
        var w = WireWriter()
        try header.encode(to: &w)
        var again = w.buffer
        again.writeImmutableBuffer(result.reencoded)
        #expect(again.hexString == capture.hex)
    }

    @Test func everyClientWasCaptured() {
        let clients = Set(clientCaptures.map { $0.client.split(separator: "-").first! })
        #expect(clients == ["kcat", "confluent", "kafka", "aiokafka"])
        let apis = Set(clientCaptures.map(\.api))
        #expect(apis.isSuperset(of: ["ApiVersions", "Metadata", "Produce", "Fetch", "JoinGroup", "CreateTopics",
                                     "FindCoordinator", "InitProducerId"]))
    }

    @Test func librdkafkaApiVersionsNamesItself() throws {
        guard case .apiVersions(let request) = try decoded("kcat-metadata", "ApiVersions", 3) else {
            Issue.record("not ApiVersions"); return
        }
        #expect(request.clientSoftwareName == "librdkafka")
        #expect(request.clientSoftwareVersion.hasPrefix("2."))
    }

    @Test func librdkafkaProduceCarriesTwoRecordsForGoldenPartitionZero() throws {
        guard case .produce(let request) = try decoded("confluent-producer", "Produce", 9) else {
            Issue.record("not Produce"); return
        }
        #expect(request.transactionalId == nil)
        #expect(request.acks == -1)
        #expect(request.topicData.map(\.name) == ["golden"])
        let partition = try #require(request.topicData.first?.partitionData.first)
        #expect(partition.index == 0)
        var batch = try #require(partition.records)
        // Record batch v2 header: base offset (8), length (4), leader epoch (4), magic (1) ... record count at 57.
        #expect(batch.getInteger(at: batch.readerIndex + 16, as: UInt8.self) == 2)
        #expect(batch.getInteger(at: batch.readerIndex + 57, endianness: .big, as: Int32.self) == 2)
        let length = try #require(batch.readInteger(endianness: .big, as: Int64.self).flatMap { _ in batch.readInteger(endianness: .big, as: Int32.self) })
        #expect(Int(length) == batch.readableBytes)
    }

    @Test func librdkafkaFetchAsksForGoldenFromOffsetZero() throws {
        guard case .fetch(let request) = try decoded("confluent-consumer", "Fetch", 12) else {
            Issue.record("not Fetch"); return
        }
        #expect(request.replicaId == -1)
        #expect(request.topics.map(\.topic) == ["golden"])
        #expect(request.topics.first?.partitions.first?.fetchOffset == 0)
    }

    @Test func groupAndAdminRequestsCarryWhatTheClientAskedFor() throws {
        guard case .joinGroup(let join) = try decoded("confluent-group", "JoinGroup", 5) else {
            Issue.record("not JoinGroup"); return
        }
        #expect(join.groupId == "golden-group")
        #expect(join.protocolType == "consumer")
        #expect(join.sessionTimeoutMs == 6000)
        #expect(!join.protocols.isEmpty)

        guard case .createTopics(let create) = try decoded("confluent-admin", "CreateTopics", 4) else {
            Issue.record("not CreateTopics"); return
        }
        #expect(create.topics.first?.name == "created")
        #expect(create.topics.first?.numPartitions == 3)
        #expect(create.topics.first?.configs == [.init(name: "cleanup.policy", value: "compact")])
    }
}
