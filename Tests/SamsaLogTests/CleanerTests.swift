import Foundation
import Synchronization
import Testing
import CSamsaCRC
@testable import SamsaLog

/// The log cleaner: digests and the offset map, what a cleaning keeps, tombstones and their horizon, codecs,
/// transactions and producer state, the map's bound, lags, the active segment, concurrent reads, threads,
/// checkpoints, throttling and statistics.
@Suite struct CleanerTests {
    // MARK: Digests and the offset map

    @Test func sipHash128MatchesTheReferenceVectors() {
        // veorq/SipHash vectors.h, vectors_sip128: SipHash-2-4, key 00..0f, message 00..(len-1).
        let vectors: [Int: [UInt8]] = [
            0: [0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93],
            1: [0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45],
            7: [0xa1, 0xf1, 0xeb, 0xbe, 0xd8, 0xdb, 0xc1, 0x53, 0xc0, 0xb8, 0x4a, 0xa6, 0x1f, 0xf0, 0x82, 0x39],
            8: [0x3b, 0x62, 0xa9, 0xba, 0x62, 0x58, 0xf5, 0x61, 0x0f, 0x83, 0xe2, 0x64, 0xf3, 0x14, 0x97, 0xb4],
            15: [0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11, 0x7e, 0x08, 0xec, 0x0f, 0x97, 0xcf, 0xc3, 0xd9],
            16: [0x6e, 0xe2, 0xa4, 0xca, 0x67, 0xb0, 0x54, 0xbb, 0xfd, 0x33, 0x15, 0xbf, 0x85, 0x23, 0x05, 0x77],
            63: [0x51, 0x50, 0xd1, 0x77, 0x2f, 0x50, 0x83, 0x4a, 0x50, 0x3e, 0x06, 0x9a, 0x97, 0x3f, 0xbd, 0x7c],
        ]
        let key = (UInt64(0x0706_0504_0302_0100), UInt64(0x0f0e_0d0c_0b0a_0908))
        for (length, expected) in vectors {
            let message = (0..<length).map { UInt8($0) }
            let digest = message.withUnsafeBytes {
                SipHash128.hash($0, key: key, compressionRounds: 2, finalizationRounds: 4)
            }
            #expect(digest.bytes == expected, "length \(length)")
        }
    }

