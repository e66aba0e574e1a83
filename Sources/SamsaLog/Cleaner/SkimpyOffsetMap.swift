#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The cleaner's key -> latest offset map (Kafka's `SkimpyOffsetMap`): a fixed block of memory holding, per
/// slot, a 16-byte key digest and an offset, searched by open addressing with linear probing. It never holds a
/// key and never grows: `memory` bytes make `memory / 24` slots, and the cleaner stops filling it at its load
/// factor (then it cleans only up to the last offset it mapped).
///
/// ```swift
/// let map = SkimpyOffsetMap(memory: 1 << 20)
/// let digest = map.digest(keyBytes)
/// map.put(digest, offset: 42)
/// map.get(digest)                  // 42; -1 for a key never put
/// ```
///
/// Not thread-safe: one cleaner thread owns one map.
final class SkimpyOffsetMap {
    /// Digest (two words) and offset + 1 (0 marks an empty slot).
    static let bytesPerEntry = 24
    private static let wordsPerEntry = 3

    let slots: Int
    private let words: UnsafeMutablePointer<UInt64>
    /// The secret the digests are keyed with (random per map: digests never leave the process).
    private let hashKey: (UInt64, UInt64)
    /// Entries in use.
    private(set) var size = 0
    /// Every offset up to this one was considered when the map was built (Kafka's `latestOffset`): records at or
    /// below it that are not their key's latest may go; records above it stay.
    var latestOffset: Int64 = -1
    /// Slots probed beyond the first, for statistics.
    private(set) var collisions = 0
    private var touched = false

    /// A map in `memory` bytes (at least one slot). Pages are taken from the system as they are first written.
    init(memory: Int, hashKey: (UInt64, UInt64)? = nil) {
        precondition(memory >= Self.bytesPerEntry, "an offset map needs at least \(Self.bytesPerEntry) bytes")
        slots = memory / Self.bytesPerEntry
        // calloc: zeroed pages are mapped lazily, so a large map that is barely used costs little.
        guard let raw = calloc(slots * Self.wordsPerEntry, MemoryLayout<UInt64>.size) else {
            preconditionFailure("cannot allocate the \(memory)-byte offset map")
        }
        words = raw.bindMemory(to: UInt64.self, capacity: slots * Self.wordsPerEntry)
        self.hashKey = hashKey ?? (UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))
    }

    deinit { free(words) }

    /// The bytes of memory the map occupies.
    var memoryBytes: Int { slots * Self.bytesPerEntry }
    /// The fraction of slots in use.
    var utilization: Double { Double(size) / Double(slots) }

    /// The digest of a record key under this map's secret.
    @inline(__always)
    func digest(_ key: UnsafeRawBufferPointer) -> KeyDigest {
        SipHash128.hash(key, key: hashKey)
    }

    /// Empties the map for the next cleaning.
    func clear() {
        if touched { memset(words, 0, slots * Self.bytesPerEntry) }
        touched = false
        size = 0
        collisions = 0
        latestOffset = -1
    }

    @inline(__always)
    private func firstSlot(_ digest: KeyDigest) -> Int {
        // Lemire's multiply-shift: a slot in 0..<slots from the digest's high bits, for any slot count.
        Int(truncatingIfNeeded: digest.high.multipliedFullWidth(by: UInt64(slots)).high)
    }

    /// Records `offset` as the latest for the key; an offset below the one already held is ignored (committed
    /// transactions are added when their marker is read, after later records of the same key).
    @inline(__always)
    func put(_ digest: KeyDigest, offset: Int64) {
        precondition(offset >= 0, "offset map entries are offsets")
        precondition(size < slots, "offset map is full")
        touched = true
        var slot = firstSlot(digest)
        while true {
            let entry = words + slot * Self.wordsPerEntry
            let stored = entry[2]
            if stored == 0 {
                entry[0] = digest.low
                entry[1] = digest.high
                entry[2] = UInt64(offset) + 1
                size += 1
                return
            }
            if entry[0] == digest.low && entry[1] == digest.high {
                if UInt64(offset) + 1 > stored { entry[2] = UInt64(offset) + 1 }
                return
            }
            collisions += 1
            slot += 1
            if slot == slots { slot = 0 }
        }
    }

    /// The latest offset recorded for the key, or -1.
    @inline(__always)
    func get(_ digest: KeyDigest) -> Int64 {
        var slot = firstSlot(digest)
        var probes = 0
        while probes < slots {
            let entry = words + slot * Self.wordsPerEntry
            let stored = entry[2]
            if stored == 0 { return -1 }
            if entry[0] == digest.low && entry[1] == digest.high { return Int64(stored) - 1 }
            slot += 1
            if slot == slots { slot = 0 }
            probes += 1
        }
        return -1
    }

    /// Moves `latestOffset` forward (never back).
    @inline(__always)
    func updateLatestOffset(_ offset: Int64) {
        latestOffset = max(latestOffset, offset)
    }
}
