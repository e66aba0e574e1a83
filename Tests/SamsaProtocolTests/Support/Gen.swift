import NIOCore
@testable import SamsaProtocol

/// Seeded random values for round-trip tests (SplitMix64), so a failure names a seed that replays it.
struct Gen: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Small values and the edges, more often than uniform draws would give them.
    private mutating func edgy<T: FixedWidthInteger>(_: T.Type) -> T {
        switch Int.random(in: 0..<8, using: &self) {
        case 0: return 0
        case 1: return T.max
        case 2: return T.min
        case 3: return T(truncatingIfNeeded: -1)
        default: return T(truncatingIfNeeded: next())
        }
    }

    mutating func int8() -> Int8 { edgy(Int8.self) }
    mutating func int16() -> Int16 { edgy(Int16.self) }
    mutating func int32() -> Int32 { edgy(Int32.self) }
    mutating func int64() -> Int64 { edgy(Int64.self) }
    mutating func uint16() -> UInt16 { edgy(UInt16.self) }
    mutating func uint32() -> UInt32 { edgy(UInt32.self) }
    mutating func double() -> Double { Double(bitPattern: next() & 0x7FEF_FFFF_FFFF_FFFF) }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func uuid() -> Uuid { bool() ? .zero : Uuid(mostSignificantBits: next(), leastSignificantBits: next()) }

    /// 0-3 elements (nested arrays keep messages small).
    mutating func count() -> Int { Int(next() % 4) }

    mutating func array<T>(_ make: (inout Gen) -> T) -> [T] {
        (0..<count()).map { _ in make(&self) }
    }

    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789._-é✓".unicodeScalars)

    /// Short strings, sometimes empty, sometimes multi-byte UTF-8.
    mutating func string() -> String {
        let n = Int(next() % 12)
        var s = String.UnicodeScalarView()
        for _ in 0..<n { s.append(Gen.alphabet[Int(next() % UInt64(Gen.alphabet.count))]) }
        return String(s)
    }

    mutating func nullableString() -> String? { next() % 4 == 0 ? nil : string() }

    mutating func bytes() -> ByteBuffer {
        let n = Int(next() % 40)
        var b = ByteBuffer()
        for _ in 0..<n { b.writeInteger(UInt8(truncatingIfNeeded: next())) }
        return b
    }

    mutating func nullableBytes() -> ByteBuffer? { next() % 4 == 0 ? nil : bytes() }
}
