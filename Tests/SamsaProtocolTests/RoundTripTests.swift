import NIOCore
import Testing
@testable import SamsaProtocol

/// Every generated message, at every supported version, with random values: encode, decode, compare.
@Suite struct RoundTripTests {
    static let seedsPerVersion: UInt64 = 40

    @Test(arguments: allMessageCases)
    func everyVersionDecodesWhatItEncodes(_ message: MessageCase) throws {
        for version in message.versions {
            for i in 0..<Self.seedsPerVersion {
                let seed = i &* 0x9E37_79B9 &+ UInt64(version)
                let result = try message.roundTrip(version, seed)
                #expect(result.equal, "\(message) v\(version) seed \(seed): decoded value differs")
                #expect(result.reencodedIdentically, "\(message) v\(version) seed \(seed): re-encoding differs")
                #expect(result.leftover == 0, "\(message) v\(version) seed \(seed): \(result.leftover) bytes unread")
            }
        }
    }

    @Test func coverageMatchesTheBrief() {
        let expected: [ApiKey: ClosedRange<Int16>] = [
            .apiVersions: 0...3, .metadata: 0...12, .produce: 3...9, .fetch: 4...12, .listOffsets: 1...7,
            .createTopics: 2...7, .deleteTopics: 1...6, .createPartitions: 0...3, .describeConfigs: 0...4,
            .incrementalAlterConfigs: 0...1, .deleteRecords: 0...2, .describeCluster: 0...1,
            .findCoordinator: 0...4, .joinGroup: 0...9, .syncGroup: 0...5, .heartbeat: 0...4, .leaveGroup: 0...5,
            .listGroups: 0...4, .describeGroups: 0...5, .deleteGroups: 0...2, .offsetCommit: 0...8,
            .offsetFetch: 0...8, .offsetDelete: 0...0, .initProducerId: 0...4, .saslHandshake: 0...1,
        ]
        var actual: [ApiKey: ClosedRange<Int16>] = [:]
        for (key, versions) in ApiKey.supportedRanges { actual[key] = versions }
        #expect(actual == expected)
        #expect(allMessageCases.count == 2 * expected.count)
    }

    @Test func encodingAnUnsupportedVersionThrows() {
        #expect(throws: ProtocolError(.unsupportedVersion(apiKey: 0, version: 2), field: "ProduceRequest")) {
            _ = try ProduceRequest().encode(version: 2)
        }
        #expect(throws: ProtocolError(.unsupportedVersion(apiKey: 1, version: 13), field: "FetchResponse")) {
            _ = try FetchResponse.decode(ByteBuffer(), version: 13)
        }
    }

    @Test func nullInAVersionThatForbidsItIsRefused() {
        // JoinGroup's ProtocolName became nullable in v7.
        let response = JoinGroupResponse(protocolName: nil)
        #expect(throws: ProtocolError(.unexpectedNull, field: "JoinGroupResponse.ProtocolName")) {
            _ = try response.encode(version: 6)
        }
        #expect((try? response.encode(version: 7)) != nil)
        // Metadata v0 has no null topic list ("all topics" is the empty list there).
        #expect(throws: ProtocolError(.unexpectedNull, field: "MetadataRequest.Topics")) {
            _ = try MetadataRequest(topics: nil).encode(version: 0)
        }
    }

    @Test func fieldsAVersionLacksAreNotWrittenAndDecodeToTheirDefaults() throws {
        let response = MetadataResponse(
            throttleTimeMs: 5, brokers: [.init(nodeId: 1, host: "h", port: 9092, rack: "r")], clusterId: "c",
            controllerId: 1, topics: [])
        let v0 = try MetadataResponse.decode(try response.encode(version: 0), version: 0)
        #expect(v0.throttleTimeMs == 0)
        #expect(v0.brokers[0].rack == nil)
        #expect(v0.clusterId == nil)
        #expect(v0.controllerId == -1)
        let v12 = try MetadataResponse.decode(try response.encode(version: 12), version: 12)
        #expect(v12 == response)
    }
}
