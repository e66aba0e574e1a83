/// SipHash (Aumasson and Bernstein) with its 128-bit output: the keyed digest the cleaner's offset map stores
/// instead of record keys on processors without AES-NI (with it, the map uses `samsa_digest`, an AES CBC-MAC).
///
/// Kafka's `SkimpyOffsetMap` stores an unkeyed MD5 of each key, so anyone who can produce to a compacted topic
/// can craft two keys with one digest and make the cleaner drop the other key's latest record. A digest keyed
/// with a secret chosen at random per process cannot be aimed at: to collide, an attacker would have to guess
/// the secret. SipHash-1-3 (one compression round, three finalization rounds) is what Swift's `Hasher` uses;
/// the round counts are parameters so the reference vectors (SipHash-2-4) can check this code.
///
/// ```swift
/// let digest = SipHash128.hash(keyBytes, key: (0x0706050403020100, 0x0f0e0d0c0b0a0908))
/// ```
enum SipHash128 {
    /// The 128-bit tag of `message`, as the two little-endian words the reference implementation writes
    /// (`low` is output bytes 0..<8, `high` bytes 8..<16).
    @inline(__always)
    static func hash(
        _ message: UnsafeRawBufferPointer, key: (UInt64, UInt64), compressionRounds: Int = 1,
        finalizationRounds: Int = 3
    ) -> KeyDigest {
        var v0: UInt64 = key.0 ^ 0x736f_6d65_7073_6575
        var v1: UInt64 = key.1 ^ 0x646f_7261_6e64_6f6d ^ 0xee
        var v2: UInt64 = key.0 ^ 0x6c79_6765_6e65_7261
        var v3: UInt64 = key.1 ^ 0x7465_6462_7974_6573

        @inline(__always) func round() {
            v0 &+= v1; v1 = v1.rotatedLeft(13); v1 ^= v0; v0 = v0.rotatedLeft(32)
            v2 &+= v3; v3 = v3.rotatedLeft(16); v3 ^= v2
            v0 &+= v3; v3 = v3.rotatedLeft(21); v3 ^= v0
            v2 &+= v1; v1 = v1.rotatedLeft(17); v1 ^= v2; v2 = v2.rotatedLeft(32)
        }

        let whole = message.count & ~7
        var position = 0
        while position < whole {
            let m = UInt64(littleEndian: message.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            v3 ^= m
            for _ in 0..<compressionRounds { round() }
            v0 ^= m
            position += 8
        }
        let last = lastWord(message)
        v3 ^= last
        for _ in 0..<compressionRounds { round() }
        v0 ^= last
        v2 ^= 0xee
        for _ in 0..<finalizationRounds { round() }
        let low = v0 ^ v1 ^ v2 ^ v3
        v1 ^= 0xdd
        for _ in 0..<finalizationRounds { round() }
        let high = v0 ^ v1 ^ v2 ^ v3
        return KeyDigest(low: low, high: high)
    }

    /// The final block: the bytes after the last whole word, little-endian, with the length in the top byte.
    /// A message of 8 bytes or more has them read with one load of its last 8 bytes (shifted down past the ones
    /// already hashed) instead of one by one.
    @inline(__always)
    static func lastWord(_ message: UnsafeRawBufferPointer) -> UInt64 {
        let count = message.count
        let rest = count & 7
        var word: UInt64 = 0
        if count >= 8 {
            if rest > 0 {
                let tail = UInt64(littleEndian: message.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
                word = tail >> UInt64((8 - rest) * 8)
            }
        } else {
            for i in 0..<count { word |= UInt64(message[i]) << UInt64(i * 8) }
        }
        return word | UInt64(truncatingIfNeeded: count) << 56
    }
}

/// A record key's 16-byte digest: what the offset map holds in place of the key.
struct KeyDigest: Equatable, Hashable {
    var low: UInt64
    var high: UInt64

    /// The 16 bytes as the reference implementation writes them (little-endian words, low first).
    var bytes: [UInt8] {
        withUnsafeBytes(of: (low.littleEndian, high.littleEndian)) { Array($0) }
    }
}

extension UInt64 {
    @inline(__always)
    func rotatedLeft(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}
