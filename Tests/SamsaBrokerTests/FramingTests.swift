import NIOCore
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct FramingTests {
    @Test func lengthPrefixAboveTheLimitClosesTheConnectionAfterFourBytes() throws {
        let broker = try TestBroker(["socket.request.max.bytes": "1000"])
        let connection = try broker.connect()
        // 1001 bytes announced, only the prefix sent: the broker refuses before any body arrives.
        try connection.sendRaw([0, 0, 0x03, 0xE9])
        #expect(!connection.isActive)
    }

    @Test func twoGibibyteLengthPrefixClosesTheConnection() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.sendRaw([0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        #expect(!connection.isActive)
    }

    @Test func negativeLengthPrefixClosesTheConnection() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        try connection.sendRaw([0xFF, 0xFF, 0xFF, 0xFE])
        #expect(!connection.isActive)
    }

    @Test func frameAtTheLimitIsAccepted() throws {
        let broker = try TestBroker(["socket.request.max.bytes": "64"])
        let connection = try broker.connect()
        let frame = try KafkaFrame.encodeRequest(ApiVersionsRequest(), version: 2, correlationId: 9, clientId: "test")
        #expect(frame.readableBytes - 4 <= 64)
        try connection.sendRaw(frame)
        let answer = try #require(try connection.receive(ApiVersionsResponse.self, version: 2))
        #expect(answer.correlationId == 9)
    }

    @Test func requestSentOneByteAtATimeIsAnswered() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let frame = try KafkaFrame.encodeRequest(MetadataRequest(topics: nil), version: 12, correlationId: 5, clientId: "slow")
        for byte in frame.readableBytesView {
            #expect(connection.nextFrame() == nil)
            try connection.sendRaw([byte])
        }
        let answer = try #require(try connection.receive(MetadataResponse.self, version: 12))
        #expect(answer.correlationId == 5)
        #expect(answer.response.brokers.first?.port == 9092)
    }

    @Test func garbageClosesOnlyItsOwnConnection() throws {
        let broker = try TestBroker()
        let bad = try broker.connect()
        let good = try broker.connect()
        // A frame of 12 bytes whose header claims a client id longer than the frame.
        try bad.sendRaw([0, 0, 0, 12, 0, 3, 0, 1, 0, 0, 0, 7, 0x7F, 0xFF, 0x41, 0x42])
        #expect(!bad.isActive)
        let response = try good.roundTrip(ApiVersionsRequest(), version: 3)
        #expect(response.errorCode == .none)
        #expect(good.isActive)
    }

    @Test func truncatedBodyClosesTheConnection() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let full = try KafkaFrame.encodeRequest(MetadataRequest(topics: [.init(name: "orders")]), version: 1, correlationId: 1, clientId: "t")
        // Keep the header, cut the body short, and fix the size prefix to match what is sent.
        var cut = ByteBuffer(buffer: full)
        let keep = full.readableBytes - 4 - 3
        cut.setInteger(Int32(keep), at: 0)
        try connection.sendRaw(cut.getSlice(at: 0, length: 4 + keep)!)
        #expect(!connection.isActive)
    }

    @Test func unknownApiKeyClosesTheConnection() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        // api key 999, version 0, correlation 1, client id "x"
        try connection.sendRaw([0, 0, 0, 11, 0x03, 0xE7, 0, 0, 0, 0, 0, 1, 0, 1, 0x78])
        #expect(!connection.isActive)
    }

    @Test func unsupportedProduceVersionClosesTheConnection() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        // Produce v99 with a well-formed v2 header (flexible: tagged fields after the client id).
        try connection.sendRaw([0, 0, 0, 12, 0, 0, 0, 99, 0, 0, 0, 1, 0, 1, 0x78, 0])
        #expect(!connection.isActive)
    }

    @Test func aKnownApiWithoutAHandlerClosesTheConnection() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        // ConsumerGroupHeartbeat (KIP-848, key 68) v0, header v2: not served (the classic group protocol is).
        try connection.sendRaw([0, 0, 0, 12, 0, 0x44, 0, 0, 0, 0, 0, 1, 0, 1, 0x78, 0])
        #expect(!connection.isActive)
    }
}
