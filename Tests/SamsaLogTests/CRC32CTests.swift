import Foundation
import Testing

@testable import SamsaLog

/// CRC32C: published vectors, chaining, agreement of every implementation this CPU can run with the
/// portable one (and of the portable one with a bit-by-bit reference), and real Kafka batches.
@Suite struct CRC32CTests {
    static let available = CRC32C.Implementation.allCases.filter(\.isAvailable)
    static let accelerated = available.filter { $0 != .portable }

    // MARK: Published vectors

    /// RFC 3720 (iSCSI) appendix B.4, plus the customary "123456789" check value.
    static let vectors: [(name: String, bytes: [UInt8], crc: UInt32)] = [
        ("123456789", Array("123456789".utf8), 0xE306_9283),
        ("32 zero bytes", [UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ("32 0xFF bytes", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ("0...31 ascending", (0...31).map { UInt8($0) }, 0x46DD_794E),
        ("31...0 descending", (0...31).reversed().map { UInt8($0) }, 0x113F_DB5C),
        (
            "iSCSI SCSI Read (10) command PDU",
            [
                0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
                0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            ],
            0xD996_3A56
        ),
    ]

    @Test func publishedVectorsMatchThroughEveryEntryPoint() {
        for vector in Self.vectors {
            #expect(CRC32C.checksum(vector.bytes) == vector.crc, "\(vector.name)")
            #expect(vector.bytes.withUnsafeBytes { CRC32C.checksum($0) } == vector.crc, "\(vector.name)")
            #expect(vector.bytes.withUnsafeBytes { CRC32C.update(0, $0) } == vector.crc, "\(vector.name)")
            #expect(bitwiseCRC32C(vector.bytes) == vector.crc, "reference: \(vector.name)")
            for implementation in Self.available {
                let crc = vector.bytes.withUnsafeBytes { CRC32C.update(0, $0, using: implementation) }
                #expect(crc == vector.crc, "\(implementation): \(vector.name)")
            }
        }
    }

    @Test func emptyInputIsZeroAndLeavesARunningCRCUnchanged() {
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(CRC32C.checksum(none) == 0)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        for implementation in CRC32C.Implementation.allCases {
            #expect(CRC32C.update(0, none, using: implementation) == 0, "\(implementation)")
            for crc: UInt32 in [1, 0xE306_9283, 0xFFFF_FFFF] {
                #expect(CRC32C.update(crc, none, using: implementation) == crc, "\(implementation) from \(crc)")
            }
        }
    }

    // MARK: Chaining

    @Test(arguments: CRC32CTests.available)
    func updateContinuesAChecksumAtEverySplitPoint(_ implementation: CRC32C.Implementation) {
        // Long enough that both halves cross every threshold: three streams (96), AVX-512 fold (256), 64-byte folds.
        var random = SplitMix64(seed: 0xC4C3_2C)
        let message = random.bytes(count: 1_500)
        let whole = message.withUnsafeBytes { CRC32C.update(0, $0, using: implementation) }
        #expect(whole == bitwiseCRC32C(message))
        let badSplits = message.withUnsafeBytes { bytes in
            (0...bytes.count).filter { split in
                let head = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[..<split]), using: implementation)
                return CRC32C.update(head, UnsafeRawBufferPointer(rebasing: bytes[split...]), using: implementation) != whole
            }
        }
        #expect(badSplits.isEmpty, "\(implementation): \(badSplits.count) bad splits, first \(badSplits.prefix(10))")
    }

    @Test func checksumOverManyPiecesEqualsChecksumOverTheWhole() {
        var random = SplitMix64(seed: 42)
        let message = random.bytes(count: 100_000)
        let whole = CRC32C.checksum(message)
        var crc: UInt32 = 0
        var start = 0
        var pieces = 0
        while start < message.count {
            let end = min(message.count, start + Int(random.next() % 3_000))
            crc = CRC32C.update(crc, message[start..<end])
            start = end
            pieces += 1
        }
        #expect(pieces > 30)
        #expect(crc == whole)
    }

    // MARK: Convenience entry points

    @Test func sequencesHashLikeTheirContiguousBytes() {
        var random = SplitMix64(seed: 7)
        let bytes = random.bytes(count: 1_000)
        let expected = bytes.withUnsafeBytes { CRC32C.checksum($0) }
        #expect(CRC32C.checksum(bytes) == expected)
        #expect(CRC32C.checksum(bytes[...]) == expected)
        #expect(CRC32C.checksum(Data(bytes)) == expected)
        // Not contiguous: goes through the 256-byte stack buffer, which fills and empties several times.
        #expect(CRC32C.checksum(bytes.lazy.map { $0 }) == expected)
        #expect(CRC32C.checksum(AnySequence(bytes)) == expected)
        #expect(CRC32C.update(CRC32C.checksum(bytes[..<300]), AnySequence(bytes[300...])) == expected)
        #expect(CRC32C.checksum("123456789".utf8) == 0xE306_9283)
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { copy.deallocate() }
        copy.copyBytes(from: bytes)
        #expect(CRC32C.checksum(copy) == expected)
    }

    @Test func selectedImplementationIsTheFastestThisCPUHas() throws {
        let fastest = try #require(Self.available.last)
        #expect(CRC32C.selected == fastest)
        #expect(CRC32C.implementation == fastest.name)
        #expect(CRC32C.Implementation.portable.isAvailable)
        #expect(Set(CRC32C.Implementation.allCases.map(\.name)) == ["portable", "sse4.2", "avx512"])
        #if arch(x86_64)
            // Every x86-64 CPU made since 2009 has SSE4.2 and PCLMULQDQ; losing them means dispatch broke.
            #expect(CRC32C.Implementation.sse42.isAvailable)
        #endif
    }

    // MARK: Implementations agree

    /// Every length up to 640 (single stream; three streams from 96; the 256-byte fold, one or two 64-byte
    /// folds and every tail), and ±100 around full three-stream chunks (3 x 4096) and powers of two.
    static let boundaryLengths: [Int] = {
        var lengths = Set(0...640)
        for center in [4_096, 12_288, 16_384, 24_576, 36_864, 65_536] {
            lengths.formUnion(center - 100...center + 100)
        }
        return lengths.sorted()
    }()

    @Test(arguments: CRC32CTests.accelerated)
    func acceleratedPathMatchesPortableAtEveryBlockBoundary(_ implementation: CRC32C.Implementation) {
        var random = SplitMix64(seed: 1)
        let buffer = random.bytes(count: 65_536 + 100 + 64)
        var mismatches: [String] = []
        buffer.withUnsafeBytes { buffer in
            for length in Self.boundaryLengths {
                for offset in [0, 1, 3, 8, 13, 63] {
                    let bytes = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])
                    let crc = UInt32(truncatingIfNeeded: length &* 0x9E37_79B9)
                    if CRC32C.update(crc, bytes, using: implementation) != CRC32C.update(crc, bytes, using: .portable) {
                        mismatches.append("length \(length) offset \(offset)")
                    }
                }
            }
        }
        #expect(Self.boundaryLengths.count > 1_800)
        #expect(mismatches.isEmpty, "\(implementation): \(mismatches.count) mismatches, first \(mismatches.prefix(10))")
    }

    @Test(arguments: CRC32CTests.accelerated)
    func acceleratedPathMatchesPortableOnRandomLengthsAndOffsets(_ implementation: CRC32C.Implementation) {
        let seed: UInt64 = 0x5A35_A000
        var random = SplitMix64(seed: seed)
        let buffer = random.bytes(count: 70_000 + 64)
        var mismatches: [String] = []
        buffer.withUnsafeBytes { buffer in
            for trial in 0..<2_000 {
                let length = Int(random.next() % 70_001)
                let offset = Int(random.next() % 64)
                let crc = trial.isMultiple(of: 2) ? 0 : UInt32(truncatingIfNeeded: random.next())
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])
                if CRC32C.update(crc, bytes, using: implementation) != CRC32C.update(crc, bytes, using: .portable) {
                    mismatches.append("trial \(trial) length \(length) offset \(offset)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(implementation), seed \(seed): \(mismatches.count) mismatches, first \(mismatches.prefix(10))")
    }

    @Test func portablePathMatchesABitwiseReference() {
        let seed: UInt64 = 99
        var random = SplitMix64(seed: seed)
        let buffer = random.bytes(count: 70_000 + 8)
        var mismatches: [String] = []
        buffer.withUnsafeBytes { buffer in
            for trial in 0..<300 {
                let length = trial < 280 ? Int(random.next() % 2_000) : Int(random.next() % 70_001)
                let offset = Int(random.next() % 8)
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])
                if CRC32C.update(0, bytes, using: .portable) != bitwiseCRC32C(bytes) {
                    mismatches.append("trial \(trial) length \(length) offset \(offset)")
                }
            }
        }
        #expect(mismatches.isEmpty, "seed \(seed): \(mismatches.count) mismatches, first \(mismatches.prefix(10))")
    }

    // MARK: Kafka record batches

    /// Every batch in the fixture logs (written by kafka-python, whose reader checked each CRC) carries the
    /// CRC32C of its bytes from the attributes (byte 21) on in its CRC field (big-endian, byte 17).
    @Test(arguments: ["none-multiseg", "gzip", "lz4", "snappy-xerial", "zstd", "mixed-codecs", "transactions"])
    func kafkaBatchesCarryTheCRC32COfTheirBytesAfterTheCRCField(_ set: String) throws {
        let batches = try FixtureBatch.load(set: set)
        #expect(!batches.isEmpty)
        for implementation in Self.available {
            let bad = batches.filter { $0.computedCRC(using: implementation) != $0.storedCRC }
            #expect(bad.isEmpty, "\(set) \(implementation): \(bad.count) of \(batches.count) batches differ, first \(bad.prefix(3))")
        }
    }

    @Test func corruptCRCFixtureFailsOnlyAtTheDamagedBatch() throws {
        let batches = try FixtureBatch.load(set: "corrupt-crc")
        let mismatched = batches.filter { $0.computedCRC(using: CRC32C.selected) != $0.storedCRC }
        // The manifest's expected recovery: truncate segment 3142 to 0 bytes, i.e. its first batch is bad.
        #expect(mismatched.map(\.segment) == ["00000000000000003142"])
        #expect(mismatched.map(\.position) == [0])
        #expect(batches.count == 150)
    }
}

