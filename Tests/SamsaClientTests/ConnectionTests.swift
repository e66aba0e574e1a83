import NIOCore
import SamsaProtocol
import Synchronization
import Testing
@testable import SamsaClient

@Suite struct ConnectionTests {
    /// A Metadata answer that names the requested topic back, so a test can tell responses apart.
    static func echoMetadata(_ header: RequestHeader, _ body: ByteBuffer) -> ByteBuffer {
        let request = try! MetadataRequest.decode(body, version: header.requestApiVersion)
        let name = request.topics?.first?.name ?? "all"
        return FakeBroker.frame(
            MetadataResponse(
                brokers: [.init(nodeId: 1, host: "127.0.0.1", port: 1)], clusterId: "c", controllerId: 1,
                topics: [.init(name: name, partitions: [.init(partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1])])]),
            header)
    }

    @Test func handshakeSendsApiVersionsV3AndPicksTheHighestCommonVersion() async throws {
        let broker = try await FakeBroker { header, body in
            header.apiKey == .apiVersions ? [FakeBroker.apiVersions(header)] : [Self.echoMetadata(header, body)]
        }
        defer { Task { await broker.stop() } }
        let connection = try await BrokerConnection.connect(to: broker.address, config: FakeBroker.config(broker))
        defer { connection.close() }
        #expect(try connection.version(for: MetadataRequest.self) == MetadataRequest.supportedVersions.upperBound)
        let response = try await connection.request(MetadataRequest(topics: [.init(name: "orders")]))
        #expect(response.topics.first?.name == "orders")
        let headers = broker.received
        #expect(headers.first?.apiKey == .apiVersions)
        #expect(headers.first?.requestApiVersion == 3)
        #expect(headers.first?.clientId == "test")
        #expect(headers.last?.requestApiVersion == MetadataRequest.supportedVersions.upperBound)
    }

    @Test func anApiVersionsErrorIsReadAsV0AndTheRequestRepeatedAtTheBrokersVersion() async throws {
        let broker = try await FakeBroker { header, _ in
            guard header.apiKey == .apiVersions else { return [] }
            if header.requestApiVersion > 2 {
                // A broker that only knows ApiVersions 0-2 answers v0 with its range.
                let response = ApiVersionsResponse(
                    errorCode: .unsupportedVersion,
                    apiKeys: [.init(apiKey: ApiKey.apiVersions.rawValue, minVersion: 0, maxVersion: 2)])
                return [try! KafkaFrame.encodeResponse(response, version: 0, correlationId: header.correlationId)]
            }
            var offered = ApiVersionsResponse.implemented()
            offered.apiKeys = offered.apiKeys.map { entry in
                var entry = entry
                if entry.apiKey == ApiKey.metadata.rawValue { entry.maxVersion = 7 }
                return entry
            }
            return [try! KafkaFrame.encodeResponse(offered, version: header.requestApiVersion, correlationId: header.correlationId)]
        }
        defer { Task { await broker.stop() } }
        let connection = try await BrokerConnection.connect(to: broker.address, config: FakeBroker.config(broker))
        defer { connection.close() }
        #expect(broker.received.map(\.requestApiVersion) == [3, 2])
        #expect(try connection.version(for: MetadataRequest.self) == 7)
    }

    @Test func anErrorBodyIsDecodedAsV0EvenWhenAskedAtV3() throws {
        let response = ApiVersionsResponse(
            errorCode: .unsupportedVersion, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 2)], throttleTimeMs: 0)
        let v0 = try response.encode(version: 0)
        let decoded = try BrokerConnection.decodeApiVersions(v0, version: 3)
        #expect(decoded.errorCode == .unsupportedVersion)
        #expect(decoded.apiKeys == [.init(apiKey: 18, minVersion: 0, maxVersion: 2)])
    }

    /// librdkafka's mock cluster answers an ApiVersions version it does not serve in the layout of the version
    /// asked (a compact array), not Kafka's v0; the error code still comes through, and a body too short for any
    /// layout keeps its error code with no ranges (the handshake then retries at v0).
    @Test func anErrorBodyInTheAskedLayoutOrTruncatedStillGivesItsErrorCode() throws {
        let response = ApiVersionsResponse(
            errorCode: .unsupportedVersion, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 2)], throttleTimeMs: 0)
        let v3 = try response.encode(version: 3)
        let decoded = try BrokerConnection.decodeApiVersions(v3, version: 3)
        #expect(decoded.errorCode == .unsupportedVersion)
        #expect(decoded.apiKeys == [.init(apiKey: 18, minVersion: 0, maxVersion: 2)])
        var truncated = ByteBuffer()
        truncated.writeInteger(Int16(35))
        truncated.writeInteger(UInt8(7))
        let short = try BrokerConnection.decodeApiVersions(truncated, version: 3)
        #expect(short.errorCode == .unsupportedVersion && short.apiKeys.isEmpty)
    }

    @Test func pipelinedRequestsEachGetTheirOwnResponse() async throws {
        let broker = try await FakeBroker { header, body in
            header.apiKey == .apiVersions ? [FakeBroker.apiVersions(header)] : [Self.echoMetadata(header, body)]
        }
        defer { Task { await broker.stop() } }
        let connection = try await BrokerConnection.connect(to: broker.address, config: FakeBroker.config(broker))
        defer { connection.close() }
        // All written before any response is read.
        let futures = (0..<50).map { connection.send(MetadataRequest(topics: [.init(name: "topic-\($0)")])) }
        for (i, future) in futures.enumerated() {
            let response = try await future.get()
            #expect(response.topics.first?.name == "topic-\(i)")
        }
        let ids = broker.received.dropFirst().map(\.correlationId)
        #expect(Set(ids).count == 50, "every request has its own correlation id")
    }

    @Test func aResponseForAnotherRequestIsAProtocolViolationThatClosesTheConnection() async throws {
        let seen = Mutex(0)
        let broker = try await FakeBroker { header, body in
            if header.apiKey == .apiVersions { return [FakeBroker.apiVersions(header)] }
            // Hold the first request's answer; answer the second at once.
            let n = seen.withLock { count in
                count += 1
                return count
            }
            return n == 1 ? [] : [Self.echoMetadata(header, body)]
        }
        defer { Task { await broker.stop() } }
        let connection = try await BrokerConnection.connect(to: broker.address, config: FakeBroker.config(broker))
        let first = connection.send(MetadataRequest(topics: [.init(name: "a")]))
        let second = connection.send(MetadataRequest(topics: [.init(name: "b")]))
        await #expect(throws: ClientError.self) { try await first.get() }
        do {
            _ = try await second.get()
            Issue.record("the second request must fail too")
        } catch let error as ClientError {
            #expect(error == .connectionClosed(host: "127.0.0.1", port: broker.port) || "\(error)".contains("protocol violation"))
        }
        try await connection.closeFuture.get()
        #expect(!connection.isActive)
    }

    @Test func aRequestWithoutAnAnswerTimesOutAndClosesTheConnection() async throws {
        let broker = try await FakeBroker { header, _ in
            header.apiKey == .apiVersions ? [FakeBroker.apiVersions(header)] : []
        }
        defer { Task { await broker.stop() } }
        let connection = try await BrokerConnection.connect(
            to: broker.address, config: FakeBroker.config(broker, requestTimeoutMs: 200))
        do {
            _ = try await connection.request(MetadataRequest(topics: []))
            Issue.record("expected a timeout")
        } catch {
            #expect(error == .requestTimedOut(api: .metadata, host: "127.0.0.1", port: broker.port, timeoutMs: 200))
        }
        try await connection.closeFuture.get()
    }

    @Test func anApiTheBrokerDoesNotOfferFailsWithoutBeingSent() async throws {
        let broker = try await FakeBroker { header, _ in
            guard header.apiKey == .apiVersions else { return [] }
            let only = ApiVersionsResponse(apiKeys: [.init(apiKey: ApiKey.apiVersions.rawValue, minVersion: 0, maxVersion: 3)])
            return [try! KafkaFrame.encodeResponse(only, version: header.requestApiVersion, correlationId: header.correlationId)]
        }
        defer { Task { await broker.stop() } }
        let connection = try await BrokerConnection.connect(to: broker.address, config: FakeBroker.config(broker))
        defer { connection.close() }
        do {
            _ = try await connection.request(MetadataRequest(topics: nil))
            Issue.record("expected unsupportedApi")
        } catch {
            #expect(error == .unsupportedApi(api: .metadata, brokerVersions: nil, clientVersions: MetadataRequest.supportedVersions))
        }
        #expect(broker.received.count == 1)
    }

    @Test func connectingToAClosedPortFailsWithConnectionFailed() async throws {
        let broker = try await FakeBroker { _, _ in [] }
        let address = broker.address
        await broker.stop()
        var config = ClientConfig(bootstrapServers: [address])
        config.connectTimeoutMs = 1_000
        do {
            _ = try await BrokerConnection.connect(to: address, config: config)
            Issue.record("expected a connection failure")
        } catch {
            guard case .connectionFailed(let host, let port, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(host == "127.0.0.1" && port == address.port)
            #expect(error.isRetriable)
        }
    }
}

