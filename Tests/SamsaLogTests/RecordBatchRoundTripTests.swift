import Testing
@testable import SamsaLog

/// Random records -> builder -> bytes -> view gives back the same records, for every codec.
@Suite struct RecordBatchRoundTripTests {
    struct Model: Equatable {
        var offsetDelta: Int32
        var timestamp: Int64
        var key: [UInt8]?
        var value: [UInt8]?
        var headers: [RecordHeader]
    }

    static func randomBytes(_ rng: inout SplitMix64, maxCount: Int) -> [UInt8]? {
        switch rng.next() % 8 {
        case 0: return nil
        case 1: return []
        case 2: return (0..<(Int(rng.next() % 70_000))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        default:
            let count = Int(rng.next() % UInt64(maxCount + 1))
            // Half text-like (compressible), half random.
            if rng.next() % 2 == 0 { return (0..<count).map { UInt8(0x61 + $0 % 7) } }
            return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
    }

    static func randomRecords(_ rng: inout SplitMix64) -> [Model] {
        let count = 1 + Int(rng.next() % 60)
        var delta: Int32 = -1
        let base = Int64(1_732_400_000_000) + Int64(rng.next() % 1_000_000)
        return (0..<count).map { _ in
            delta += 1 + (rng.next() % 4 == 0 ? Int32(rng.next() % 5) : 0)
            let headerCount = Int(rng.next() % 4)
            let headers = (0..<headerCount).map { h in
                RecordHeader(key: h == 2 ? "ключ-\(h)" : "h\(h)", value: randomBytes(&rng, maxCount: 20))
            }
            return Model(
                offsetDelta: delta, timestamp: base + Int64(rng.next() % 20_000) - 10_000,
                key: randomBytes(&rng, maxCount: 40), value: randomBytes(&rng, maxCount: 400), headers: headers)
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func randomBatchesRoundTrip(codec: CompressionCodec) throws {
        var scratch: [UInt8] = []
        for seed in UInt64(1)...40 {
            var rng = SplitMix64(seed: seed &* 0x1234_5678 &+ UInt64(codec.rawValue))
            let models = Self.randomRecords(&rng)
            let baseOffset = Int64(rng.next() % 1_000_000)
            var builder = RecordBatchBuilder(
                baseOffset: baseOffset, codec: codec, producerId: 7, producerEpoch: 2, baseSequence: 11)
            for m in models {
                builder.append(
                    offsetDelta: m.offsetDelta, timestamp: m.timestamp, key: m.key, value: m.value, headers: m.headers)
            }
            let bytes = try builder.build()
            try bytes.withUnsafeBytes { buffer in
                let batch = try RecordBatch(validating: buffer)
                #expect(batch.sizeInBytes == bytes.count, "seed \(seed)")
                #expect(batch.compression == codec)
                #expect(batch.baseOffset == baseOffset)
                #expect(batch.lastOffset == baseOffset + Int64(models.last!.offsetDelta))
                #expect(batch.recordCount == Int32(models.count))
                #expect(batch.baseTimestamp == models[0].timestamp)
                #expect(batch.maxTimestamp == models.map(\.timestamp).max())
                #expect(batch.producerId == 7 && batch.producerEpoch == 2 && batch.baseSequence == 11)
                var decoded: [Model] = []
                try batch.forEachRecord(scratch: &scratch) { r in
                    #expect(r.offset == baseOffset + Int64(r.offsetDelta))
                    decoded.append(
                        Model(
                            offsetDelta: r.offsetDelta, timestamp: r.timestamp, key: r.keyBytes, value: r.valueBytes,
                            headers: r.headers.map { RecordHeader(key: $0.keyString, value: $0.value.map { Array($0) }) }))
                }
                #expect(decoded == models, "seed \(seed) codec \(codec)")
            }
        }
    }

    @Test func nullAndEmptyKeysAndValuesStayDistinct() throws {
        var builder = RecordBatchBuilder()
        builder.append(timestamp: 1, key: nil, value: [])
        builder.append(timestamp: 2, key: [], value: nil)
        let bytes = try builder.build()
        var seen: [(Bool, Bool, Int?, Int?)] = []
        var scratch: [UInt8] = []
        try bytes.withUnsafeBytes { buffer in
            try RecordBatch(validating: buffer).forEachRecord(scratch: &scratch) { r in
                seen.append((r.key == nil, r.value == nil, r.key?.count, r.value?.count))
            }
        }
        #expect(seen.count == 2)
        #expect(seen[0].0 == true && seen[0].1 == false && seen[0].3 == 0)
        #expect(seen[1].0 == false && seen[1].1 == true && seen[1].2 == 0)
    }

    @Test func logAppendTimeRecordsReportTheAppendTime() throws {
        var builder = RecordBatchBuilder(timestampType: .logAppendTime)
        builder.logAppendTime = 9_999
        builder.append(timestamp: 5, key: nil, value: [1])
        builder.append(timestamp: 7, key: nil, value: [2])
        let bytes = try builder.build()
        var timestamps: [Int64] = []
        var scratch: [UInt8] = []
        try bytes.withUnsafeBytes { buffer in
            let batch = try RecordBatch(validating: buffer)
            #expect(batch.timestampType == .logAppendTime && batch.maxTimestamp == 9_999)
            try batch.forEachRecord(scratch: &scratch) { timestamps.append($0.timestamp) }
        }
        #expect(timestamps == [9_999, 9_999])
    }

    @Test func controlBatchMarkersRoundTrip() throws {
        let marker = ControlRecord(kind: .commit, coordinatorEpoch: 12)
        var builder = RecordBatchBuilder(producerId: 42, producerEpoch: 1, isTransactional: true, isControl: true)
        builder.append(timestamp: 100, key: marker.keyBytes, value: marker.valueBytes)
        let bytes = try builder.build()
        var scratch: [UInt8] = []
        try bytes.withUnsafeBytes { buffer in
            let batch = try RecordBatch(validating: buffer)
            #expect(batch.isControl && batch.isTransactional)
            try batch.forEachRecord(scratch: &scratch) { record in
                let decoded = try ControlRecord(record: record)
                #expect(decoded == marker)
            }
        }
    }

    @Test func deleteHorizonReplacesTheBaseTimestamp() throws {
        var builder = RecordBatchBuilder()
        builder.deleteHorizonMs = 123_456
        builder.append(timestamp: 1_000, key: [1], value: nil)
        let bytes = try builder.build()
        try bytes.withUnsafeBytes { buffer in
            let batch = try RecordBatch(validating: buffer)
            #expect(batch.hasDeleteHorizon && batch.deleteHorizonMs == 123_456)
            #expect(batch.attributes & 0x40 != 0)
            var scratch: [UInt8] = []
            // Record timestamps survive: their deltas are relative to the horizon.
            try batch.forEachRecord(scratch: &scratch) { #expect($0.timestamp == 1_000) }
        }
    }
}