// MARK: - Helpers

/// CRC32C one bit at a time, straight from the definition: the reference the table path is checked against.
func bitwiseCRC32C(_ bytes: some Sequence<UInt8>, crc: UInt32 = 0) -> UInt32 {
    var register = ~crc
    for byte in bytes {
        register ^= UInt32(byte)
        for _ in 0..<8 {
            register = (register >> 1) ^ (0x82F6_3B78 & (0 &- (register & 1)))
        }
    }
    return ~register
}

/// One record batch of a fixture log, located through the set's manifest (not by parsing the log).
struct FixtureBatch: CustomStringConvertible {
    let segment: String
    let position: Int
    let bytes: [UInt8]

    var storedCRC: UInt32 { bytes[17...20].reduce(0) { $0 << 8 | UInt32($1) } }

    func computedCRC(using implementation: CRC32C.Implementation) -> UInt32 {
        bytes.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...]), using: implementation) }
    }

    var description: String { "segment \(segment) position \(position) size \(bytes.count)" }

    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    private struct Manifest: Decodable {
        struct Batch: Decodable {
            let segment: String
            let position: Int
            let size: Int
        }
        let topic: String
        let partition: Int
        let batches: [Batch]
    }

    static func load(set: String) throws -> [FixtureBatch] {
        let directory = fixtures.appendingPathComponent(set)
        let manifest = try JSONDecoder().decode(
            Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
        let partition = directory.appendingPathComponent("\(manifest.topic)-\(manifest.partition)")
        var segments: [String: [UInt8]] = [:]
        return try manifest.batches.map { batch in
            if segments[batch.segment] == nil {
                segments[batch.segment] = try [UInt8](
                    Data(contentsOf: partition.appendingPathComponent("\(batch.segment).log")))
            }
            let log = segments[batch.segment]!
            try #require(batch.size >= 61 && batch.position + batch.size <= log.count, "\(set): \(batch)")
            return FixtureBatch(
                segment: batch.segment, position: batch.position,
                bytes: Array(log[batch.position..<batch.position + batch.size]))
        }
    }
}