    @Test func sipHashFinalBlockHoldsTheTrailingBytesAndTheLength() {
        let message = (0..<40).map { UInt8(truncatingIfNeeded: 0xA0 + $0 * 7) }
        for length in 0...40 {
            var expected = UInt64(length) << 56
            for (i, byte) in message[(length & ~7)..<length].enumerated() { expected |= UInt64(byte) << UInt64(8 * i) }
            let word = message.withUnsafeBytes { SipHash128.lastWord(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
            #expect(word == expected, "length \(length)")
        }
    }

    @Test(.enabled(if: SkimpyOffsetMap.aesAvailable, "the CPU has no AES-NI"))
    func aesDigestCipherMatchesFIPS197() {
        // FIPS-197 appendix C.1: AES-128, key 00..0f, plaintext 00112233..ff.
        var key = samsa_digest_key()
        let secret = (0..<16).map { UInt8($0) }
        let plaintext = (0..<16).map { UInt8($0 * 0x11) }
        var out = [UInt8](repeating: 0, count: 16)
        secret.withUnsafeBufferPointer { samsa_digest_key_init(&key, $0.baseAddress!) }
        samsa_digest_encrypt_block(&key, plaintext, &out)
        #expect(out == [0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a])
    }

    @Test(.enabled(if: SkimpyOffsetMap.aesAvailable, "the CPU has no AES-NI"))
    func aesDigestIsTheCBCMACOfItsPrefixFreeEncoding() {
        // The digest recomputed from the cipher alone, for every length to 3 blocks and a few prefixes and
        // zero-padded look-alikes, which must all differ.
        var key = samsa_digest_key()
        let secret = (0..<16).map { UInt8(0xF0 - $0) }
        secret.withUnsafeBufferPointer { samsa_digest_key_init(&key, $0.baseAddress!) }
        func encrypt(_ block: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 16)
            samsa_digest_encrypt_block(&key, block, &out)
            return out
        }
        func expected(_ message: [UInt8]) -> [UInt8] {
            if message.count < 16 {
                var block = message + [UInt8](repeating: 0, count: 16 - message.count)
                block[15] = UInt8(message.count)
                return encrypt(block)
            }
            var first = withUnsafeBytes(of: UInt64(message.count).littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 8)
            first[15] = 0xFF
            var state = encrypt(first)
            for start in stride(from: 0, to: message.count, by: 16) {
                let chunk = Array(message[start..<min(start + 16, message.count)])
                let block = chunk + [UInt8](repeating: 0, count: 16 - chunk.count)
                state = encrypt(zip(state, block).map { $0 ^ $1 })
            }
            return state
        }
        let bytes = (0..<48).map { UInt8(truncatingIfNeeded: $0 * 73 + 5) }
        var seen = Set<[UInt8]>()
        for length in 0...48 {
            for message in [Array(bytes[0..<length]), [UInt8](repeating: 0, count: length)] {
                var out: (UInt64, UInt64) = (0, 0)
                message.withUnsafeBytes { m in
                    withUnsafeMutableBytes(of: &out) { samsa_digest(&key, m.baseAddress, m.count, $0.baseAddress!.assumingMemoryBound(to: UInt64.self)) }
                }
                let digest = withUnsafeBytes(of: &out) { Array($0) }
                #expect(digest == expected(message), "length \(length)")
                seen.insert(digest)
            }
        }
        #expect(seen.count == 2 * 49 - 1, "only the two empty messages coincide")
    }

    @Test func bothDigestsKeepTheLatestOffsetPerKey() {
        // 97 keys of 6 to 45 bytes (under and over one AES block), each put about 30 times.
        func key(_ k: Int64) -> [UInt8] { Array("key-\(k)-\(String(repeating: "x", count: Int(k % 40)))".utf8) }
        for aes in [false, true] where !aes || SkimpyOffsetMap.aesAvailable {
            let map = SkimpyOffsetMap(memory: 1 << 20, hashKey: (5, 6), aes: aes)
            for offset in Int64(0)..<3_000 {
                key(offset % 97).withUnsafeBytes { map.put(map.digest($0), offset: offset) }
            }
            #expect(map.size == 97, "aes \(aes)")
            for k in Int64(0)..<97 {
                let last = (Int64(0)..<3_000).last { $0 % 97 == k }!
                #expect(key(k).withUnsafeBytes { map.get(map.digest($0)) } == last, "aes \(aes), key \(k)")
            }
        }
    }

    @Test func digestsOfManyKeysAreEachKeysDigest() {
        // The map pass digests a batch's keys together (four short keys per AES group). Lengths 0 to 40 in a
        // mixed order put long keys inside some groups of four and not others, and leave a tail of 1 to 3.
        let section = (0..<2_000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        var rng = SplitMix64(seed: 21)
        for aes in [false, true] where !aes || SkimpyOffsetMap.aesAvailable {
            let map = SkimpyOffsetMap(memory: 1 << 16, hashKey: (11, 12), aes: aes)
            for count in [1, 3, 4, 5, 8, 41, 160] {
                var spans: [Int64] = []
                for i in 0..<count {
                    let length = i < 41 ? (i * 17) % 41 : Int(rng.next() % 14)
                    spans += [Int64(rng.next() % UInt64(section.count - length)), Int64(length)]
                }
                var words = [UInt64](repeating: 0, count: 2 * count)
                section.withUnsafeBytes { bytes in
                    map.digests(bytes, spans: spans, count: count, into: &words)
                    for i in 0..<count {
                        let key = UnsafeRawBufferPointer(rebasing: bytes[Int(spans[2 * i])..<Int(spans[2 * i] + spans[2 * i + 1])])
                        let one = map.digest(key)
                        #expect(KeyDigest(low: words[2 * i], high: words[2 * i + 1]) == one, "aes \(aes), key \(i) of \(count)")
                    }
                }
            }
        }
    }

    @Test func digestsDependOnTheMapsSecret() {
        let a = SkimpyOffsetMap(memory: 240, hashKey: (1, 2))
        let b = SkimpyOffsetMap(memory: 240, hashKey: (3, 4))
        let key = Array("same-key".utf8)
        let (da, db) = key.withUnsafeBytes { (a.digest($0), b.digest($0)) }
        #expect(da != db)
        #expect(key.withUnsafeBytes { a.digest($0) } == da)
    }

    @Test func offsetMapHoldsTheLatestOffsetPerKeyThroughCollisions() {
        // 50 slots' worth of memory: the table starts at 2 slots, grows to 8 then to 42 (what 8 leaves of 50);
        // keys collide on their first slot, and probing must find each one.
        let map = SkimpyOffsetMap(memory: 50 * SkimpyOffsetMap.bytesPerEntry)
        #expect(map.slots == 2 && map.maxSlots == 42)
        var expected: [String: Int64] = [:]
        var rng = SplitMix64(seed: 9)
        for offset in Int64(0)..<400 {
            let key = "k\(rng.next() % 38)"
            Array(key.utf8).withUnsafeBytes { map.put(map.digest($0), offset: offset) }
            expected[key] = offset
        }
        #expect(map.size == expected.count)
        #expect(map.slots == 42 && map.peakSlots == 42)
        for (key, offset) in expected {
            #expect(Array(key.utf8).withUnsafeBytes { map.get(map.digest($0)) } == offset, "\(key)")
        }
        #expect(Array("absent".utf8).withUnsafeBytes { map.get(map.digest($0)) } == -1)
        // An older offset never replaces a newer one (committed transactions arrive late).
        Array("k1".utf8).withUnsafeBytes { map.put(map.digest($0), offset: 3) }
        #expect(Array("k1".utf8).withUnsafeBytes { map.get(map.digest($0)) } == expected["k1"])
        map.clear()
        #expect(map.size == 0)
        #expect(Array("k1".utf8).withUnsafeBytes { map.get(map.digest($0)) } == -1)
    }

    @Test func offsetMapGrowthStaysWithinItsMemoryAndReachesFourFifthsOfIt() {
        for limit in [100, 1_000, 43_690, 65_536, 1_000_000, 5_592_405, 89_478_485] {
            let first = max(1, min(SkimpyOffsetMap.initialSlots, limit / 20))
            let steps = SkimpyOffsetMap.growthSteps(from: first, limit: limit)
            for (old, new) in zip(steps, steps.dropFirst()) {
                #expect(old + new <= limit, "limit \(limit): \(steps)")
                #expect(new > old)
            }
            #expect(Double(steps.last!) >= 0.8 * Double(limit), "limit \(limit): \(steps)")
        }
    }

    // MARK: What a cleaning keeps

    @Test func cleaningKeepsEachKeysLatestRecordAtItsOriginalOffset() throws {
        let c = try CompactedLog()
        for round in 0..<30 {
            try c.append((0..<10).map { (key: "k\(($0 + round) % 13)", value: "v\(round)-\($0)") })
        }
        try c.log.roll()
        let before = try c.records()
        let stats = try c.clean()
        let after = try c.records()
        let latest = latestByKey(before)
        #expect(after.count == latest.count)
        #expect(after.map(\.offset) == latest.values.map(\.offset).sorted())
        for record in after { #expect(latest[record.key!]?.value == record.value) }
        #expect(stats.endOffset == c.log.logEndOffset)
        #expect(stats.messagesRead == 300 && stats.messagesWritten == 13)
        #expect(stats.dirtyRatioBefore == 1 && stats.dirtyRatioAfter == 0)
        #expect(c.log.logEndOffset == 300)
        // A second cleaning changes nothing.
        try c.clean()
        #expect(try c.records().map(\.offset) == after.map(\.offset))
        // The log reopens the same.
        try c.reopen()
        #expect(try c.records().map(\.offset) == after.map(\.offset))
        #expect(c.log.logEndOffset == 300)
    }

    @Test func offsetsWrittenAgainAfterATruncationBelowTheCleanPointAreCleaned() throws {
        let c = try CompactedLog()
        for round in 0..<30 { try c.append((0..<10).map { (key: "k\($0)", value: "v\(round)") }) }
        try c.log.roll()
        #expect(try c.clean().endOffset == 300)
        // A follower-style cut below the clean point (to the start of the last batch, 290)...
        #expect(try c.log.truncate(to: 295) == 290)
        // ...then ten versions of one key over offsets the cleaner had counted as clean, and other keys after.
        try c.append((0..<10).map { (key: "d", value: "d\($0)") })
        try c.append((0..<10).map { (key: "e\($0)", value: "e") })
        try c.log.roll()
        let stats = try c.clean()
        #expect(stats.firstDirtyOffset == 290)
        #expect(try c.records().filter { $0.key == "d" }.map(\.value) == ["d9"])
    }

    @Test func theActiveSegmentIsNeverCleaned() throws {
        let c = try CompactedLog()
        for round in 0..<20 { try c.append((0..<5).map { (key: "k\($0)", value: "old-\(round)") }) }
        try c.log.roll()
        for round in 0..<3 { try c.append((0..<5).map { (key: "k\($0)", value: "new-\(round)") }) }
        let activeBase = try #require(c.log.segmentBaseOffsets.last)
        let activeBefore = try c.records().filter { $0.offset >= activeBase }
        try c.clean()
        let after = try c.records()
        // Below the active segment one record per key is left: the latest the cleaner may see (it never reads
        // the active segment, so the newer values there do not count)...
        #expect(after.filter { $0.offset < activeBase }.map(\.value) == Array(repeating: "old-19", count: 5))
        // ...and every record of the active segment is still there.
        #expect(after.filter { $0.offset >= activeBase }.map(\.offset) == activeBefore.map(\.offset))
    }

    @Test func tombstonesSurviveDeleteRetentionMsAfterTheirCleaningThenDisappear() throws {
        let c = try CompactedLog { $0.deleteRetentionMs = 10_000 }
        try c.append([("a", "1"), ("b", "1"), ("c", "1")])
        try c.append([("a", nil), ("b", "2")])
        try c.log.roll()
        let first = try c.clean()
        var after = try c.records()
        #expect(after.map(\.key) == ["c", "a", "b"])
        #expect(after.first { $0.key == "a" }?.value == nil)
        // The batch holding the tombstone now carries a delete horizon (attribute bit 6) of now + 10 s.
        let horizonBatch = try #require(try c.log.allBatchHeaders().first { $0.hasDeleteHorizon })
        #expect(horizonBatch.baseTimestamp == c.clock.now.withLock { $0 } + 10_000)
        #expect(first.tombstonesRemoved == 0)
        // Before the horizon: still there, and the manager sees nothing to do.
        c.clock.advance(9_999)
        #expect(try c.manager.cleanFilthiestLog() == nil)
        #expect(try c.records().count == 3)
        // At the horizon: the manager picks the log up by itself (no dirty bytes needed) and the tombstone goes.
        c.clock.advance(1)
        let second = try #require(try c.manager.cleanFilthiestLog())
        #expect(second.tombstonesRemoved == 1)
        after = try c.records()
        #expect(after.map(\.key) == ["c", "b"])
        #expect(after.map(\.value) == ["1", "2"])
    }

    @Test func recordsWithoutAKeyAreRejectedOnAppendAndDroppedByCleaning() throws {
        let c = try CompactedLog()
        #expect(throws: LogError.self) { try c.append([("k", "v"), (nil, "no key")]) }
        // Records written before the topic became compacted (raw appends skip the topic's rules).
        var builder = RecordBatchBuilder()
        builder.append(timestamp: 1, key: nil, value: Array("keyless".utf8))
        builder.append(timestamp: 2, key: Array("k".utf8), value: Array("v".utf8))
        let batch = try builder.build()
        _ = try batch.withUnsafeBytes { try c.log.append($0, origin: .raw) }
        try c.log.roll()
        let stats = try c.clean()
        #expect(stats.invalidMessagesRead == 1)
        #expect(try c.records().map(\.key) == ["k"])
    }

    @Test(arguments: CompressionCodec.allCases)
    func rewrittenBatchesKeepTheirCodecOffsetsAndTimestamps(codec: CompressionCodec) throws {
        let c = try CompactedLog()
        var written: [Int64: Int64] = [:]  // offset -> timestamp
        for round in 0..<12 {
            let result = try c.append((0..<8).map { (key: "k\(($0 * 3 + round) % 11)", value: "value-\(round)-\($0)") }, codec: codec)
            for (i, offset) in (result.firstOffset...result.lastOffset).enumerated() {
                written[offset] = c.clock.now.withLock { $0 } + Int64(i)
            }
            c.clock.advance(100)
        }
        try c.log.roll()
        let before = try c.log.allBatchHeaders()
        try c.clean()
        let after = try c.log.allBatchHeaders()
        #expect(after.count < before.count || after.map(\.batchLength) != before.map(\.batchLength))
        let originals = Dictionary(uniqueKeysWithValues: before.map { ($0.baseOffset, $0) })
        for header in after where header.recordCount > 0 {
            let original = try #require(originals[header.baseOffset])
            #expect(header.compression == codec)
            #expect(header.lastOffset == original.lastOffset)
        }
        for bytes in try c.log.allBatches() {
            try bytes.withUnsafeBytes { buffer in
                var scratch: [UInt8] = []
                let batch = try RecordBatch(validating: buffer)
                #expect(try batch.validateRecords(scratch: &scratch) == Int(batch.recordCount))
            }
        }
        for record in try c.log.readAllRecords() { #expect(record.timestamp == written[record.offset]) }
    }

    @Test func aGroupKeepsItsLastBatchEvenWhenEmptiedSoItsOffsetsStayCovered() throws {
        let c = try CompactedLog()
        try c.append([("a", "1"), ("b", "1")])
        try c.log.roll()
        try c.append([("a", "2"), ("b", "2")])  // every record of the first segment is superseded
        try c.log.roll()
        try c.append([("z", "active")])
        let firstBase = c.log.segmentBaseOffsets[0]
        try c.clean()
        let headers = try c.log.allBatchHeaders()
        // One group: the first segment's records are gone, the second's batch is the group's last.
        #expect(headers.map(\.baseOffset) == [2, 4])
        #expect(c.log.segmentBaseOffsets == [firstBase, 4])
        #expect(try c.records().map(\.value) == ["2", "2", "active"])
    }

    @Test func runsOfSupersededRecordsAreLeftUnreadWithTheSameResult() throws {
        // 10 keys, 12,000 records in batches of 40: all but the last few hundred offsets are superseded. A
        // producer's only batch sits in the superseded run; it must stay as an empty header. Reads of 8 KiB, so
        // that the run after that batch is skipped too.
        let c = try CompactedLog { $0.segmentBytes = 256 << 10 } cleaner: { $0.ioBufferSize = 16 << 10 }
        try Self.appendTenKeysInBatchesOf40(c, producerBatch: 100)
        let before = try c.records()
        let producerBatch = try #require(try c.log.allBatchHeaders().first { $0.producerId == 7 })
        let size = c.log.size
        let stats = try c.clean()
        #expect(stats.bytesSkipped > size * 3 / 4, "\(stats.bytesSkipped) of \(size) bytes left unread")
        // Unread runs still count as processed, record for record.
        #expect(stats.bytesRead == size && stats.messagesRead == 12_000)
        let latest = latestByKey(before)
        let after = try c.records()
        #expect(after.map(\.offset) == latest.values.map(\.offset).sorted())
        for record in after { #expect(latest[record.key!]?.value == record.value) }
        let kept = try #require(try c.log.allBatchHeaders().first { $0.producerId == 7 }, "the producer's last batch")
        #expect(kept.recordCount == 0 && kept.baseOffset == producerBatch.baseOffset && kept.lastOffset == producerBatch.lastOffset)
    }

    @Test func aCorruptBatchInASupersededRunStopsTheCleaningBeforeAnythingIsWritten() throws {
        let c = try CompactedLog { $0.segmentBytes = 256 << 10 }
        try Self.appendTenKeysInBatchesOf40(c)
        // One byte of a value in the 50th batch, deep in the superseded run: its CRC no longer matches.
        let headers = try c.log.allBatchHeaders()
        let position = headers[0..<50].reduce(0) { $0 + $1.sizeInBytes } + RecordBatch.headerSize + 20
        let segment = try #require(c.log.segmentBaseOffsets.first)
        let path = c.log.directory + "/" + LogSegment.fileName(segment, "log")
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(position))
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: UInt64(position))
        try handle.write(contentsOf: [byte ^ 0xFF])
        try handle.close()
        let before = try c.log.allBatches()
        #expect(throws: CleanerError.self) { try c.manager.cleaner.clean(c.log) }
        #expect(try c.log.allBatches() == before, "the log is untouched")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: c.log.directory).filter { $0.hasSuffix(".cleaned") }
        #expect(leftovers.isEmpty)
    }

    /// 300 batches of 40 records over 10 keys (then a roll): all but the last few hundred offsets superseded.
    /// Batch `producerBatch`, if any, comes from idempotent producer 7.
    static func appendTenKeysInBatchesOf40(_ c: CompactedLog, producerBatch: Int? = nil) throws {
        for round in 0..<300 {
            let records = (0..<40).map { (key: Optional("k\(($0 + round) % 10)"), value: Optional("v\(round)-\($0)")) }
            try c.append(records, producerId: round == producerBatch ? 7 : RecordBatch.noProducerId)
        }
        try c.log.roll()
    }

    @Test func cleanedSegmentsStayWithinSegmentBytes() throws {
        let c = try CompactedLog { $0.segmentBytes = 2_000 }
        var rng = SplitMix64(seed: 4)
        for round in 0..<200 {
            try c.append((0..<4).map { _ in (key: "key-\(rng.next() % 400)", value: String(repeating: "x", count: 20 + Int(rng.next() % 60)) + "\(round)") })
        }
        try c.log.roll()
        try c.clean()
        let sizes = c.log.state.withLock { $0.segments.map(\.size) }
        #expect(sizes.allSatisfy { $0 <= 2_000 })
        #expect(sizes.count >= 2)
    }

    // MARK: Fixtures

    @Test func compactKeysFixtureEndsWithEachKeysLastValueThenLosesItsTombstones() throws {
        let dir = TemporaryDirectory()
        let (path, manifest) = try dir.copyFixture("compact-keys")
        #expect(path.hasSuffix("users-0"))
        let c = try CompactedLog(topic: "users", dir: dir) {
            $0.segmentBytes = manifest.segment_bytes
            $0.indexIntervalBytes = manifest.index_interval_bytes
            $0.deleteRetentionMs = 86_400_000
        }
        #expect(c.log.logEndOffset == manifest.log_end_offset)
        // The manifest's answer: each key's last record.
        var last: [String: (offset: Int64, value: [UInt8]?)] = [:]
        var codecs: [Int64: String] = [:]
        for batch in manifest.batches {
            codecs[batch.base_offset] = batch.codec
            for record in batch.records {
                last[String(decoding: record.key!, as: UTF8.self)] = (record.offset, record.value)
            }
        }
        #expect(last.count == 50)
        let tombstoned = last.filter { $0.value.value == nil }.map(\.key)
        #expect(!tombstoned.isEmpty)
        try c.log.roll()  // everything becomes cleanable
        let stats = try c.clean()
        #expect(stats.endOffset == manifest.log_end_offset)
        var after = try c.log.readAllRecords()
        #expect(after.count == 50)
        for record in after {
            let key = String(decoding: record.key!, as: UTF8.self)
            #expect(last[key]?.offset == record.offset, "\(key)")
            #expect(last[key]?.value == record.value, "\(key)")
        }
        // Surviving batches keep their codec (lz4 or none), as the manifest lists them.
        for header in try c.log.allBatchHeaders() where header.recordCount > 0 {
            #expect(header.compression.map { "\($0)" } == codecs[header.baseOffset], "batch \(header.baseOffset)")
        }
        // A day later (delete.retention.ms), the tombstones are gone and nothing of their keys is left.
        c.clock.advance(86_400_000)
        let sweep = try #require(try c.manager.cleanFilthiestLog())
        #expect(sweep.tombstonesRemoved == Int64(tombstoned.count))
        after = try c.log.readAllRecords()
        #expect(after.count == 50 - tombstoned.count)
        let keysLeft = Set(after.map { String(decoding: $0.key!, as: UTF8.self) })
        #expect(keysLeft.isDisjoint(with: tombstoned))
        #expect(after.allSatisfy { $0.value != nil })
        try c.reopen()
        #expect(try c.log.readAllRecords().map(\.offset) == after.map(\.offset))
    }

    @Test func transactionsFixtureKeepsMarkersDropsAbortedDataAndKeepsProducerFields() throws {
        let dir = TemporaryDirectory()
        let (_, manifest) = try dir.copyFixture("transactions")
        let c = try CompactedLog(topic: manifest.topic, dir: dir) { $0.segmentBytes = manifest.segment_bytes }
        try c.log.roll()
        try c.clean()
        // Kafka's semantics over the manifest: a transaction's records count once its COMMIT is read; ABORTed
        // ones go; records of a transaction with no marker yet are undecided and stay unless a later decided
        // record has their key.
        var decided: [String: Int64] = [:]
        var aborted = Set<Int64>()
        var open: [Manifest.Batch] = []
        var undecided = Set<Int64>()
        for batch in manifest.batches {
            if batch.control {
                for b in open {
                    for r in b.records {
                        if batch.control_type == "commit", let key = r.key {
                            decided[String(decoding: key, as: UTF8.self)] = max(decided[String(decoding: key, as: UTF8.self)] ?? -1, r.offset)
                        } else if batch.control_type == "abort" {
                            aborted.insert(r.offset)
                        }
                    }
                }
                open.removeAll()
            } else if batch.transactional {
                open.append(batch)
            } else {
                for r in batch.records { if let key = r.key { decided[String(decoding: key, as: UTF8.self)] = r.offset } }
            }
        }
        for b in open { for r in b.records { undecided.insert(r.offset) } }
        var expected: [Int64] = []
        for batch in manifest.batches where !batch.control {
            for r in batch.records {
                guard let key = r.key, !aborted.contains(r.offset) else { continue }
                let latest = decided[String(decoding: key, as: UTF8.self)] ?? -1
                if r.offset >= latest { expected.append(r.offset) }
            }
        }
        let after = try c.log.readAllRecords()
        let dataOffsets = after.map(\.offset).filter { offset in !manifest.batches.contains { $0.control && $0.base_offset == offset } }
        #expect(dataOffsets == expected)
        // Every marker is still there; every surviving batch keeps its producer id, epoch, sequence and flags.
        let headers = try c.log.allBatchHeaders()
        let originals = Dictionary(uniqueKeysWithValues: manifest.batches.map { ($0.base_offset, $0) })
        #expect(headers.filter(\.isControl).count == manifest.batches.filter(\.control).count)
        for header in headers {
            let original = try #require(originals[header.baseOffset])
            #expect(header.producerId == original.producer_id)
            #expect(header.producerEpoch == original.producer_epoch)
            #expect(header.baseSequence == original.base_sequence)
            #expect(header.isTransactional == original.transactional)
            #expect(header.isControl == original.control)
            #expect(header.lastOffset == original.last_offset)
        }
    }

    @Test func idempotentFixtureKeepsEachProducersLastBatchAndItsSequence() throws {
        let dir = TemporaryDirectory()
        let (_, manifest) = try dir.copyFixture("idempotent")
        let c = try CompactedLog(topic: manifest.topic, dir: dir) { $0.segmentBytes = manifest.segment_bytes }
        try c.log.roll()
        try c.clean()
        let headers = try c.log.allBatchHeaders()
        let byBase = Dictionary(uniqueKeysWithValues: headers.map { ($0.baseOffset, $0) })
        var lastOfProducer: [Int64: Manifest.Batch] = [:]
        for batch in manifest.batches { lastOfProducer[batch.producer_id] = batch }
        for (producer, batch) in lastOfProducer {
            let kept = try #require(byBase[batch.base_offset], "producer \(producer)'s last batch")
            #expect(kept.producerId == producer)
            #expect(kept.baseSequence == batch.base_sequence)
            #expect(kept.lastOffset == batch.last_offset)
            #expect(kept.lastSequence == Int32(batch.base_sequence) + Int32(batch.last_offset - batch.base_offset))
        }
        // And the data: each key's latest record.
        var latest: [String: (Int64, [UInt8]?)] = [:]
        for batch in manifest.batches { for r in batch.records { if let key = r.key { latest[String(decoding: key, as: UTF8.self)] = (r.offset, r.value) } } }
        let after = try c.log.readAllRecords()
        #expect(after.count == latest.count)
        for record in after { #expect(latest[String(decoding: record.key!, as: UTF8.self)]?.0 == record.offset) }
    }

    // MARK: Bounds and lags

    @Test func aFullOffsetMapCleansOnlyUpToWhereItGot() throws {
        // 60 slots at load factor 0.9: 54 keys per cleaning, for 300 distinct keys.
        let c = try CompactedLog { $0.segmentBytes = 1_500 } cleaner: { $0.dedupeBufferSize = 60 * SkimpyOffsetMap.bytesPerEntry }
        var rng = SplitMix64(seed: 12)
        for round in 0..<150 {
            try c.append((0..<4).map { _ in (key: "key-\(rng.next() % 300)", value: "v\(round)") })
        }
        try c.log.roll()
        let before = try c.records()
        let firstUncleanable = c.log.logEndOffset
        let first = try c.clean()
        #expect(first.mapFilled)
        #expect(first.endOffset < firstUncleanable)
        #expect(first.bufferUtilization <= 0.9 + 1e-9)
        // Nothing newer than the clean point was touched, and every key still has its latest value.
        let afterFirst = try c.records()
        #expect(afterFirst.filter { $0.offset >= first.endOffset }.map(\.offset) == before.filter { $0.offset >= first.endOffset }.map(\.offset))
        var rounds = 1
        var last = first
        while last.endOffset < firstUncleanable && rounds < 50 {
            let next = try c.clean()
            #expect(next.firstDirtyOffset == last.endOffset)
            #expect(next.endOffset > last.endOffset)
            last = next
            rounds += 1
        }
        #expect(last.endOffset == firstUncleanable)
        let latest = latestByKey(before)
        let after = try c.records()
        #expect(after.count == latest.count)
        for record in after { #expect(latest[record.key!]?.offset == record.offset) }
    }

    @Test func minCompactionLagLeavesYoungSegmentsAlone() throws {
        let c = try CompactedLog { $0.minCompactionLagMs = 60_000 }
        for _ in 0..<5 { try c.append((0..<5).map { (key: "k\($0)", value: "old") }) }
        try c.log.roll()
        c.clock.advance(120_000)
        for _ in 0..<5 { try c.append((0..<5).map { (key: "k\($0)", value: "young") }) }
        try c.log.roll()
        let youngBase = c.log.segmentBaseOffsets[1]
        try c.append([("z", "active")])
        let stats = try c.clean()
        // The young segment is uncleanable: cleaning stopped at its base, and it still holds all 25 records.
        #expect(stats.endOffset == youngBase)
        #expect(try c.records().filter { $0.offset >= youngBase && $0.offset < youngBase + 25 }.count == 25)
        #expect(try c.records().filter { $0.offset < youngBase }.count == 5)
    }

    @Test func maxCompactionLagMakesALogCleanableBelowTheMinimumDirtyRatio() throws {
        let c = try CompactedLog {
            $0.minCleanableDirtyRatio = 0.99
            $0.maxCompactionLagMs = 60_000
        }
        for round in 0..<10 { try c.append((0..<5).map { (key: "k\($0)", value: "v\(round)") }) }
        try c.log.roll()
        try c.clean()
        // A little new dirt: far below 99%.
        for round in 0..<2 { try c.append((0..<5).map { (key: "k\($0)", value: "w\(round)") }) }
        try c.log.roll()
        #expect(try c.manager.cleanFilthiestLog() == nil)
        c.clock.advance(61_000)
        let stats = try #require(try c.manager.cleanFilthiestLog())
        #expect(stats.dirtyRatioBefore < 0.99)
        #expect(try c.records().map(\.value) == ["w1", "w1", "w1", "w1", "w1"])
    }

    // MARK: Concurrency, threads, checkpoints, statistics

    @Test func readsDuringCleaningStayCorrect() throws {
        let c = try CompactedLog { $0.segmentBytes = 8_192 }
        var rng = SplitMix64(seed: 77)
        var model: [Int64: (String, String)] = [:]
        for round in 0..<400 {
            let records = (0..<6).map { _ in (key: "key-\(rng.next() % 40)", value: "value-\(round)-\(rng.next() % 1000)") }
            let result = try c.append(records.map { (key: Optional($0.key), value: Optional($0.value)) })
            for (i, record) in records.enumerated() { model[result.firstOffset + Int64(i)] = (record.key, record.value) }
        }
        try c.log.roll()
        let frozenModel = model
        let modelEnd = c.log.logEndOffset
        let log = c.log
        let stop = Atomic<Bool>(false)
        let failures = Mutex<[String]>([])
        let reads = Atomic<Int>(0)
        let reader = Thread {
            var latest: [String: Int64] = [:]
            for (offset, record) in frozenModel { latest[record.0] = max(latest[record.0] ?? -1, offset) }
            while !stop.load(ordering: .relaxed) {
                do {
                    let records = try log.readAllRecords(maxBytes: 3_000)
                    var seen: [String: Int64] = [:]
                    for r in records where r.offset < modelEnd {
                        let key = String(decoding: r.key!, as: UTF8.self)
                        let value = String(decoding: r.value!, as: UTF8.self)
                        if frozenModel[r.offset].map({ $0 != (key, value) }) ?? true {
                            failures.withLock { $0.append("offset \(r.offset) read as \(key)=\(value)") }
                        }
                        seen[key] = r.offset
                    }
                    for (key, offset) in latest where seen[key] != offset {
                        failures.withLock { $0.append("\(key): latest \(offset), read \(seen[key] ?? -1)") }
                    }
                    reads.add(1, ordering: .relaxed)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        reader.start()
        for _ in 0..<5 {
            try c.clean()
            for round in 0..<20 { try c.append([("extra-\(round)", "x")]) }
            try c.log.roll()
        }
        while reads.load(ordering: .relaxed) < 3 { usleep(1_000) }
        stop.store(true, ordering: .relaxed)
        while !reader.isFinished { usleep(1_000) }
        #expect(failures.withLock { Array($0.prefix(5)) } == [])
    }

    @Test func theCleanerThreadCleansInTheBackgroundAndCheckpointsItsProgress() async throws {
        let dir = TemporaryDirectory()
        var settings = LogConfig()
        settings.cleanupPolicy = .compact
        settings.segmentBytes = 2_048
        settings.minCleanableDirtyRatio = 0.1
        let config = settings
        var cleanerConfig = CleanerConfig()
        cleanerConfig.backoffMs = 20
        cleanerConfig.dedupeBufferSize = 1 << 20
        let tp = TopicPartition("bg", 0)
        // The records are written before the manager (and its cleaner thread) starts, so the cleaner's one pass
        // is not racing further appends: afterwards nothing is dirty and the checkpoint stays put.
        do {
            let log = try Log.open(directory: dir.sub("bg-0"), config: config)
            for round in 0..<100 {
                var builder = RecordBatchBuilder()
                for k in 0..<5 { builder.append(timestamp: Int64(round), key: Array("k\(k)".utf8), value: Array("v\(round)".utf8)) }
                _ = try builder.build().withUnsafeBytes { try log.append($0) }
            }
            try log.close()
        }
        let manager = try LogManager.open(
            dataDirectory: dir.path, configFor: { _ in config }, backgroundIntervalMs: 50, cleanerConfig: cleanerConfig)
        let log = try #require(manager.log(tp))
        var waited = 0
        while manager.cleanerStats[tp] == nil && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        let stats = try #require(manager.cleanerStats[tp])
        #expect(stats.dirtyRatioBefore > stats.dirtyRatioAfter)
        #expect(log.cleaningSummary.lastCleaning?.endOffset == stats.endOffset)
        let latest = manager.cleaner.manager.checkpoints[tp]
        // The thread records its stats, then writes the checkpoint file: wait for the file to catch up.
        var onDisk = try OffsetCheckpointFile(path: dir.sub("cleaner-offset-checkpoint")).read()[tp]
        for _ in 0..<500 where onDisk != latest {
            try await Task.sleep(for: .milliseconds(10))
            onDisk = try OffsetCheckpointFile(path: dir.sub("cleaner-offset-checkpoint")).read()[tp]
        }
        #expect(latest != nil)
        #expect(onDisk == latest)
        try manager.close()
        // A new process learns the clean point from the checkpoint.
        let reopened = try LogManager.open(dataDirectory: dir.path, configFor: { _ in config }, backgroundIntervalMs: nil)
        let summary = try #require(reopened.log(tp)).cleaningSummary
        #expect(summary.firstDirtyOffset == onDisk)
        #expect(summary.lastCleaning == nil)
        try reopened.close()
        // And a tool that opens the partition directory alone reads it from beside the directory.
        let alone = try Log.open(directory: dir.sub("bg-0"), config: config)
        #expect(alone.cleaningSummary.firstDirtyOffset == onDisk)
        try alone.close()
    }

    @Test func theThrottleHoldsTheCleanerToItsRate() throws {
        let c = try CompactedLog { $0.segmentBytes = 64 << 10 } cleaner: {
            $0.maxIoBytesPerSecond = 2_000_000
            $0.ioBufferSize = 64 << 10
        }
        let value = String(repeating: "v", count: 900)
        for round in 0..<1_000 { try c.append([("k\(round % 50)", value)]) }
        try c.log.roll()
        let stats = try c.clean()
        // About 1 MB read at 2 MB/s: most of the cleaning is spent asleep in the throttle.
        #expect(stats.mapBytesRead + stats.bytesRead > 1_500_000)
        #expect(stats.throttledSeconds > 0.3)
    }

    @Test func statisticsDescribeTheCleaning() throws {
        let c = try CompactedLog()
        for round in 0..<50 { try c.append((0..<5).map { (key: "k\($0)", value: "v\(round)") }) }
        try c.log.roll()
        let summaryBefore = c.log.cleaningSummary
        #expect(summaryBefore.dirtyRatio == 1)
        #expect(summaryBefore.firstDirtyOffset == 0)
        let stats = try c.clean()
        #expect(stats.topicPartition == c.tp)
        #expect(stats.sizeAfter < stats.sizeBefore)
        #expect(stats.segmentsAfter <= stats.segmentsBefore)
        #expect(stats.groupsCleaned >= 1)
        #expect(stats.bytesWritten < stats.bytesRead)
        #expect(stats.mapMessagesRead == 250)
        #expect(stats.elapsedSeconds > 0 && stats.throughputMBps > 0)
        let text = stats.description
        #expect(text.contains("compacted-0"))
        #expect(text.contains("MB/s"))
        #expect(text.contains("dirty ratio 100.0% -> 0.0%"))
        let summary = c.log.cleaningSummary
        #expect(summary.firstDirtyOffset == 250)
        #expect(summary.dirtyRatio == 0)
        #expect(summary.lastCleaning == stats)
        #expect(c.manager.cleanerStats[c.tp] == stats)
    }
}
