import Foundation
import Testing
@testable import SamsaLog

/// The fast paths of appends, reads and index memory prove themselves against the slow paths they replace: the
/// record skim accepts exactly what the full parse accepts, a read finds the batch a header scan finds, and
/// unloaded indexes answer as loaded ones did.
@Suite struct FastPathTests {
    /// The validator's full parse (every record parsed, offset deltas 0..<count, keys present when required):
    /// what the producer path falls back to when the skim refuses.
    static func fullParseAccepts(_ batch: RecordBatch, keysRequired: Bool) -> Bool {
        var scratch: [UInt8] = []
        do {
            try LogValidator.checkRecords(batch, index: 0, keysRequired: keysRequired, scratch: &scratch)
            return true
        } catch {
            return false
        }
    }

    /// The full parse's and the skim's verdicts on `bytes` (a batch, its CRC unchecked), without and with keys
    /// required.
    static func verdicts(_ bytes: [UInt8]) -> [(keysRequired: Bool, full: Bool, skim: Bool)] {
        bytes.withUnsafeBytes { buffer in
            let batch = RecordBatch(unchecked: buffer)
            return [false, true].map { keysRequired in
                (keysRequired, fullParseAccepts(batch, keysRequired: keysRequired),
                 RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: keysRequired))
            }
        }
    }

    static func batchWithHeadersAndNulls() -> [UInt8] {
        var builder = RecordBatchBuilder()
        builder.append(timestamp: 1_700_000_000_000, key: Array("key-0".utf8), value: Array("value".utf8))
        builder.append(timestamp: 1_700_000_000_300, key: nil, value: nil)
        builder.append(
            timestamp: 1_699_999_999_000, key: [], value: [UInt8](repeating: 0xAB, count: 200),
            headers: [RecordHeader(key: "h1", value: [1, 2, 3]), RecordHeader(key: "h2", value: nil)])
        builder.append(timestamp: 1_700_000_000_001, key: Array("key-3".utf8), value: [])
        return try! builder.build()
    }

    @Test func skimAcceptsWellFormedBatchesLikeTheFullParse() throws {
        for bytes in [Self.batchWithHeadersAndNulls(), makeBatch(count: 150, valueSize: 100), Bench.makeBatch(recordSize: 100, batchBytes: 16 << 10).bytes] {
            try bytes.withUnsafeBytes { buffer in
                let batch = try RecordBatch(validating: buffer)
                for keysRequired in [false, true] {
                    let expected = Self.fullParseAccepts(batch, keysRequired: keysRequired)
                    #expect(RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: keysRequired) == expected)
                }
                #expect(RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: false))
            }
        }
    }

    /// Every single-byte change to the records section (each byte set to several values) and every change of the
    /// declared count: the skim's verdict equals the full parse's.
    @Test func skimAgreesWithTheFullParseOnEveryByteCorruption() throws {
        let original = Self.batchWithHeadersAndNulls()
        var disagreements: [String] = []
        var refused = 0
        for position in RecordBatch.headerSize..<original.count {
            for value: UInt8 in [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, original[position] ^ 0x01, original[position] &+ 2] {
                var bytes = original
                bytes[position] = value
                for (keysRequired, full, skim) in Self.verdicts(bytes) {
                    if !full { refused += 1 }
                    if full != skim { disagreements.append("byte \(position) = \(value), keys \(keysRequired): full \(full), skim \(skim)") }
                }
            }
        }
        for count: Int32 in [0, 1, 3, 5, 100] {
            var bytes = original
            bytes.storeBigEndian(count, at: RecordBatch.Field.recordCount)
            try bytes.withUnsafeBytes { buffer in
                let batch = RecordBatch(unchecked: buffer)
                let full = Self.fullParseAccepts(batch, keysRequired: false)
                let skim = RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: false)
                if full != skim { disagreements.append("count \(count): full \(full), skim \(skim)") }
            }
        }
        #expect(refused > 100, "the corruptions must exercise the refusals")
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    /// Batches of records framed alike (small records, keys, timestamp deltas of one and two bytes, offset deltas
    /// growing from one byte to two): every single-byte change gets the full parse's verdict from the skim.
    @Test func skimAgreesWithTheFullParseOnEveryByteCorruptionOfLikeRecords() throws {
        func batch(count: Int, key: [UInt8]?, valueSize: Int, timestampStep: Int64) throws -> [UInt8] {
            var builder = RecordBatchBuilder()
            for i in 0..<count {
                builder.append(
                    timestamp: 1_700_000_000_000 + Int64(i) * timestampStep, key: key,
                    value: [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: valueSize))
            }
            return try builder.build()
        }
        let batches = [
            try batch(count: 70, key: nil, valueSize: 3, timestampStep: 0),
            try batch(count: 68, key: Array("k1".utf8), valueSize: 9, timestampStep: 1),
            try batch(count: 12, key: [UInt8](repeating: 0x6B, count: 10), valueSize: 70, timestampStep: 100),
        ]
        var disagreements: [String] = []
        var refused = 0
        for (n, original) in batches.enumerated() {
            try original.withUnsafeBytes { buffer in
                let batch = try RecordBatch(validating: buffer)
                #expect(RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: n > 0))
                #expect(RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: true) == (n > 0))
            }
            for position in RecordBatch.headerSize..<original.count {
                for value: UInt8 in [0x00, 0x01, 0x80, 0xFF, original[position] ^ 0x01, original[position] ^ 0x80, original[position] &+ 2] {
                    guard value != original[position] else { continue }
                    var bytes = original
                    bytes[position] = value
                    for (keysRequired, full, skim) in Self.verdicts(bytes) {
                        if !full { refused += 1 }
                        if full != skim { disagreements.append("batch \(n) byte \(position) = \(value), keys \(keysRequired): full \(full), skim \(skim)") }
                    }
                }
            }
        }
        #expect(refused > 1000, "the corruptions must exercise the refusals")
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    /// Seeded random batches (like records, varied value sizes, keys now and then, varying timestamp deltas, a
    /// header now and then), each changed in one to three random places (bytes, continuation bits, the declared
    /// count, a cut end): the skim's verdict equals the full parse's every time.
    @Test func skimAgreesWithTheFullParseOnRandomlyDamagedBatches() throws {
        var state: UInt64 = 0x5EED
        func random(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        var disagreements: [String] = []
        var checked = 0
        var refused = 0
        for round in 0..<300 {
            let count = [1, 2, 3, 5, 10, 70, 140][random(7)]
            let kind = random(5)
            let valueSize = random(120)
            var builder = RecordBatchBuilder()
            for i in 0..<count {
                let size = kind == 1 ? random(120) : (kind == 2 && i % 17 == 5 ? valueSize + 1 : valueSize)
                let key: [UInt8]? = kind == 3 ? [UInt8](repeating: 0x6B, count: 1 + random(20)) : (kind == 2 && i % 13 == 0 ? [1, 2] : nil)
                let timestamp: Int64 = 1_700_000_000_000 + (kind == 4 ? Int64(random(100_000)) : Int64(i) * 3)
                let headers = kind == 4 && i % 11 == 3 ? [RecordHeader(key: "h", value: [7])] : []
                builder.append(timestamp: timestamp, key: key, value: [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size), headers: headers)
            }
            let original = try builder.build()
            for damage in 0..<6 {
                var bytes = original
                if damage > 0 {
                    for _ in 0..<(1 + random(3)) {
                        let position = RecordBatch.headerSize + random(bytes.count - RecordBatch.headerSize)
                        switch random(5) {
                        case 0: bytes[position] = UInt8(random(256))
                        case 1: bytes[position] ^= 0x80
                        case 2: bytes[position] = [0x00, 0x01, 0x7F, 0x80, 0xFF][random(5)]
                        case 3: bytes.storeBigEndian(Int32(max(1, count + random(5) - 2)), at: RecordBatch.Field.recordCount)
                        default: bytes[position] &+= 2
                        }
                    }
                }
                if damage == 5 {
                    // A cut end: the batch's length says so, the records section is shorter.
                    bytes.removeLast(random(4) + 1)
                    bytes.storeBigEndian(Int32(bytes.count - RecordBatch.logOverhead), at: RecordBatch.Field.batchLength)
                }
                for (keysRequired, full, skim) in Self.verdicts(bytes) {
                    checked += 1
                    if !full { refused += 1 }
                    if full != skim { disagreements.append("round \(round) damage \(damage) keys \(keysRequired): full \(full), skim \(skim)") }
                }
            }
        }
        #expect(refused > checked / 4 && refused < checked * 3 / 4, "\(refused) of \(checked) refused")
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    @Test func appendOfARefusedBatchStillReportsTheFullParsesError() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        var builder = RecordBatchBuilder()
        builder.append(offsetDelta: 0, timestamp: 1, key: nil, value: [1])
        builder.append(offsetDelta: 2, timestamp: 2, key: nil, value: [2])
        var bytes = try builder.build()
        // The header says 2 records ending at delta 1; the second record says delta 2.
        bytes.storeBigEndian(Int32(1), at: RecordBatch.Field.lastOffsetDelta)
        bytes.withUnsafeMutableBytes { b in
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[RecordBatch.Field.attributes...]))
            UnsafeMutableRawBufferPointer(b).storeBigEndian(crc, at: RecordBatch.Field.crc)
        }
        #expect {
            try bytes.withUnsafeBytes { try log.append($0) }
        } throws: { error in
            guard case LogError.invalidRecord(batch: 0, let reason) = error else { return false }
            return reason.contains("record 1 has offset delta 2")
        }
        #expect(log.logEndOffset == 0 && log.size == 0)
    }

    /// Batches of mixed sizes (some far below the index interval, some above it), with a gap left by a raw append:
    /// every offset reads from the batch a scan of the whole segment finds.
    @Test func readsStartAtTheBatchAHeaderScanFinds() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 32 << 10
        config.indexIntervalBytes = 1024
        let log = try Log.open(directory: dir.sub("t-0"), config: config)
        var next: Int64 = 0
        for round in 0..<60 {
            let count = [1, 3, 40, 2, 120][round % 5]
            let valueSize = [10, 300, 30, 2000, 90][round % 5]
            if round == 30 {
                // A gap: the next batch's base offset jumps ahead (as after compaction or a follower's raw append).
                var raw = makeBatch(count: 5, first: 0, valueSize: 50)
                raw.storeBigEndian(next + 100, at: RecordBatch.Field.baseOffset)
                _ = try raw.withUnsafeBytes { try log.append($0, origin: .raw) }
                next += 105
                continue
            }
            _ = try makeBatch(count: count, first: Int(next), valueSize: valueSize).withUnsafeBytes { try log.append($0) }
            next += Int64(count)
        }
        #expect(log.segmentCount > 2)
        for offset in 0..<log.logEndOffset {
            let slice = try log.read(from: offset, maxBytes: 1).slice
            let expected = try Self.scanForBatch(log, holding: offset)
            #expect(slice?.position == expected?.position, "offset \(offset)")
            if let slice, let expected {
                #expect(slice.length == expected.size, "minOneBatch returns the whole first batch at offset \(offset)")
                #expect(slice.file === expected.file)
            }
        }
    }

    /// The first batch at or after `offset` found by scanning whole segments from their start.
    static func scanForBatch(_ log: Log, holding offset: Int64) throws -> (file: any LogFile, position: Int64, size: Int)? {
        let segments = log.state.withLock { $0.segments.map { ($0.log, $0.size, $0.baseOffset) } }
        let first = segments.lastIndex { $0.2 <= offset } ?? 0
        for (file, size, _) in segments[first...] {
            var scanner = BatchHeaderScanner(file: file, from: 0, end: size)
            while let (header, position) = try scanner.next() {
                if header.lastOffset >= offset { return (file, position, header.sizeInBytes) }
            }
        }
        return nil
    }

    @Test func inactiveIndexesStayWithinTheirBudgetAndAnswerAsBefore() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 64 << 10
        config.indexIntervalBytes = 1
        let log = try Log.open(directory: dir.sub("t-0"), config: config)
        // Small batches and an index entry per batch: many entries per segment.
        for i in 0..<6000 {
            _ = try makeBatch(count: 1, first: i, timestamp: 1_700_000_000_000 + Int64(i) * 10, valueSize: 200).withUnsafeBytes { try log.append($0) }
        }
        #expect(log.segmentCount > 20)
        func loadedInactiveBytes() -> Int {
            log.state.withLock { state in state.segments.dropLast().reduce(0) { $0 + $1.indexMemoryBytes } }
        }
        // A 1 MiB budget holds all of these small segments' entries.
        #expect(log.state.withLock { $0.segments.dropLast().allSatisfy(\.indexesLoaded) })
        let perSegment = log.state.withLock { $0.segments[1].indexMemoryBytes }
        #expect(perSegment > 0 && loadedInactiveBytes() > perSegment * 15)
        // A budget of a few segments' entries: the next roll drops the least recently used, and reading every
        // segment must load and drop them in turn.
        let budget = perSegment * 3
        log.state.withLock { $0.inactiveIndexBudget = budget }
        try log.roll()
        _ = try makeBatch(count: 1, first: 6000, timestamp: 1_700_000_060_000, valueSize: 200).withUnsafeBytes { try log.append($0) }
        #expect(loadedInactiveBytes() <= budget + perSegment)
        // Reads over every segment, twice, and timestamp lookups: memory stays bounded, answers stay right.
        for pass in 0..<2 {
            for offset in stride(from: Int64(pass), to: log.logEndOffset, by: 7) {
                let slice = try #require(try log.read(from: offset, maxBytes: 1).slice)
                let expected = try #require(try Self.scanForBatch(log, holding: offset))
                #expect(slice.position == expected.position && slice.file === expected.file, "offset \(offset)")
                #expect(loadedInactiveBytes() <= budget + perSegment)
            }
        }
        for i in stride(from: 0, to: 6001, by: 97) {
            let found = try #require(try log.offset(forTimestamp: 1_700_000_000_000 + Int64(i) * 10 - 5))
            #expect(found.offset == Int64(i) && found.timestamp == 1_700_000_000_000 + Int64(i) * 10)
        }
        #expect(loadedInactiveBytes() <= budget + perSegment)
        let loadedSegments = log.state.withLock { $0.segments.dropLast().filter(\.indexesLoaded).count }
        #expect(loadedSegments <= 4 && loadedSegments >= 1)
        // Unloaded indexes were written whole: a reopened log finds the same entries.
        let before = log.state.withLock { state in state.segments.map { ($0.baseOffset, $0.timestampsKnown, $0.largestTimestamp) } }
        let end = log.logEndOffset
        try log.close()
        let reopened = try Log.open(directory: dir.sub("t-0"), config: config, recoveryPoint: end, cleanShutdown: true)
        #expect(reopened.openReport.segmentsRecovered == 0 && reopened.openReport.indexesRebuilt.isEmpty)
        for (i, (base, _, largest)) in before.enumerated() {
            let (segment, next) = reopened.state.withLock { ($0.segments[i], $0.nextOffset(ofSegment: i)) }
            try segment.loadIndexes(nextOffset: next)
            #expect(segment.baseOffset == base && segment.largestTimestamp == largest)
            if i < before.count - 1 { #expect(segment.offsetIndex.storage.count > 0, "segment \(base)") }
        }
        try reopened.close()
    }
}

