import Testing
@testable import SamsaLog

@Suite struct VarintTests {
    static let int64Edges: [Int64] = [
        0, 1, -1, 63, -64, 64, -65, 127, 128, 8191, -8192, 8192, Int64(Int32.max), Int64(Int32.min),
        Int64(Int32.max) + 1, Int64(Int32.min) - 1, Int64.max, Int64.min,
    ]

    @Test(arguments: int64Edges)
    func int64RoundTripsWithPredictedSize(value: Int64) throws {
        var bytes: [UInt8] = []
        Varint.append(value, to: &bytes)
        #expect(bytes.count == Varint.size(of: value))
        var position = 0
        let decoded = try bytes.withUnsafeBytes { try Varint.readInt64($0, at: &position) }
        #expect(decoded == value)
        #expect(position == bytes.count)
    }

    @Test func knownEncodings() {
        // Zigzag: 0 -> 0, -1 -> 1, 1 -> 2, -64 -> 127, 64 -> 128 (two bytes).
        func encoded(_ v: Int64) -> [UInt8] { var b: [UInt8] = []; Varint.append(v, to: &b); return b }
        #expect(encoded(0) == [0x00])
        #expect(encoded(-1) == [0x01])
        #expect(encoded(1) == [0x02])
        #expect(encoded(-64) == [0x7F])
        #expect(encoded(64) == [0x80, 0x01])
        #expect(encoded(Int64(Int32.min)) == [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
    }

    @Test func int32RejectsSixthByte() {
        let bytes: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        var position = 0
        #expect(throws: VarintError.tooLong(position: 0, maxBytes: 5)) {
            try bytes.withUnsafeBytes { try Varint.readInt32($0, at: &position) }
        }
    }

    @Test func int32RejectsValuesAbove32Bits() {
        // Five bytes whose last carries bits above 2^32.
        let bytes: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
        var position = 0
        #expect(throws: VarintError.overflow(position: 0)) {
            try bytes.withUnsafeBytes { try Varint.readInt32($0, at: &position) }
        }
    }

    @Test func varintThatNeverEndsIsAnError() {
        let bytes = [UInt8](repeating: 0x80, count: 64)
        var position = 0
        #expect(throws: VarintError.tooLong(position: 0, maxBytes: 10)) {
            try bytes.withUnsafeBytes { try Varint.readInt64($0, at: &position) }
        }
    }

    @Test func truncatedVarintReportsWhereItStarted() {
        let bytes: [UInt8] = [0x00, 0x80, 0x80]
        var position = 1
        #expect(throws: VarintError.truncated(position: 1)) {
            try bytes.withUnsafeBytes { try Varint.readInt32($0, at: &position) }
        }
        #expect(position == 1)
    }

    @Test func randomValuesRoundTrip() throws {
        var rng = SplitMix64(seed: 0x5A_4D_5A)
        var bytes: [UInt8] = []
        var values: [Int64] = []
        for _ in 0..<10_000 {
            let shift = Int(rng.next() % 64)
            let v = Int64(bitPattern: rng.next()) >> shift
            values.append(v)
            Varint.append(v, to: &bytes)
        }
        var position = 0
        try bytes.withUnsafeBytes { buffer in
            for v in values {
                let decoded = try Varint.readInt64(buffer, at: &position)
                #expect(decoded == v)
            }
        }
        #expect(position == bytes.count)
    }
}
