import NIOCore
import Testing
@testable import SamsaProtocol

@Suite struct HeaderTests {
    @Test func headerVersionsFollowFlexibleVersions() {
        #expect(ApiKey.produce.requestHeaderVersion(version: 8) == 1)
        #expect(ApiKey.produce.requestHeaderVersion(version: 9) == 2)
        #expect(ApiKey.produce.responseHeaderVersion(version: 8) == 0)
        #expect(ApiKey.produce.responseHeaderVersion(version: 9) == 1)
        #expect(ApiKey.metadata.requestHeaderVersion(version: 12) == 2)
        #expect(ApiKey.describeCluster.responseHeaderVersion(version: 0) == 1)
        #expect(ApiKey.saslHandshake.requestHeaderVersion(version: 1) == 1)
        #expect(ApiKey.offsetDelete.responseHeaderVersion(version: 0) == 0)
        #expect(ApiKey.controlledShutdown.requestHeaderVersion(version: 0) == 0)
        #expect(ApiKey.controlledShutdown.requestHeaderVersion(version: 1) == 1)
    }

    @Test func apiVersionsResponsesAlwaysUseHeaderV0() {
        for version in Int16(0)...10 {
            #expect(ApiKey.apiVersions.responseHeaderVersion(version: version) == 0)
        }
        #expect(ApiKey.apiVersions.requestHeaderVersion(version: 3) == 2)
        #expect(ApiKey.apiVersions.requestHeaderVersion(version: 2) == 1)
    }

    @Test func requestHeaderV2RoundTripsWithTaggedFields() throws {
        let header = RequestHeader(apiKey: .metadata, apiVersion: 12, correlationId: 7, clientId: "rdkafka")
        var w = WireWriter()
        try header.encode(to: &w)
        #expect(w.buffer.hexString == "0003" + "000c" + "00000007" + "0007" + "72646b61666b61" + "00")
        var r = WireReader(w.buffer)
        #expect(try RequestHeader.decode(from: &r) == header)
        #expect(r.remaining == 0)
    }

    @Test func requestHeaderV1HasNoTaggedFieldsAndANullableClientId() throws {
        let header = RequestHeader(apiKey: .produce, apiVersion: 7, correlationId: -1, clientId: nil)
        var w = WireWriter()
        try header.encode(to: &w)
        #expect(w.buffer.hexString == "0000" + "0007" + "ffffffff" + "ffff")
        var r = WireReader(w.buffer)
        #expect(try RequestHeader.decode(from: &r) == header)
    }

    @Test func unknownApiKeyHeaderStillYieldsItsCorrelationId() throws {
        // Api key 999, version 3, correlation 0x01020304, client id "x", then a body we do not know.
        var r = WireReader(ByteBuffer(hex: "03e7" + "0003" + "01020304" + "000178" + "deadbeef"))
        let header = try RequestHeader.decode(from: &r)
        #expect(header.apiKey == nil)
        #expect(header.correlationId == 0x0102_0304)
        #expect(header.clientId == "x")
        #expect(r.remaining == 4)
        #expect(throws: ProtocolError(.unsupportedApiKey(999), field: "KafkaRequest")) {
            _ = try KafkaRequest.decode(header: header, body: r.buffer)
        }
    }

    @Test func unsupportedApiVersionsVersionIsReadableSoTheBrokerCanAnswer() throws {
        // A client newer than us sends ApiVersions v4 (flexible: header v2 with tagged fields).
        let header = RequestHeader(apiKey: .apiVersions, apiVersion: 4, correlationId: 9, clientId: "new")
        var w = WireWriter()
        try header.encode(to: &w)
        w.writeUnsignedVarint(5); w.buffer.writeString("java")   // body: compact strings + tags
        w.writeUnsignedVarint(4); w.buffer.writeString("4.0")
        w.writeUnsignedVarint(0)
        let (decoded, body) = try KafkaFrame.decodeRequest(frame: w.buffer)
        #expect(decoded == header)
        #expect(body.readableBytes == 10)
        #expect(throws: ProtocolError(.unsupportedVersion(apiKey: 18, version: 4), field: "ApiVersionsRequest")) {
            _ = try KafkaRequest.decode(header: decoded, body: body)
        }
    }

    @Test func responseHeaderV1CarriesEmptyTaggedFields() throws {
        var w = WireWriter()
        ResponseHeader(correlationId: 5).encode(to: &w, headerVersion: 1)
        #expect(w.buffer.hexString == "0000000500")
        var r = WireReader(w.buffer)
        #expect(try ResponseHeader.decode(from: &r, headerVersion: 1) == ResponseHeader(correlationId: 5))
        #expect(r.remaining == 0)
    }

    @Test func everyKafkaApiKeyIsKnownWithItsFlexibleVersion() {
        #expect(ApiKey.allCases.count == 88)
        #expect(ApiKey(rawValue: 75) == .describeTopicPartitions)
        #expect(ApiKey.fetch.flexibleFrom == 12)
        #expect(ApiKey.saslHandshake.flexibleFrom == nil)
        #expect(ApiKey.produce.name == "Produce")
        #expect(ApiKey.implemented.count == 25)
        #expect(ApiKey.leaderAndIsr.supportedVersions == nil)
    }
}
