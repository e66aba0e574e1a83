import Foundation
import Testing
@testable import SamsaLog

/// Every batch of every Kafka-format fixture set decodes to exactly what its manifest lists.
@Suite struct RecordBatchFixtureTests {
    /// Walks the batches of one segment file, calling `body` with each validated batch and its position.
    static func walk(_ bytes: [UInt8], _ body: (RecordBatch, Int) throws -> Void) throws {
        try bytes.withUnsafeBytes { file in
            var position = 0
            while position < file.count {
                let rest = UnsafeRawBufferPointer(rebasing: file[position...])
                let batch = try RecordBatch(validating: rest)
                try body(batch, position)
                position += batch.sizeInBytes
            }
        }
    }

    @Test(arguments: Fixtures.intactSets)
    func everyBatchMatchesTheManifest(set: String) throws {
        let manifest = try Fixtures.manifest(set)
        var expected = manifest.batches[...]
        var scratch: [UInt8] = []
        var recordCount = 0
        var compressedCodecs: Set<String> = []
        for segment in manifest.segments {
            let bytes = try Fixtures.segmentBytes(set, manifest, segment: segment)
            try Self.walk(bytes) { batch, position in
                let next = expected.popFirst()
                let want = try #require(next, "\(set): more batches in \(segment).log than the manifest lists")
                #expect(want.segment == segment && want.position == position, "\(set) batch \(want.base_offset)")
                #expect(batch.baseOffset == want.base_offset)
                #expect(batch.lastOffset == want.last_offset)
                #expect(batch.sizeInBytes == want.size)
                // kafka-python writes a batch uncompressed when its codec would not shrink it; the manifest still
                // names the codec the producer was configured with.
                let codec = want.codec == "snappy-xerial" ? "snappy" : want.codec
                #expect(batch.compression?.name == codec || batch.compression == CompressionCodec.none)
                if let c = batch.compression, c != .none { compressedCodecs.insert(c.name) }
                #expect(batch.producerId == want.producer_id)
                #expect(batch.producerEpoch == want.producer_epoch)
                #expect(batch.baseSequence == want.base_sequence)
                #expect(batch.isTransactional == want.transactional)
                #expect(batch.isControl == want.control)
                #expect(batch.timestampType.description == want.timestamp_type)
                var records = want.records[...]
                try batch.forEachRecord(scratch: &scratch) { record in
                    let next = records.popFirst()
                    let r = try #require(next, "\(set) batch \(want.base_offset): extra record")
                    #expect(record.offset == r.offset)
                    #expect(record.timestamp == r.timestamp, "\(set) offset \(r.offset)")
                    #expect(record.keyBytes == r.key, "\(set) offset \(r.offset) key")
                    if let length = r.value_len {
                        #expect(record.value?.count == length)
                    } else {
                        #expect(record.valueBytes == r.value, "\(set) offset \(r.offset) value")
                    }
                    let headers = record.headers.map { ($0.keyString, $0.value.map { Array($0) }) }
                    #expect(headers.map(\.0) == r.headerPairs.map(\.0))
                    #expect(headers.map(\.1) == r.headerPairs.map(\.1))
                    if batch.isControl {
                        let marker = try ControlRecord(record: record)
                        #expect(marker.kind.description.lowercased() == want.control_type)
                    }
                    recordCount += 1
                }
                #expect(records.isEmpty, "\(set) batch \(want.base_offset): \(records.count) records missing")
                #expect(try batch.validateRecords(scratch: &scratch) == want.records.count)
            }
        }
        #expect(expected.isEmpty, "\(set): \(expected.count) manifest batches not found in the segments")
        // Every codec the manifest names is really exercised by at least one batch.
        let named = Set(manifest.batches.map { $0.codec == "snappy-xerial" ? "snappy" : $0.codec }).subtracting(["none"])
        #expect(compressedCodecs == named, "\(set)")
        #expect(recordCount == manifest.batches.reduce(0) { $0 + $1.records.count })
    }

