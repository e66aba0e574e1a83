import NIOCore
import SamsaLog
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct ProduceTests {
    @Test func appendsBatchesAndAnswersWithTheirBaseOffsets() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("orders")
        let first = try connection.produce("orders", Batches.make(["a", "b", "c"]))
        #expect(first.errorCode == .none)
        #expect(first.baseOffset == 0)
        #expect(first.logStartOffset == 0)
        let second = try connection.produce("orders", Batches.make(["d"]))
        #expect(second.baseOffset == 3)
        let log = try #require(broker.broker.logManager.log(TopicPartition("orders", 0)))
        #expect(log.logEndOffset == 4)
        let stored = try Batches.records(try #require(try log.read(from: 0, maxBytes: 1 << 20).slice).readBytes())
        #expect(stored.map(\.value) == ["a", "b", "c", "d"])
        #expect(stored.map(\.offset) == [0, 1, 2, 3])
    }

    @Test func everySupportedVersionIsAnswered() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("v")
        for (i, version) in ProduceRequest.supportedVersions.enumerated() {
            let response = try connection.roundTrip(ProduceRequest.single("v", Batches.make(["x"])), version: version)
            #expect(response.responses.first?.partitionResponses.first?.baseOffset == Int64(i))
        }
    }

    @Test func unknownTopicOrPartitionIsRefused() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("one", partitions: 1)
        #expect(try connection.produce("missing", Batches.make(["x"])).errorCode == .unknownTopicOrPartition)
        #expect(try connection.produce("one", partition: 1, Batches.make(["x"])).errorCode == .unknownTopicOrPartition)
    }

    @Test func corruptCrcIsCorruptMessage() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("c")
        var batch = Batches.make(["hello"])
        batch[batch.count - 1] ^= 0xFF
        let response = try connection.produce("c", batch)
        #expect(response.errorCode == .corruptMessage)
        #expect(response.errorMessage?.isEmpty == false)
        #expect(broker.broker.logManager.log(TopicPartition("c", 0))?.logEndOffset == 0)
    }

    @Test func batchJustUnderMaxMessageBytesIsAcceptedAndOneAboveIsMessageTooLarge() throws {
        let broker = try TestBroker(["message.max.bytes": "2000"])
        let connection = try broker.connect()
        try connection.createTopic("big")
        // Find value sizes whose batch is exactly at the limit and one byte above it.
        func batch(ofSize target: Int) -> [UInt8] {
            var size = target - 100
            while true {
                let b = Batches.make([String(repeating: "x", count: size)])
                if b.count == target { return b }
                size += b.count < target ? 1 : -1
            }
        }
        let atLimit = batch(ofSize: 2000)
        #expect(try connection.produce("big", atLimit).errorCode == .none)
        let above = batch(ofSize: 2001)
        let refused = try connection.produce("big", above)
        #expect(refused.errorCode == .messageTooLarge)
        #expect(refused.baseOffset == -1)
    }

    @Test func recordWithoutKeyOnCompactedTopicIsInvalidRecord() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("compacted", configs: ["cleanup.policy": "compact"])
        let response = try connection.produce("compacted", Batches.make(["v"], keys: [nil]))
        #expect(response.errorCode == .invalidRecord)
        #expect(try connection.produce("compacted", Batches.make(["v"], keys: ["k"])).errorCode == .none)
    }

    @Test func invalidAcksIsRefused() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("a")
        let response = try connection.roundTrip(ProduceRequest.single("a", Batches.make(["x"]), acks: 2), version: 9)
        #expect(response.responses.first?.partitionResponses.first?.errorCode == .invalidRequiredAcks)
        #expect(broker.broker.logManager.log(TopicPartition("a", 0))?.logEndOffset == 0)
    }

    @Test func acksZeroGetsNoResponseButIsAppended() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("quiet")
        try connection.send(ProduceRequest.single("quiet", Batches.make(["a", "b"]), acks: 0), version: 9)
        let id = try connection.send(ApiVersionsRequest(), version: 3)
        // The next frame is the ApiVersions answer: nothing was written for the produce.
        let answer = try #require(try connection.receive(ApiVersionsResponse.self, version: 3))
        #expect(answer.correlationId == id)
        #expect(broker.broker.logManager.log(TopicPartition("quiet", 0))?.logEndOffset == 2)
    }

    @Test func acksZeroFailureClosesTheConnection() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.send(ProduceRequest.single("nowhere", Batches.make(["a"]), acks: 0), version: 9)
        #expect(!connection.isActive)
    }

    @Test func flushOnEveryAppendStillAnswersInOrder() throws {
        let broker = try TestBroker(["log.flush.interval.messages": "1"])
        let connection = try broker.connect()
        try connection.createTopic("durable")
        var ids: [Int32] = []
        for i in 0..<5 { ids.append(try connection.send(ProduceRequest.single("durable", Batches.make(["\(i)"])), version: 9)) }
        for (i, id) in ids.enumerated() {
            let answer = try #require(try connection.receive(ProduceResponse.self, version: 9))
            #expect(answer.correlationId == id)
            #expect(answer.response.responses.first?.partitionResponses.first?.baseOffset == Int64(i))
        }
        let log = try #require(broker.broker.logManager.log(TopicPartition("durable", 0)))
        #expect(log.recoveryPoint == 5)
    }

    @Test func logAppendTimeTopicReportsTheBrokerTime() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.createTopic("lat", configs: ["message.timestamp.type": "LogAppendTime"])
        let response = try connection.produce("lat", Batches.make(["x"], timestamp: 5))
        #expect(response.logAppendTimeMs > 1_600_000_000_000)
    }
}
