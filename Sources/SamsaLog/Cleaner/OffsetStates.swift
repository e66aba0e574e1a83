/// What the map pass learned about each offset of the dirty section, two bits per offset, so that the rewrite
/// pass can decide most records without hashing their keys again or probing the offset map, and can drop a
/// batch whose records are all superseded without reading them at all:
///
/// - **latest**: the offset was put in the map and is still its key's entry (`map.get(key)` is this offset:
///   the record stays, subject to the tombstone rules);
/// - **superseded**: the offset was put, and its key's entry is now a larger offset (`map.get(key)` is larger:
///   the record goes);
/// - **unknown**: never put (outside the covered range, a null key, an open or aborted transaction, the clean
///   section): the rewrite pass asks the map as before.
///
/// The map pass notes each put as it happens (offsets rise, so those writes stay in cache); `markLatest(in:)`
/// then walks the map's entries once and flags each entry's offset. Both answers are exactly what
/// `offset < map.get(digest)` says for a put offset: the map keeps the largest offset put under each digest, and
/// an offset is put under its own record's digest only. The states cover at most `maxOffsets` offsets from the
/// cleaning's first dirty offset (beyond that, every offset is unknown); the memory is allocated once per
/// cleaner and reused.
///
/// Not thread-safe: one cleaner owns one.
final class OffsetStates {
    enum State: UInt8 {
        case unknown = 0
        case superseded = 1
        case latest = 3
    }

    /// The most offsets covered (two bits each).
    let maxOffsets: Int
    private(set) var base: Int64 = 0
    private(set) var count = 0
    /// Bit pairs, 32 offsets per word: bit 2i is "put", bit 2i+1 is "latest" (a raw allocation: an array property
    /// of a class would pay an exclusivity check on every access).
    private var words: UnsafeMutablePointer<UInt64>?
    private var capacity = 0

    /// The "put" bit of every pair in a word.
    private static let putBits: UInt64 = 0x5555_5555_5555_5555

    init(maxOffsets: Int) {
        precondition(maxOffsets >= 0)
        self.maxOffsets = maxOffsets
    }

    deinit { words?.deallocate() }

    /// Bytes the states take at most.
    var memoryBytes: Int { (maxOffsets + 31) / 32 * 8 }

    /// Starts a cleaning: offsets [base, base + min(span, maxOffsets)) are covered, all unknown.
    func reset(base: Int64, span: Int64) {
        self.base = base
        count = Int(max(0, min(span, Int64(maxOffsets))))
        let needed = (count + 31) / 32
        if capacity < needed {
            words?.deallocate()
            words = UnsafeMutablePointer<UInt64>.allocate(capacity: needed)
            capacity = needed
        }
        words?.update(repeating: 0, count: needed)
    }

    /// The offset was put in the map.
    @inline(__always)
    func notePut(_ offset: Int64) {
        let i = offset &- base
        guard i >= 0, i < Int64(count), let words else { return }
        let bit = Int(i)
        words[bit >> 5] |= 1 << UInt64((bit & 31) << 1)
    }

    /// Ends the map pass: flags the offset each of `map`'s entries holds as its key's latest.
    func markLatest(in map: SkimpyOffsetMap) {
        guard let words else { return }
        let base = self.base
        let count = Int64(self.count)
        map.forEachOffset { offset in
            let i = offset &- base
            guard i >= 0, i < count else { return }
            let bit = Int(i)
            words[bit >> 5] |= 2 << UInt64((bit & 31) << 1)
        }
    }

    @inline(__always)
    func state(_ offset: Int64) -> State {
        let i = offset &- base
        guard i >= 0, i < Int64(count), let words else { return .unknown }
        let bit = Int(i)
        let pair = (words[bit >> 5] >> UInt64((bit & 31) << 1)) & 3
        return pair == 0 ? .unknown : (pair == 1 ? .superseded : .latest)
    }

    /// The first offset at or after `offset` that is not superseded (latest, unknown, or past the covered
    /// range): every offset of `offset..<result` is superseded. `offset` itself when it is outside the range.
    func firstNotSuperseded(from offset: Int64) -> Int64 {
        let from = offset &- base
        guard from >= 0, from < Int64(count), let words else { return offset }
        let wordCount = (count + 31) >> 5
        var w = Int(from) >> 5
        // Pairs that are exactly "put" become 00; any other pair leaves a bit. Pairs below `offset` are masked.
        var differs = (words[w] ^ Self.putBits) & ~((1 << UInt64((Int(from) & 31) << 1)) - 1)
        while true {
            if differs != 0 {
                let pair = Int64(w << 5 + differs.trailingZeroBitCount >> 1)
                return base + min(pair, Int64(count))
            }
            w += 1
            guard w < wordCount else { return base + Int64(count) }
            differs = words[w] ^ Self.putBits
        }
    }

    /// Whether every offset of `first...last` is superseded (a batch of them keeps no record).
    func allSuperseded(_ first: Int64, _ last: Int64) -> Bool {
        every(first, last, pairsUnder: .max, equal: Self.putBits)
    }

    /// Whether every offset of `first...last` was put (is latest or superseded: none needs the map).
    func allPut(_ first: Int64, _ last: Int64) -> Bool {
        every(first, last, pairsUnder: Self.putBits, equal: Self.putBits)
    }

    /// Whether each pair of `first...last`, masked by `mask`, equals `pattern`'s pair (false when the range
    /// reaches outside the covered offsets).
    private func every(_ first: Int64, _ last: Int64, pairsUnder mask: UInt64, equal pattern: UInt64) -> Bool {
        let from = first &- base
        let through = last &- base
        guard from >= 0, through >= from, through < Int64(count), let words else { return false }
        let lo = Int(from)
        let hi = Int(through)
        for w in (lo >> 5)...(hi >> 5) {
            // The bits of this word's pairs inside the range.
            let start = w == lo >> 5 ? (lo & 31) << 1 : 0
            let end = w == hi >> 5 ? ((hi & 31) << 1) + 2 : 64
            let inRange = (end == 64 ? UInt64.max : (1 << UInt64(end)) - 1) & ~((1 << UInt64(start)) - 1)
            guard words[w] & mask & inRange == pattern & inRange else { return false }
        }
        return true
    }
}
