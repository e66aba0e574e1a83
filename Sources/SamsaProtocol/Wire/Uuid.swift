/// Kafka's 128-bit UUID (topic ids), as two big-endian 64-bit halves.
///
/// Printed the way Kafka prints it: URL-safe base64 without padding (`"AAAAAAAAAAAAAAAAAAAAAA"` for zero).
public struct Uuid: Sendable, Hashable, CustomStringConvertible {
    public var mostSignificantBits: UInt64
    public var leastSignificantBits: UInt64

    public static let zero = Uuid(mostSignificantBits: 0, leastSignificantBits: 0)

    public init(mostSignificantBits: UInt64, leastSignificantBits: UInt64) {
        self.mostSignificantBits = mostSignificantBits
        self.leastSignificantBits = leastSignificantBits
    }

    /// A random version-4 UUID.
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> Uuid {
        var hi = generator.next() as UInt64
        var lo = generator.next() as UInt64
        hi = (hi & ~0xF000) | 0x4000
        lo = (lo & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000
        return Uuid(mostSignificantBits: hi, leastSignificantBits: lo)
    }

    public static func random() -> Uuid {
        var g = SystemRandomNumberGenerator()
        return random(using: &g)
    }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: mostSignificantBits >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: leastSignificantBits >> (56 - 8 * UInt64($0))) }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public var description: String {
        let b = bytes
        var out: [UInt8] = []
        out.reserveCapacity(22)
        var i = 0
        while i < 16 {
            let n = min(3, 16 - i)
            var chunk: UInt32 = 0
            for j in 0..<3 { chunk = chunk << 8 | (j < n ? UInt32(b[i + j]) : 0) }
            for j in 0...n { out.append(Uuid.alphabet[Int((chunk >> (18 - 6 * UInt32(j))) & 63)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses Kafka's URL-safe base64 form (22 characters); nil if it is not one.
    public init?(base64 text: String) {
        let chars = Array(text.utf8)
        guard chars.count == 22 else { return nil }
        var bytes: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        for c in chars {
            guard let v = Uuid.alphabet.firstIndex(of: c) else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        guard bytes.count == 16 else { return nil }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for k in 0..<8 { hi = hi << 8 | UInt64(bytes[k]) }
        for k in 8..<16 { lo = lo << 8 | UInt64(bytes[k]) }
        self.init(mostSignificantBits: hi, leastSignificantBits: lo)
    }
}
