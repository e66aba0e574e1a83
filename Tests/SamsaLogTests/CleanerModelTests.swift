import Foundation
import Testing
@testable import SamsaLog

/// Random keyed appends (tombstones among them, keyless appends refused), rolls, clock moves, cleanings at
/// random points and close/reopen, checked after every step against a model of everything ever written:
/// - every record read is the one written at its offset, in offset order;
/// - each key's latest record is there, unless it is a tombstone whose delete horizon (the first cleaning that
///   rewrote it + `delete.retention.ms`) has passed, and then nothing of the key is left;
/// - nothing at or past the clean point is ever dropped;
/// - after a cleaning, no record below the clean point has a later record of its key below the clean point.
@Suite struct CleanerModelTests {
    struct Written {
        var key: String
        var value: String?
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func cleaningAgreesWithTheModel(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let keySpace = 5 + Int(rng.next() % 60)
        let segmentBytes = 1_024 + Int(rng.next() % 4_096)
        // Some seeds get a map too small for their keys, so cleanings stop early.
        let mapSlots = rng.next() % 2 == 0 ? 1 << 14 : 20 + Int(rng.next() % 40)
        let c = try CompactedLog {
            $0.segmentBytes = segmentBytes
            $0.deleteRetentionMs = 5_000
        } cleaner: {
            $0.dedupeBufferSize = mapSlots * SkimpyOffsetMap.bytesPerEntry
        }
        var model: [Int64: Written] = [:]
        var cleanPoint: Int64 = 0
        /// When each tombstone was first inside a cleaned range (its horizon starts then).
        var tombstoneCleanedAt: [Int64: Int64] = [:]
        let codecs = CompressionCodec.allCases
        var cleanings = 0
        var removed: Int64 = 0
        var tombstonesRemoved: Int64 = 0
        var mapFilled = 0
        for step in 0..<250 {
            let context = "seed \(seed) step \(step)"
            switch rng.next() % 100 {
            case 0..<60:
                let count = 1 + Int(rng.next() % 12)
                let records = (0..<count).map { _ -> (key: String?, value: String?) in
                    let key = "key-\(rng.next() % UInt64(keySpace))"
                    return (key, rng.next() % 10 == 0 ? nil : "value-\(step)-\(rng.next() % 1_000)")
                }
                let result = try c.append(records, codec: codecs[Int(rng.next() % UInt64(codecs.count))])
                for (i, record) in records.enumerated() {
                    model[result.firstOffset + Int64(i)] = Written(key: record.key!, value: record.value)
                }
            case 60..<65:
                let end = c.log.logEndOffset
                #expect(throws: LogError.self, "\(context)") { try c.append([("k", "v"), (nil, "keyless")]) }
                #expect(c.log.logEndOffset == end, "\(context)")
            case 65..<72:
                try c.log.roll()
            case 72..<80:
                c.clock.advance(Int64(rng.next() % 3_000))
            case 80..<95:
                let now = c.clock.now.withLock { $0 }
                guard let stats = try c.manager.cleaner.clean(c.log) else { break }
                #expect(stats.firstDirtyOffset == cleanPoint || stats.firstDirtyOffset == c.log.logStartOffset, "\(context)")
                #expect(stats.endOffset >= stats.firstDirtyOffset, "\(context)")
                cleanPoint = stats.endOffset
                cleanings += 1
                removed += stats.messagesRead - stats.messagesWritten
                tombstonesRemoved += stats.tombstonesRemoved
                if stats.mapFilled { mapFilled += 1 }
                // The cleaning rewrote every segment below the clean point, including the one holding it (Kafka's
                // rule): a tombstone in them got its delete horizon now, even past the clean point.
                let rewrittenBelow = c.log.segmentBaseOffsets.first { $0 >= cleanPoint } ?? c.log.logEndOffset
                for (offset, written) in model where written.value == nil && offset < rewrittenBelow {
                    if tombstoneCleanedAt[offset] == nil { tombstoneCleanedAt[offset] = now }
                }
                try checkCompacted(c, model: model, cleanPoint: cleanPoint, context: context)
            default:
                try c.reopen()
            }
            try checkInvariants(
                c, model: model, cleanPoint: cleanPoint, tombstoneCleanedAt: tombstoneCleanedAt, context: context)
        }
        // The run exercised what it claims to (seeds 3 and 4 also fill the map and age tombstones out).
        #expect(cleanings >= 10 && removed > 0, "seed \(seed)")
        if Double(mapSlots) * 0.9 < Double(keySpace) { #expect(mapFilled > 0, "seed \(seed)") }
        if seed >= 3 { #expect(tombstonesRemoved > 0, "seed \(seed)") }
    }

    func checkInvariants(
        _ c: CompactedLog, model: [Int64: Written], cleanPoint: Int64, tombstoneCleanedAt: [Int64: Int64],
        context: String
    ) throws {
        let records = try c.records()
        var previous: Int64 = -1
        var present: [Int64: Bool] = [:]
        var keysPresent = Set<String>()
        for record in records {
            #expect(record.offset > previous, "\(context): offset \(record.offset) after \(previous)")
            previous = record.offset
            let written = model[record.offset]
            #expect(written?.key == record.key && written?.value == record.value, "\(context): offset \(record.offset)")
            present[record.offset] = true
            if let key = record.key { keysPresent.insert(key) }
        }
        var latest: [String: Int64] = [:]
        for (offset, written) in model where offset > (latest[written.key] ?? -1) { latest[written.key] = offset }
        let now = c.clock.now.withLock { $0 }
        for (key, offset) in latest where present[offset] == nil {
            guard model[offset]?.value == nil else {
                Issue.record("\(context): the latest record of \(key) (offset \(offset)) is gone")
                continue
            }
            // An aged-out tombstone: only after its horizon, and taking its key with it.
            let cleanedAt = tombstoneCleanedAt[offset]
            #expect(cleanedAt != nil && now >= cleanedAt! + c.config.deleteRetentionMs, "\(context): tombstone \(offset) of \(key) removed early")
            #expect(!keysPresent.contains(key), "\(context): \(key) lost its tombstone but older records remain")
        }
        for offset in model.keys where offset >= cleanPoint {
            #expect(present[offset] == true, "\(context): offset \(offset) past the clean point \(cleanPoint) was dropped")
        }
    }

    /// Right after a cleaning: below the clean point, each key has at most its latest record below it.
    func checkCompacted(_ c: CompactedLog, model: [Int64: Written], cleanPoint: Int64, context: String) throws {
        var latestBelow: [String: Int64] = [:]
        for (offset, written) in model where offset < cleanPoint && offset > (latestBelow[written.key] ?? -1) {
            latestBelow[written.key] = offset
        }
        for record in try c.records() where record.offset < cleanPoint {
            #expect(latestBelow[record.key!] == record.offset, "\(context): \(record.key!) at \(record.offset) survived a later record")
        }
    }
}