    @Test func tornTailStopsAtTheExpectedByteWithTruncated() throws {
        let manifest = try Fixtures.manifest("torn-tail")
        let expect = try #require(manifest.expected_after_recovery)
        let bytes = try Fixtures.segmentBytes("torn-tail", manifest, segment: expect.truncated_segment)
        var lastGoodEnd = 0
        #expect {
            try Self.walk(bytes) { batch, position in lastGoodEnd = position + batch.sizeInBytes }
        } throws: { error in
            guard case RecordBatchError.truncated = error else { return false }
            return true
        }
        #expect(lastGoodEnd == expect.valid_bytes)
    }

    @Test func corruptCRCIsCaughtAtTheDamagedBatch() throws {
        let manifest = try Fixtures.manifest("corrupt-crc")
        let expect = try #require(manifest.expected_after_recovery)
        let bytes = try Fixtures.segmentBytes("corrupt-crc", manifest, segment: expect.truncated_segment)
        var lastGoodEnd = 0
        #expect {
            try Self.walk(bytes) { batch, position in lastGoodEnd = position + batch.sizeInBytes }
        } throws: { error in
            guard case RecordBatchError.crcMismatch = error else { return false }
            return true
        }
        #expect(lastGoodEnd == expect.valid_bytes)
    }

    /// The builder writes codec-none batches byte for byte as the real client (kafka-python) did.
    @Test(arguments: ["none-multiseg", "idempotent", "transactions", "log-append-time", "compact-keys"])
    func builderReproducesClientBatchesByteForByte(set: String) throws {
        let manifest = try Fixtures.manifest(set)
        var compared = 0
        for segment in manifest.segments {
            let bytes = try Fixtures.segmentBytes(set, manifest, segment: segment)
            try Self.walk(bytes) { batch, position in
                guard batch.compression == CompressionCodec.none else { return }
                let want = manifest.batches.first { $0.base_offset == batch.baseOffset }!
                var builder = RecordBatchBuilder(
                    baseOffset: batch.baseOffset, codec: .none, timestampType: batch.timestampType,
                    partitionLeaderEpoch: batch.partitionLeaderEpoch, producerId: batch.producerId,
                    producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence,
                    isTransactional: batch.isTransactional, isControl: batch.isControl)
                if batch.timestampType == .logAppendTime {
                    // The manifest shows the append time; the producer's timestamps live inside the batch.
                    builder = try Self.rebuildKeepingDeltas(batch, builder)
                } else {
                    for r in want.records {
                        builder.append(
                            offsetDelta: Int32(r.offset - batch.baseOffset), timestamp: r.timestamp, key: r.key,
                            value: r.value, headers: r.headerPairs.map { RecordHeader(key: $0.0, value: $0.1) })
                    }
                }
                builder.setLastOffsetDelta(batch.lastOffsetDelta)
                let built = try builder.build()
                #expect(built == Array(batch.bytes), "\(set): batch at \(segment).log:\(position) differs")
                compared += 1
            }
        }
        #expect(compared > 0)
    }

    /// Rebuilds a LogAppendTime batch from its own records (the record timestamps inside are the producer's).
    static func rebuildKeepingDeltas(_ batch: RecordBatch, _ template: RecordBatchBuilder) throws -> RecordBatchBuilder {
        var builder = template
        builder.reset(baseOffset: batch.baseOffset)
        builder.logAppendTime = batch.maxTimestamp
        var scratch: [UInt8] = []
        try batch.forEachRecord(scratch: &scratch) { record in
            builder.append(
                offsetDelta: record.offsetDelta, timestamp: batch.baseTimestamp + record.timestampDelta,
                key: record.keyBytes, value: record.valueBytes,
                headers: record.headers.map { RecordHeader(key: $0.keyString, value: $0.value.map { Array($0) }) })
        }
        return builder
    }
}
