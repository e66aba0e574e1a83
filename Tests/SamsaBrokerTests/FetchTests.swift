import NIOCore
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct FetchTests {
    @Test func returnsTheStoredBatchesByteForByteThroughSendfile() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("f")
        _ = try connection.produce("f", Batches.make(["a", "b"]))
        _ = try connection.produce("f", Batches.make(["c"], codec: .lz4))
        let response = try connection.roundTrip(FetchRequest.single("f", offset: 0), version: 12)
        let partition = try #require(response.firstPartition)
        #expect(partition.errorCode == .none)
        #expect(partition.highWatermark == 3)
        #expect(partition.lastStableOffset == 3)
        #expect(partition.logStartOffset == 0)
        let log = try #require(broker.broker.logManager.log(TopicPartition("f", 0)))
        let onDisk = try #require(try log.read(from: 0, maxBytes: 1 << 20).slice).readBytes()
        #expect(response.firstRecords == onDisk)
        #expect(try Batches.records(response.firstRecords).map(\.value) == ["a", "b", "c"])
        #expect(connection.capture.regions == 1)
    }

    @Test func everySupportedVersionReadsTheSameRecords() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("v")
        _ = try connection.produce("v", Batches.make(["x", "y"]))
        for version in FetchRequest.supportedVersions {
            let response = try connection.roundTrip(FetchRequest.single("v", offset: 1), version: version)
            #expect(try Batches.records(response.firstRecords).map(\.value) == ["x", "y"], "v\(version)")
        }
    }

    @Test func offsetPastTheEndIsOffsetOutOfRange() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("o")
        _ = try connection.produce("o", Batches.make(["a"]))
        let response = try connection.roundTrip(FetchRequest.single("o", offset: 5), version: 12)
        #expect(response.firstPartition?.errorCode == .offsetOutOfRange)
        #expect(response.firstPartition?.highWatermark == 1)
    }

    @Test func unknownPartitionIsUnknownTopicOrPartition() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let response = try connection.roundTrip(FetchRequest.single("nope", offset: 0, maxWaitMs: 500), version: 12)
        #expect(response.firstPartition?.errorCode == .unknownTopicOrPartition)
    }

    @Test func partitionMaxBytesStillReturnsTheFirstBatchWhole() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("p")
        let batch = Batches.make([String(repeating: "z", count: 500)])
        _ = try connection.produce("p", batch)
        _ = try connection.produce("p", batch)
        let response = try connection.roundTrip(FetchRequest.single("p", offset: 0, partitionMaxBytes: 10), version: 12)
        #expect(response.firstRecords.count == batch.count)
    }

    @Test func aPartitionEndsWithItsLastWholeBatch() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("whole")
        let batch = Batches.make([String(repeating: "w", count: 300)])
        for _ in 0..<3 { _ = try connection.produce("whole", batch) }
        // Room for two and a half batches: two come back, whole.
        let limit = Int32(batch.count * 5 / 2)
        let response = try connection.roundTrip(FetchRequest.single("whole", offset: 0, partitionMaxBytes: limit), version: 12)
        #expect(response.firstRecords.count == batch.count * 2)
        #expect(try Batches.records(response.firstRecords).map(\.offset) == [0, 1])
    }

    @Test func maxBytesIsSharedAcrossPartitions() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("m", partitions: 2)
        let batch = Batches.make([String(repeating: "z", count: 500)])
        _ = try connection.produce("m", partition: 0, batch)
        _ = try connection.produce("m", partition: 1, batch)
        let request = FetchRequest(
            replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: Int32(batch.count + 10), isolationLevel: 0, sessionId: 0,
            sessionEpoch: -1,
            topics: [.init(topic: "m", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20), .init(partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 20)])])
        let response = try connection.roundTrip(request, version: 12)
        let partitions = try #require(response.responses.first?.partitions)
        #expect(partitions.count == 2)
        #expect(partitions[0].records.length == batch.count)
        // Only 10 bytes were left for the second partition: no whole batch fits, so it gets none (Kafka would
        // send 10 bytes of a batch that the client must drop).
        #expect(partitions[1].records.length == 0)
        #expect(partitions[1].errorCode == ErrorCode.none)
    }

    @Test func waitingFetchWakesWhenAnotherConnectionAppends() throws {
        let broker = try TestBroker()
        let producer = try broker.connect()
        let consumer = try broker.connect()
        try producer.createTopic("w")
        let id = try consumer.send(FetchRequest.single("w", offset: 0, maxWaitMs: 60_000), version: 12)
        #expect(consumer.nextFrame() == nil)
        #expect(broker.broker.delayedFetches.count == 1)
        _ = try producer.produce("w", Batches.make(["late"]))
        let answer = try #require(try consumer.receive(FetchResponse.self, version: 12))
        #expect(answer.correlationId == id)
        #expect(try Batches.records(answer.response.firstRecords).map(\.value) == ["late"])
        #expect(broker.broker.delayedFetches.count == 0)
    }

    @Test func idleFetchAnswersEmptyAfterMaxWait() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("idle")
        try connection.send(FetchRequest.single("idle", offset: 0, maxWaitMs: 500), version: 12)
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(499))
        #expect(connection.nextFrame() == nil)
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let answer = try #require(try connection.receive(FetchResponse.self, version: 12))
        #expect(answer.response.firstPartition?.errorCode == ErrorCode.none)
        #expect(answer.response.firstRecords.isEmpty)
        #expect(broker.broker.delayedFetches.count == 0)
    }

    @Test func minBytesKeepsWaitingUntilEnoughArrives() throws {
        let broker = try TestBroker()
        let producer = try broker.connect()
        let consumer = try broker.connect()
        try producer.createTopic("min")
        let small = Batches.make(["a"])
        try consumer.send(FetchRequest.single("min", offset: 0, maxWaitMs: 60_000, minBytes: Int32(small.count * 2 + 1)), version: 12)
        _ = try producer.produce("min", small)
        _ = try producer.produce("min", small)
        #expect(consumer.nextFrame() == nil)
        _ = try producer.produce("min", small)
        let answer = try #require(try consumer.receive(FetchResponse.self, version: 12))
        #expect(try Batches.records(answer.response.firstRecords).count == 3)
    }

    @Test func closingTheConnectionReleasesAWaitingFetch() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("gone")
        try connection.send(FetchRequest.single("gone", offset: 0, maxWaitMs: 60_000), version: 12)
        #expect(broker.broker.delayedFetches.count == 1)
        connection.close()
        #expect(broker.broker.delayedFetches.count == 0)
    }

    @Test func deletingTheTopicAnswersAWaitingFetch() throws {
        let broker = try TestBroker()
        let admin = try broker.connect()
        let consumer = try broker.connect()
        try admin.createTopic("doomed")
        try consumer.send(FetchRequest.single("doomed", offset: 0, maxWaitMs: 60_000), version: 12)
        _ = try admin.roundTrip(DeleteTopicsRequest(topicNames: ["doomed"], timeoutMs: 1000), version: 5)
        let answer = try #require(try consumer.receive(FetchResponse.self, version: 12))
        #expect(answer.response.firstPartition?.errorCode == .unknownTopicOrPartition)
    }

    @Test func incrementalFetchSessionIsNotFound() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        var request = FetchRequest.single("s", offset: 0)
        request.sessionId = 42
        request.sessionEpoch = 3
        let response = try connection.roundTrip(request, version: 12)
        #expect(response.errorCode == .fetchSessionIdNotFound)
        #expect(response.sessionId == 0)
    }
}

