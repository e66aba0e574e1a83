import NIOCore
import SamsaProtocol
import Testing

@testable import SamsaBroker

@Suite struct ApiVersionsTests {
    @Test func advertisesExactlyTheApisWithHandlers() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        let response = try connection.roundTrip(ApiVersionsRequest(clientSoftwareName: "test", clientSoftwareVersion: "1"), version: 3)
        #expect(response.errorCode == .none)
        let keys = Set(response.apiKeys.map(\.apiKey))
        // The classic group protocol and the offset and group admin APIs (8-16, 42, 47) are served; the KIP-848
        // consumer group protocol and transactions are not.
        let expected: Set<Int16> = [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 32, 37, 42, 44, 47, 60]
        #expect(keys == expected)
        let router = broker.broker.makeRouter()
        for key in ApiKey.allCases {
            #expect(keys.contains(key.rawValue) == router.handles(key), "\(key.name)")
        }
        #expect(!keys.contains(ApiKey.consumerGroupHeartbeat.rawValue))
        #expect(!keys.contains(ApiKey.addPartitionsToTxn.rawValue))
        let join = try #require(response.apiKeys.first { $0.apiKey == ApiKey.joinGroup.rawValue })
        #expect(join.minVersion == JoinGroupRequest.supportedVersions.lowerBound)
        #expect(join.maxVersion == JoinGroupRequest.supportedVersions.upperBound)
        let fetch = try #require(response.apiKeys.first { $0.apiKey == 1 })
        #expect(fetch.minVersion == FetchRequest.supportedVersions.lowerBound)
        #expect(fetch.maxVersion == FetchRequest.supportedVersions.upperBound)
    }

    @Test func answersEveryVersionItImplements() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        for version in ApiVersionsRequest.supportedVersions {
            let response = try connection.roundTrip(ApiVersionsRequest(), version: version)
            #expect(response.errorCode == .none)
            #expect(response.apiKeys.count == 25)
        }
    }

    @Test func tooNewVersionIsAnsweredAsV0WithUnsupportedVersionAndTheList() throws {
        let broker = try TestBroker()
        let connection = try broker.connect()
        // ApiVersions v9: header v2 (flexible), the body is never read.
        var frame = ByteBuffer()
        frame.writeInteger(Int32(0))
        frame.writeInteger(Int16(18))
        frame.writeInteger(Int16(9))
        frame.writeInteger(Int32(77))
        frame.writeInteger(Int16(1))
        frame.writeString("x")
        frame.writeInteger(UInt8(0))  // no tagged fields
        frame.writeBytes([0xDE, 0xAD])  // a body from the future
        frame.setInteger(Int32(frame.readableBytes - 4), at: 0)
        try connection.sendRaw(frame)
        let answer = try #require(try connection.receive(ApiVersionsResponse.self, version: 0))
        #expect(answer.correlationId == 77)
        #expect(answer.response.errorCode == .unsupportedVersion)
        #expect(answer.response.apiKeys.contains { $0.apiKey == 18 && $0.maxVersion == 3 })
        #expect(connection.isActive)
    }
}
