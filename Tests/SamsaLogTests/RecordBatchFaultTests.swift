import Testing
@testable import SamsaLog

/// Malformed input gives a typed error: never a crash, never an allocation of a claimed size.
@Suite struct RecordBatchFaultTests {
    @Test func wholeBatchesStopBeforeTheFirstCutOrUnreadableBatch() throws {
        let a = makeBatch(count: 3, valueSize: 40)
        let b = makeBatch(count: 5, first: 3, valueSize: 10)
        let c = makeBatch(count: 2, first: 8)
        let all = a + b + c
        // Every cut of the bytes yields exactly the batches wholly inside it, byte for byte.
        for cut in 0...all.count {
            var expected: [[UInt8]] = []
            var end = 0
            for batch in [a, b, c] {
                guard end + batch.count <= cut else { break }
                expected.append(batch)
                end += batch.count
            }
            try Array(all[0..<cut]).withUnsafeBytes { buffer in
                var batches = WholeBatches(buffer)
                var got: [[UInt8]] = []
                while let bytes = batches.next() { got.append(Array(bytes)) }
                #expect(got == expected, "cut at \(cut)")
                #expect(batches.consumed == end)
                for bytes in got { try bytes.withUnsafeBytes { _ = try RecordBatch(validating: $0) } }
            }
        }
        // A length field that cannot be right ends the walk there.
        var bad = a + b
        bad[a.count + RecordBatch.Field.magic] = 7
        try bad.withUnsafeBytes { buffer in
            var batches = WholeBatches(buffer)
            #expect(batches.next().map(Array.init) == a)
            #expect(batches.next() == nil)
            #expect(batches.consumed == a.count)
        }
    }

    static func sampleBatch(codec: CompressionCodec = .none, records: Int = 5) throws -> [UInt8] {
        var builder = RecordBatchBuilder(baseOffset: 100, codec: codec)
        for i in 0..<records {
            builder.append(
                timestamp: 1_700_000_000_000 + Int64(i), key: Array("key-\(i)".utf8),
                value: Array(#"{"i":\#(i),"pad":"xxxxxxxxxxxxxxxx"}"#.utf8),
                headers: [RecordHeader(key: "h", value: [UInt8(i)])])
        }
        return try builder.build()
    }

    /// Recomputes the CRC after a test has tampered with bytes past the CRC field.
    static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
        bytes.storeBigEndian(crc, at: 17)
        return bytes
    }