@Suite struct PipeliningTests {
    @Test func responsesComeBackInRequestOrderBehindALongPoll() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("t")
        // Three requests in one write: a long poll, then two that could answer at once.
        var frames = ByteBuffer()
        var fetch = try KafkaFrame.encodeRequest(FetchRequest.single("t", offset: 0, maxWaitMs: 300), version: 12, correlationId: 100, clientId: "p")
        var metadata = try KafkaFrame.encodeRequest(MetadataRequest(topics: nil), version: 12, correlationId: 101, clientId: "p")
        var versions = try KafkaFrame.encodeRequest(ApiVersionsRequest(), version: 3, correlationId: 102, clientId: "p")
        frames.writeBuffer(&fetch)
        frames.writeBuffer(&metadata)
        frames.writeBuffer(&versions)
        try connection.sendRaw(frames)
        #expect(connection.nextFrame() == nil, "nothing may overtake the waiting fetch")
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))
        #expect(try connection.receive(FetchResponse.self, version: 12)?.correlationId == 100)
        #expect(try connection.receive(MetadataResponse.self, version: 12)?.correlationId == 101)
        #expect(try connection.receive(ApiVersionsResponse.self, version: 3)?.correlationId == 102)
    }

    @Test func pipelinedProducesToOnePartitionKeepTheirOrder() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("order")
        var frames = ByteBuffer()
        for i in 0..<20 {
            var frame = try KafkaFrame.encodeRequest(
                ProduceRequest.single("order", Batches.make(["\(i)"])), version: 9, correlationId: Int32(i), clientId: "p")
            frames.writeBuffer(&frame)
        }
        try connection.sendRaw(frames)
        for i in 0..<20 {
            let answer = try #require(try connection.receive(ProduceResponse.self, version: 9))
            #expect(answer.correlationId == Int32(i))
            #expect(answer.response.responses.first?.partitionResponses.first?.baseOffset == Int64(i))
        }
    }
}
