import NIOCore
import Testing
@testable import SamsaProtocol

@Suite struct FramingTests {
    private func fetchResponse(_ records: [RecordsPayload]) -> FetchResponse {
        FetchResponse(responses: [
            .init(topic: "orders", partitions: records.enumerated().map { i, payload in
                .init(partitionIndex: Int32(i), highWatermark: 100, records: payload)
            })
        ])
    }

    /// Joins parts, filling each external hole with `fill(token)` bytes.
    private func join(_ parts: [FramePart], fill: (Int, Int) -> ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        for part in parts {
            switch part {
            case .bytes(let b): out.writeImmutableBuffer(b)
            case let .external(token, length): out.writeImmutableBuffer(fill(token, length))
            }
        }
        return out
    }

    @Test(arguments: [Int16(4), 11, 12])
    func fetchPartsSplitAroundExternalRecordsAndCountThemInTheSize(_ version: Int16) throws {
        let fileBytes: [Int: ByteBuffer] = [7: ByteBuffer(hex: String(repeating: "ab", count: 300)),
                                            8: ByteBuffer(hex: String(repeating: "cd", count: 5))]
        let external = fetchResponse([.external(length: 300, token: 7), .bytes(ByteBuffer(hex: "0102")),
                                      .external(length: 5, token: 8), .bytes(nil)])
        let parts = try external.encodeParts(version: version, correlationId: 42)
        #expect(parts.count == 5)
        #expect(parts[1] == .external(token: 7, length: 300))
        #expect(parts[3] == .external(token: 8, length: 5))
        guard case .bytes(let first) = parts[0] else { Issue.record("first part must be bytes"); return }
        let size = first.getInteger(at: first.readerIndex, endianness: .big, as: Int32.self)!
        #expect(Int(size) == parts.reduce(0) { $0 + $1.length } - 4)

        // The same response with the file bytes in memory encodes to exactly the joined parts.
        let inMemory = fetchResponse([.bytes(fileBytes[7]), .bytes(ByteBuffer(hex: "0102")), .bytes(fileBytes[8]), .bytes(nil)])
        let frame = try KafkaFrame.encodeResponse(inMemory, version: version, correlationId: 42)
        #expect(join(parts) { token, _ in fileBytes[token]! } == frame)

        // And a client decodes the frame back.
        var body = frame
        body.moveReaderIndex(forwardBy: 4)
        let (header, payload) = try KafkaFrame.decodeResponse(frame: body, apiKey: .fetch, version: version)
        #expect(header.correlationId == 42)
        #expect(try FetchResponse.decode(payload, version: version) == inMemory)
    }

    @Test func externalRecordsNeedThePartsEncoder() {
        let response = fetchResponse([.external(length: 10, token: 1)])
        #expect(throws: ProtocolError(.externalPayloadNotAllowed, field: "FetchResponse.Responses.Partitions.Records")) {
            _ = try KafkaFrame.encodeResponse(response, version: 11, correlationId: 1)
        }
    }

    @Test func responseWithoutExternalRecordsIsOnePart() throws {
        let parts = try KafkaFrame.encodeResponseParts(fetchResponse([.bytes(nil)]), version: 12, correlationId: 3)
        #expect(parts.count == 1)
    }

    @Test func requestFrameIsSizeHeaderBody() throws {
        let request = MetadataRequest(topics: [.init(name: "orders")], allowAutoTopicCreation: false)
        let frame = try KafkaFrame.encodeRequest(request, version: 12, correlationId: 5, clientId: "samsa")
        var reader = WireReader(frame)
        #expect(Int(try reader.readInt32("size")) == frame.readableBytes - 4)
        let (header, body) = try KafkaFrame.decodeRequest(frame: reader.buffer)
        #expect(header == RequestHeader(apiKey: .metadata, apiVersion: 12, correlationId: 5, clientId: "samsa"))
        #expect(try KafkaRequest.decode(header: header, body: body) == .metadata(request))
    }

    @Test func apiVersionsResponseFrameUsesHeaderV0EvenWhenFlexible() throws {
        let response = ApiVersionsResponse.implemented()
        #expect(response.apiKeys.count == 25)
        #expect(response.apiKeys.first { $0.apiKey == ApiKey.fetch.rawValue } == .init(apiKey: 1, minVersion: 4, maxVersion: 12))
        let frame = try KafkaFrame.encodeResponse(response, version: 3, correlationId: 1)
        // size, correlation id, then straight into the body's error code: no tagged-field byte in the header.
        #expect(frame.getBytes(at: 4, length: 6) == [0, 0, 0, 1, 0, 0])
        var body = frame
        body.moveReaderIndex(forwardBy: 8)
        #expect(try ApiVersionsResponse.decode(body, version: 3) == response)
    }

    @Test func produceRecordsAreSlicesOfTheFrameNotCopies() throws {
        let records = ByteBuffer(hex: String(repeating: "5a", count: 4096))
        let request = ProduceRequest(acks: -1, timeoutMs: 1000, topicData: [
            .init(name: "orders", partitionData: [.init(index: 0, records: records)])
        ])
        for version in ProduceRequest.supportedVersions {
            let frame = try KafkaFrame.encodeRequest(request, version: version, correlationId: 1, clientId: "c")
            var afterSize = frame
            afterSize.moveReaderIndex(forwardBy: 4)
            let (header, body) = try KafkaFrame.decodeRequest(frame: afterSize)
            guard case .produce(let decoded) = try KafkaRequest.decode(header: header, body: body) else {
                Issue.record("not a produce request"); return
            }
            let slice = try #require(decoded.topicData[0].partitionData[0].records)
            #expect(slice == records)
            let frameRange = frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!)..<UInt(bitPattern: $0.baseAddress! + $0.count) }
            let sliceStart = slice.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }
            #expect(frameRange.contains(sliceStart), "v\(version): records were copied out of the frame")
        }
    }
}
