import CSamsaCRC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The cleaner's key -> latest offset map (Kafka's `SkimpyOffsetMap`): slots of a 16-byte key digest and an
/// offset, searched by open addressing with linear probing. It never holds a key, and never takes more than
/// `memory` bytes (`log.cleaner.dedupe.buffer.size` per cleaner thread).
///
/// Unlike Kafka's, whose table is the whole buffer from the start, this one starts small (at most 64 Ki slots,
/// 1.5 MiB) and grows when half full, by rehashing into a 4x larger table: a log with few keys probes a table
/// that fits the CPU's caches instead of random spots of 128 MiB. Old and new tables together stay within
/// `memory`, so the last growth takes what the old table leaves: the largest table (`maxSlots`) has at least
/// 80% of the slots the whole buffer would. The cleaner stops filling it at its load factor (and then cleans only up to
/// the last offset it mapped).
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
    static let initialSlots = 1 << 16

    /// The memory limit in bytes.
    let memory: Int
    /// The largest table the limit allows (every key budget is measured against it).
    let maxSlots: Int
    /// The current table's slots.
    private(set) var slots: Int
    private var words: UnsafeMutablePointer<UInt64>
    /// The secret the digests are keyed with (random per map: digests never leave the process).
    private let hashKey: (UInt64, UInt64)
    /// The secret's AES-128 round keys when digests are AES-based (see `digest(_:)`), nil for SipHash.
    private let aesKey: UnsafeMutablePointer<samsa_digest_key>?
    /// Whether this processor computes the AES-based digest (AES-NI).
    static let aesAvailable = samsa_digest_available() != 0
    /// Entries in use.
    private(set) var size = 0
    /// Every offset up to this one was considered when the map was built (Kafka's `latestOffset`): records at or
    /// below it that are not their key's latest may go; records above it stay.
    var latestOffset: Int64 = -1
    /// The largest table this map has used (for statistics: the memory the cleaner really took).
    private(set) var peakSlots: Int
    private var growAt: Int

    /// A map of at most `memory` bytes (at least one slot).
    init(memory: Int, hashKey: (UInt64, UInt64)? = nil, aes: Bool = SkimpyOffsetMap.aesAvailable) {
        precondition(memory >= Self.bytesPerEntry, "an offset map needs at least \(Self.bytesPerEntry) bytes")
        self.memory = memory
        let limit = memory / Self.bytesPerEntry
        let first = max(1, min(Self.initialSlots, limit / 20))
        maxSlots = Self.growthSteps(from: first, limit: limit).last!
        slots = first
        peakSlots = first
        words = Self.allocate(slots: first)
        growAt = Self.growthThreshold(slots: first, maxSlots: maxSlots)
        let secret = hashKey ?? (UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))
        self.hashKey = secret
        if aes && Self.aesAvailable {
            let key = UnsafeMutablePointer<samsa_digest_key>.allocate(capacity: 1)
            withUnsafeBytes(of: (secret.0.littleEndian, secret.1.littleEndian)) {
                samsa_digest_key_init(key, $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            aesKey = key
        } else {
            aesKey = nil
        }
    }

    deinit {
        Self.release(words, slots: slots)
        aesKey?.deallocate()
    }

    /// The table sizes a map passes through: x4 while the table is at most 5% of the limit (old and new
    /// together then take at most a quarter of it), then one last step to what the old table leaves of the
    /// limit, which is at least 80% of it.
    static func growthSteps(from first: Int, limit: Int) -> [Int] {
        var steps = [first]
        var current = first
        while true {
            let next = current * 20 <= limit ? 4 * current : limit - current
            guard next > current else { break }
            steps.append(next)
            current = next
        }
        return steps
    }

    private static func growthThreshold(slots: Int, maxSlots: Int) -> Int {
        slots < maxSlots ? slots / 2 : slots
    }

    private static func allocate(slots: Int) -> UnsafeMutablePointer<UInt64> {
        let bytes = slots * bytesPerEntry
        // An anonymous mapping: zero pages, taken from the system as they are first written.
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            preconditionFailure("cannot map a \(bytes)-byte offset map: errno \(errno)")
        }
        #if os(Linux)
        // Every probe lands on a random slot: with 4 KiB pages a table of tens of MiB misses the TLB on nearly
        // every one. Transparent huge pages (where the system offers them) cover it with a few dozen entries.
        if bytes >= 2 << 20 { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        #endif
        return raw.bindMemory(to: UInt64.self, capacity: slots * wordsPerEntry)
    }

    private static func release(_ words: UnsafeMutablePointer<UInt64>, slots: Int) {
        munmap(UnsafeMutableRawPointer(words), slots * bytesPerEntry)
    }

    /// The bytes of the current table.
    var memoryBytes: Int { slots * Self.bytesPerEntry }
    /// The fraction of the largest table in use (Kafka's buffer utilization).
    var utilization: Double { Double(size) / Double(maxSlots) }

    /// The digest of a record key under this map's secret: AES-128 CBC-MAC over a prefix-free encoding of the
    /// key (`samsa_digest`, one AES call for keys under 16 bytes) where the processor has AES-NI, SipHash-1-3
    /// otherwise. Both are pseudorandom functions of the key under a secret chosen per map, so nobody can aim
    /// two keys at one digest. The AES one is the cheaper on the map pass's hot loop: mapping 1 GiB of 100-byte
    /// records with 10-byte keys took 0.41 s instead of SipHash's 0.49.
    @inline(__always)
    func digest(_ key: UnsafeRawBufferPointer) -> KeyDigest {
        guard let aesKey else { return SipHash128.hash(key, key: hashKey) }
        var out: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &out) {
            samsa_digest(aesKey, key.baseAddress, key.count, $0.baseAddress!.assumingMemoryBound(to: UInt64.self))
        }
        return KeyDigest(low: UInt64(littleEndian: out.0), high: UInt64(littleEndian: out.1))
    }

    /// The digests of `count` keys of `section`, key i at `spans[2i]` with `spans[2i + 1]` bytes (each inside the
    /// section), written to `digests` as (low, high) word pairs: what `digest(_:)` gives for each, computed four
    /// at a time where the digest is AES-based.
    func digests(
        _ section: UnsafeRawBufferPointer, spans: UnsafePointer<Int64>, count: Int, into digests: UnsafeMutablePointer<UInt64>
    ) {
        guard let base = section.baseAddress else { return }
        if let aesKey {
            samsa_digest_spans(aesKey, base.assumingMemoryBound(to: UInt8.self), spans, count, digests)
            #if _endian(big)
            for i in 0..<(2 * count) { digests[i] = UInt64(littleEndian: digests[i]) }
            #endif
            return
        }
        for i in 0..<count {
            let digest = self.digest(UnsafeRawBufferPointer(start: base + Int(spans[2 * i]), count: Int(spans[2 * i + 1])))
            digests[2 * i] = digest.low
            digests[2 * i + 1] = digest.high
        }
    }

    /// Empties the map for the next cleaning (keeping the table it grew to).
    func clear() {
        if size > 0 { memset(words, 0, slots * Self.bytesPerEntry) }
        size = 0
        latestOffset = -1
    }

    @inline(__always)
    private static func firstSlot(_ digest: KeyDigest, _ slots: Int) -> Int {
        // Lemire's multiply-shift: a slot in 0..<slots from the digest's high bits, for any slot count.
        Int(truncatingIfNeeded: digest.high.multipliedFullWidth(by: UInt64(slots)).high)
    }

    /// Records `offset` as the latest for the key; an offset below the one already held is ignored (committed
    /// transactions are added when their marker is read, after later records of the same key).
    @inline(__always)
    func put(_ digest: KeyDigest, offset: Int64) {
        precondition(offset >= 0, "offset map entries are offsets")
        if size >= growAt { grow() }
        precondition(size < slots, "offset map is full")
        if Self.insert(digest, UInt64(offset) + 1, into: words, slots: slots) == 0 { size += 1 }
    }

    /// Inserts or raises an entry; returns what the slot held before (0 for a new slot).
    @inline(__always)
    private static func insert(_ digest: KeyDigest, _ stored: UInt64, into words: UnsafeMutablePointer<UInt64>, slots: Int) -> UInt64 {
        var slot = firstSlot(digest, slots)
        while true {
            let entry = words + slot * wordsPerEntry
            let held = entry[2]
            if held == 0 {
                entry[0] = digest.low
                entry[1] = digest.high
                entry[2] = stored
                return 0
            }
            if entry[0] == digest.low && entry[1] == digest.high {
                if stored > held { entry[2] = stored }
                return held
            }
            slot += 1
            if slot == slots { slot = 0 }
        }
    }

    /// Rehashes into the next, larger table (the old one is released once the entries moved).
    private func grow() {
        let steps = Self.growthSteps(from: slots, limit: memory / Self.bytesPerEntry)
        guard steps.count > 1 else {
            growAt = slots
            return
        }
        let next = steps[1]
        let fresh = Self.allocate(slots: next)
        for slot in 0..<slots {
            let entry = words + slot * Self.wordsPerEntry
            if entry[2] != 0 {
                _ = Self.insert(KeyDigest(low: entry[0], high: entry[1]), entry[2], into: fresh, slots: next)
            }
        }
        Self.release(words, slots: slots)
        words = fresh
        slots = next
        peakSlots = max(peakSlots, next)
        growAt = Self.growthThreshold(slots: next, maxSlots: maxSlots)
    }

    /// Loads the key's first slot and returns a word of it: called for a run of keys before their `get`s or
    /// `put`s, it lets those cache misses overlap instead of paying for them one after another (a prefetch
    /// without the intrinsic). The caller folds the results into a value it keeps, so the loads stay.
    @inline(__always)
    func touch(_ digest: KeyDigest) -> UInt64 {
        // An entry (24 bytes) straddles two cache lines one time in four: its first and last words are loaded.
        let entry = words + Self.firstSlot(digest, slots) * Self.wordsPerEntry
        return entry[0] &+ entry[2]
    }

    /// Where `touch(_:)` folds what it loads.
    private(set) var touched: UInt64 = 0

    /// Touches the first slots of `digests`, in a loop short enough for many loads to be in flight at once.
    func touch<Digests: Collection<KeyDigest>>(_ digests: Digests) {
        var sink: UInt64 = 0
        for digest in digests { sink &+= touch(digest) }
        touched &+= sink
    }

    /// The latest offset recorded for the key, or -1.
    @inline(__always)
    func get(_ digest: KeyDigest) -> Int64 {
        var slot = Self.firstSlot(digest, slots)
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

    /// Calls `body` with the offset of every entry (in slot order).
    func forEachOffset(_ body: (Int64) -> Void) {
        guard size > 0 else { return }
        for slot in 0..<slots {
            let stored = words[slot * Self.wordsPerEntry + 2]
            if stored != 0 { body(Int64(stored) - 1) }
        }
    }

    /// Moves `latestOffset` forward (never back).
    @inline(__always)
    func updateLatestOffset(_ offset: Int64) {
        latestOffset = max(latestOffset, offset)
    }
}