@Suite struct FramingTests {
    @Test func framesSplitAcrossReadsComeOutWhole() throws {
        var stream = ByteBuffer()
        for payload in ["first", "second frame", "x"] {
            stream.writeInteger(Int32(4 + payload.utf8.count))
            stream.writeInteger(Int32(7))
            stream.writeString(payload)
        }
        let all = stream.readableBytesView.map { $0 }
        // Feed one byte at a time: frames appear only once complete.
        var buffer = ByteBuffer()
        var frames: [String] = []
        for byte in all {
            buffer.writeInteger(byte)
            while var frame = try ResponseFrameDecoder.nextFrame(&buffer, maxFrameSize: 1 << 20) {
                #expect(frame.readInteger(as: Int32.self) == 7)
                frames.append(frame.readString(length: frame.readableBytes)!)
            }
        }
        #expect(frames == ["first", "second frame", "x"])
        #expect(buffer.readableBytes == 0)
    }

    @Test func aSizeAboveTheLimitOrBelowACorrelationIdIsRejectedBeforeWaitingForIt() {
        for size in [Int32(1 << 20) + 1, Int32.max, 3, 0, -1] {
            var buffer = ByteBuffer()
            buffer.writeInteger(size)
            #expect(throws: ClientError.self) { _ = try ResponseFrameDecoder.nextFrame(&buffer, maxFrameSize: 1 << 20) }
        }
    }

    @Test func aPartialSizePrefixWaits() throws {
        var buffer = ByteBuffer(bytes: [0, 0, 0])
        #expect(try ResponseFrameDecoder.nextFrame(&buffer, maxFrameSize: 100) == nil)
        #expect(buffer.readableBytes == 3)
    }

    @Test func versionChoiceIsTheHighestBothSpeakOrAnError() throws {
        let table = ApiVersionTable(ranges: [.metadata: 1...9, .fetch: 13...17, .produce: 0...11])
        #expect(try table.version(for: MetadataRequest.self) == 9)
        #expect(try table.version(for: ProduceRequest.self) == ProduceRequest.supportedVersions.upperBound)
        #expect(throws: ClientError.self) { try table.version(for: FetchRequest.self) }
        #expect(!table.supports(FetchRequest.self))
        #expect(table.supports(MetadataRequest.self))
    }
}