/// The map pass's per-offset states answer exactly as the offset map does for every offset they know.
@Suite struct OffsetStatesTests {
    @Test func statesAgreeWithTheOffsetMapForEveryPutOffsetAndRange() {
        let map = SkimpyOffsetMap(memory: 1 << 20, hashKey: (1, 2))
        let states = OffsetStates(maxOffsets: 5000)
        let base: Int64 = 1000
        states.reset(base: base, span: 6000)  // more than it covers: offsets past 5999 stay unknown
        var rng: UInt64 = 42
        var putOffsets: [(offset: Int64, key: UInt32)] = []
        // Offsets in order, with a few put late and out of order (as a committed transaction's are).
        var late: [(Int64, UInt32)] = []
        for offset in base..<(base + 6000) {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let key = UInt32(truncatingIfNeeded: rng >> 33) % 300
            if rng >> 60 == 0 {
                late.append((offset, key))
                continue
            }
            putOffsets.append((offset, key))
            if late.count > 3 {
                putOffsets.append(contentsOf: late.map { (offset: $0.0, key: $0.1) })
                late.removeAll()
            }
        }
        func digest(_ key: UInt32) -> KeyDigest {
            withUnsafeBytes(of: key.bigEndian) { map.digest($0) }
        }
        for (offset, key) in putOffsets {
            map.put(digest(key), offset: offset)
            states.notePut(offset)
        }
        states.markLatest(in: map)
        var known = 0
        for (offset, key) in putOffsets {
            let latest = map.get(digest(key))
            switch states.state(offset) {
            case .latest:
                known += 1
                #expect(latest == offset, "offset \(offset)")
            case .superseded:
                known += 1
                #expect(offset < latest, "offset \(offset)")
            case .unknown:
                #expect(offset >= base + 5000, "offset \(offset) is covered")
            }
        }
        #expect(known == putOffsets.filter { $0.offset < base + 5000 }.count)
        #expect(states.state(base - 1) == .unknown && states.state(base + 5500) == .unknown)
        // A range is all superseded exactly when each of its offsets is, whatever words it spans; a range
        // reaching outside the covered offsets never is.
        var ranges = 0
        for first in stride(from: base - 40, to: base + 5040, by: 7) {
            for length in [1, 2, 31, 32, 33, 64, 65, 160] {
                let last = first + Int64(length) - 1
                let each = (first...last).allSatisfy { states.state($0) == .superseded }
                #expect(states.allSuperseded(first, last) == each, "\(first)...\(last)")
                if each { ranges += 1 }
            }
        }
        #expect(ranges > 100, "the keys repeat often enough for superseded runs")
        // Likewise "every offset put", and the first offset from each that is not superseded.
        for first in stride(from: base - 40, to: base + 5040, by: 11) {
            for length in [1, 32, 33, 100] {
                let last = first + Int64(length) - 1
                let each = (first...last).allSatisfy { states.state($0) != .unknown }
                #expect(states.allPut(first, last) == each, "\(first)...\(last)")
            }
            let expected = first < base || first >= base + 5000
                ? first : ((first..<(base + 5000)).first { states.state($0) != .superseded } ?? base + 5000)
            #expect(states.firstNotSuperseded(from: first) == expected, "from \(first)")
        }
        // Offsets never put (a null key, an open transaction) are unknown, not superseded.
        let gapped = OffsetStates(maxOffsets: 64)
        gapped.reset(base: 0, span: 64)
        for offset in Int64(0)..<64 where offset != 40 { gapped.notePut(offset) }
        gapped.markLatest(in: SkimpyOffsetMap(memory: 1 << 16))
        #expect(gapped.allSuperseded(0, 39) && gapped.allSuperseded(41, 63))
        #expect(!gapped.allSuperseded(0, 63) && !gapped.allSuperseded(40, 40))
        // Reused for the next cleaning: everything unknown again.
        states.reset(base: 0, span: 100)
        #expect((0..<100).allSatisfy { states.state(Int64($0)) == .unknown })
    }
}