    static func validateDeeply(_ bytes: [UInt8]) throws {
        var scratch: [UInt8] = []
        try bytes.withUnsafeBytes { buffer in
            let batch = try RecordBatch(validating: buffer)
            try batch.validateRecords(scratch: &scratch, maxDecompressedSize: 1 << 20)
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func everyTruncationPointIsReportedAsTruncated(codec: CompressionCodec) throws {
        let bytes = try Self.sampleBatch(codec: codec)
        for cut in 0..<bytes.count {
            let prefix = Array(bytes[..<cut])
            #expect(throws: RecordBatchError.self, "cut at \(cut)") { try Self.validateDeeply(prefix) }
            if cut > RecordBatch.Field.magic {
                #expect(throws: RecordBatchError.truncated(needed: bytes.count, available: cut)) {
                    try prefix.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
                }
            }
        }
        try Self.validateDeeply(bytes)
    }

    @Test(arguments: CompressionCodec.allCases)
    func everyFlippedBitAfterTheCRCFieldIsCaught(codec: CompressionCodec) throws {
        let bytes = try Self.sampleBatch(codec: codec)
        for byte in RecordBatch.Field.attributes..<bytes.count {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[byte] ^= UInt8(1 << bit)
                #expect(throws: RecordBatchError.self, "byte \(byte) bit \(bit)") {
                    try damaged.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
                }
            }
        }
    }

    @Test func flippedBitsInTheCRCFieldItselfAreCaught() throws {
        let bytes = try Self.sampleBatch()
        for byte in RecordBatch.Field.crc..<RecordBatch.Field.attributes {
            var damaged = bytes
            damaged[byte] ^= 0x10
            #expect {
                try damaged.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
            } throws: { error in
                if case RecordBatchError.crcMismatch = error { return true } else { return false }
            }
        }
    }

    @Test func lengthsThatLieAreRejected() throws {
        let bytes = try Self.sampleBatch()
        // batchLength longer than the buffer.
        var long = bytes
        long.storeBigEndian(Int32(bytes.count), at: 8)
        #expect(throws: RecordBatchError.truncated(needed: bytes.count + 12, available: bytes.count)) {
            try long.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
        // Below the header.
        var short = bytes
        short.storeBigEndian(Int32(10), at: 8)
        #expect(throws: RecordBatchError.invalidLength(batchLength: 10, limit: RecordBatch.defaultMaxBatchSize - 12)) {
            try short.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
        // A 2 GiB claim is refused by the size bound before anything is read or allocated.
        var huge = bytes
        huge.storeBigEndian(Int32.max, at: 8)
        #expect(throws: RecordBatchError.invalidLength(batchLength: .max, limit: 1000 - 12)) {
            try huge.withUnsafeBytes { _ = try RecordBatch.size(ofBatchAt: $0, maxBatchSize: 1000) }
        }
        // A record count the bytes cannot hold.
        var count = bytes
        count.storeBigEndian(Int32(1_000_000), at: 57)
        #expect(throws: RecordBatchError.invalidRecordCount(1_000_000)) {
            try Self.resealed(count).withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
        // A count that is plausible but wrong.
        var fewer = bytes
        fewer.storeBigEndian(Int32(4), at: 57)
        #expect(throws: RecordBatchError.self) { try Self.validateDeeply(Self.resealed(fewer)) }
        var more = bytes
        more.storeBigEndian(Int32(6), at: 57)
        #expect(throws: RecordBatchError.recordCountMismatch(declared: 6, found: 5)) {
            try Self.validateDeeply(Self.resealed(more))
        }
    }

    @Test func recordLengthThatLiesIsACorruptRecord() throws {
        var bytes = try Self.sampleBatch()
        // The first record's length varint sits right after the header; make it claim far more.
        bytes[61] = 0x7E  // zigzag 63
        bytes = Self.resealed(bytes)
        #expect {
            try Self.validateDeeply(bytes)
        } throws: { error in
            guard case RecordBatchError.corruptRecord(index: 0, position: 0, _) = error else { return false }
            return true
        }
    }

    @Test func varintThatNeverEndsInsideARecordIsACorruptRecord() throws {
        var bytes = try Self.sampleBatch()
        // Overwrite the first record (from its attributes byte on) with continuation bytes.
        for i in 62..<80 { bytes[i] = 0xFF }
        bytes = Self.resealed(bytes)
        #expect {
            try Self.validateDeeply(bytes)
        } throws: { error in
            guard case RecordBatchError.corruptRecord(index: 0, _, let reason) = error else { return false }
            return reason.contains("varint")
        }
    }

    @Test func legacyMessageSetsAreNamed() throws {
        // A v1 message: offset int64, size int32, crc int32, magic 1, attributes, timestamp, key, value.
        var legacy = [UInt8](repeating: 0, count: 40)
        legacy.storeBigEndian(Int32(28), at: 8)
        legacy[16] = 1
        #expect(throws: RecordBatchError.legacyFormat(magic: 1)) {
            try legacy.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
        legacy[16] = 0
        #expect(throws: RecordBatchError.legacyFormat(magic: 0)) {
            try legacy.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
        #expect(RecordBatchError.legacyFormat(magic: 1).description.contains("legacy message format v1"))
        legacy[16] = 7
        #expect(throws: RecordBatchError.unknownMagic(7)) {
            try legacy.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
    }

    @Test func undefinedCodecBitsAreRejected() throws {
        var bytes = try Self.sampleBatch()
        bytes[22] |= 0x07
        #expect(throws: RecordBatchError.unknownCompression(codecBits: 7)) {
            try Self.resealed(bytes).withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func decompressionBombIsBoundedByTheLimit(codec: CompressionCodec) throws {
        // 8 MiB of identical records inflate from a few KiB; a 1 MiB limit must stop it.
        var builder = RecordBatchBuilder(codec: codec)
        let value = [UInt8](repeating: 0x41, count: 64 << 10)
        for _ in 0..<128 { builder.append(timestamp: 0, key: nil, value: value) }
        let bytes = try builder.build()
        #expect(bytes.count < 1 << 20)
        #expect(throws: RecordBatchError.decompression(.tooLarge(codec: codec, limit: 1 << 20))) {
            try Self.validateDeeply(bytes)
        }
    }
}
