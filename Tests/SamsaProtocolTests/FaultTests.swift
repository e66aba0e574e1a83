import NIOCore
import Testing
@testable import SamsaProtocol

/// Hostile and broken input: every failure is a typed `ProtocolError`, found before anything is allocated
/// for what a length claims.
@Suite struct FaultTests {
    @Test(arguments: allMessageCases)
    func truncatedAtEveryByteIsATypedError(_ message: MessageCase) throws {
        for version in message.versions {
            for seed in [UInt64(1), 2] {
                let bytes = try message.encodeArbitrary(version, seed &+ UInt64(version) &* 1000)
                for cut in 0..<bytes.readableBytes {
                    let prefix = bytes.getSlice(at: bytes.readerIndex, length: cut)!
                    do {
                        try message.decode(prefix, version)
                        Issue.record("\(message) v\(version) seed \(seed): \(cut)/\(bytes.readableBytes) bytes decoded")
                    } catch let error as ProtocolError {
                        switch error.reason {
                        case .truncated, .lengthExceedsRemaining, .arrayExceedsRemaining: break
                        default: Issue.record("\(message) v\(version) cut \(cut): unexpected \(error)")
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: allMessageCases)
    func randomlyCorruptedBytesNeverCrash(_ message: MessageCase) throws {
        var g = Gen(seed: 0xC0FFEE)
        for version in message.versions {
            let clean = try message.encodeArbitrary(version, UInt64(version) &+ 77)
            guard clean.readableBytes > 0 else { continue }
            for _ in 0..<60 {
                var bytes = clean
                for _ in 0..<(1 + Int(g.next() % 4)) {
                    let at = bytes.readerIndex + Int(g.next() % UInt64(bytes.readableBytes))
                    bytes.setInteger(UInt8(truncatingIfNeeded: g.next()), at: at)
                }
                do { try message.decode(bytes, version) } catch is ProtocolError {}
            }
        }
    }

    @Test func hugeClaimedArrayInASmallFrameIsRefusedBeforeAllocating() {
        // ProduceRequest v3: null transactional id, acks, timeout, then a topic count of 2^31-1 and 90 bytes.
        let body = ByteBuffer(hex: "ffff" + "ffff" + "00000064" + "7fffffff" + String(repeating: "00", count: 90))
        #expect(throws: ProtocolError(
            .arrayExceedsRemaining(count: Int(Int32.max), minElementSize: 6, remaining: 90),
            field: "ProduceRequest.TopicData")) {
            _ = try ProduceRequest.decode(body, version: 3)
        }
        // Flexible: a compact count of 2^32-2.
        let flexible = ByteBuffer(hex: "00" + "ffff" + "00000064" + "ffffffff0f" + String(repeating: "00", count: 90))
        #expect(throws: ProtocolError(
            .arrayExceedsRemaining(count: Int(UInt32.max) - 1, minElementSize: 3, remaining: 90),
            field: "ProduceRequest.TopicData")) {
            _ = try ProduceRequest.decode(flexible, version: 9)
        }
    }

    @Test func primitiveArrayCountIsBoundedByItsElementWidth() {
        // Metadata v0 response: no brokers, one topic with one partition whose replica list claims 5 int32s in 16 bytes.
        let body = ByteBuffer(hex: "00000000" + "00000001" + "0000" + "0001" + "74" + "00000001"
            + "0000" + "00000000" + "00000001" + "00000005" + String(repeating: "00", count: 16))
        #expect(throws: ProtocolError(
            .arrayExceedsRemaining(count: 5, minElementSize: 4, remaining: 16),
            field: "MetadataResponse.Topics.Partitions.ReplicaNodes")) {
            _ = try MetadataResponse.decode(body, version: 0)
        }
    }

    @Test func lyingStringAndRecordsLengthsAreRefused() {
        // SaslHandshake: mechanism claims 30000 bytes, 5 follow.
        #expect(throws: ProtocolError(.lengthExceedsRemaining(claimed: 30000, remaining: 5), field: "SaslHandshakeRequest.Mechanism")) {
            _ = try SaslHandshakeRequest.decode(ByteBuffer(hex: "7530" + "504c41494e"), version: 1)
        }
        // Produce v3: records claim 2^31-1 bytes.
        let produce = ByteBuffer(hex: "ffff" + "0001" + "00000064" + "00000001" + "000174" + "00000001" + "00000000"
            + "7fffffff" + "0102030405")
        #expect(throws: ProtocolError(.lengthExceedsRemaining(claimed: Int(Int32.max), remaining: 5),
                                      field: "ProduceRequest.TopicData.PartitionData.Records")) {
            _ = try ProduceRequest.decode(produce, version: 3)
        }
    }

    @Test func negativeLengthsOtherThanNullAreInvalid() {
        #expect(throws: ProtocolError(.invalidLength(-2), field: "SaslHandshakeRequest.Mechanism")) {
            _ = try SaslHandshakeRequest.decode(ByteBuffer(hex: "fffe"), version: 0)
        }
        #expect(throws: ProtocolError(.invalidLength(-5), field: "SaslHandshakeResponse.Mechanisms")) {
            _ = try SaslHandshakeResponse.decode(ByteBuffer(hex: "0000" + "fffffffb"), version: 0)
        }
        #expect(throws: ProtocolError(.unexpectedNull, field: "SaslHandshakeResponse.Mechanisms")) {
            _ = try SaslHandshakeResponse.decode(ByteBuffer(hex: "0000" + "ffffffff"), version: 0)
        }
    }

    @Test func varintLengthThatNeverEndsIsRefused() {
        // DescribeCluster v0 (flexible): a bool, then the tagged-field count as an endless varint.
        #expect(throws: ProtocolError(.varintTooLong(maxBytes: 5), field: "DescribeClusterRequest._tagged")) {
            _ = try DescribeClusterRequest.decode(ByteBuffer(hex: "01" + String(repeating: "ff", count: 20)), version: 0)
        }
    }

    @Test func errorsNameTheirFieldInTheirDescription() {
        let error = ProtocolError(.arrayExceedsRemaining(count: 9, minElementSize: 4, remaining: 8), field: "X.Y")
        #expect(error.description == "X.Y: array of 9 elements (>= 4 bytes each) in 8 bytes")
    }
}
