/// What the map pass learned about each offset of the dirty section, two bits per offset, so that the rewrite
/// pass can decide most records without hashing their keys again or probing the offset map:
///
/// - **latest**: the offset was put in the map and no later put of its key superseded it (`map.get(key)` is
///   this offset: the record stays, subject to the tombstone rules);
/// - **superseded**: the offset was put, and a put of the same key with a larger offset followed, or it lost
///   to a larger one already held (`map.get(key)` is larger: the record goes);
/// - **unknown**: never put (outside the covered range, a null key, an open or aborted transaction, the clean
///   section): the rewrite pass asks the map as before.
///
/// Both answers are exactly what `offset < map.get(digest)` says for those offsets, since the map only ever
/// raises an entry. The states cover at most `maxOffsets` offsets from the cleaning's first dirty offset (beyond
/// that, every offset is unknown); the memory is allocated once per cleaner and reused.
///
/// Not thread-safe: one cleaner owns one.
final class OffsetStates {
    enum State: UInt8 {
        case unknown = 0
        case latest = 1
        case superseded = 3
    }

    /// The most offsets covered (two bits each).
    let maxOffsets: Int
    private(set) var base: Int64 = 0
    private(set) var count = 0
    /// Bit pairs, 32 offsets per word: bit 2i is "put", bit 2i+1 is "superseded" (a raw allocation: an array
    /// property of a class would pay an exclusivity check on every access).
    private var words: UnsafeMutablePointer<UInt64>?
    private var capacity = 0

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

    /// A larger offset of the same key was put (or was already held).
    @inline(__always)
    func noteSuperseded(_ offset: Int64) {
        let i = offset &- base
        guard i >= 0, i < Int64(count), let words else { return }
        let bit = Int(i)
        words[bit >> 5] |= 3 << UInt64((bit & 31) << 1)
    }

    @inline(__always)
    func state(_ offset: Int64) -> State {
        let i = offset &- base
        guard i >= 0, i < Int64(count), let words else { return .unknown }
        let bit = Int(i)
        let pair = (words[bit >> 5] >> UInt64((bit & 31) << 1)) & 3
        return pair == 0 ? .unknown : (pair == 1 ? .latest : .superseded)
    }
}
