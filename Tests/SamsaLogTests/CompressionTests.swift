import CSnappy
import Testing

@testable import SamsaLog

@Suite("Compression round trips and framing")
struct CompressionTests {
    @Test("every codec round-trips every sample", arguments: CompressionCodec.allCases, Sample.allCases)
    func roundTripsSample(codec: CompressionCodec, sample: Sample) throws {
        let input = sample.bytes
        let compressed = try Compression.compressed(input, codec: codec)
        if codec == .none { #expect(compressed == input) }
        let output = try Compression.decompressed(compressed, codec: codec, limit: input.count)
        #expect(output == input, "\(codec) \(sample): \(output.count) bytes back from \(input.count)")
    }

    @Test("the limit is inclusive: exactly limit bytes pass, one more is tooLarge", arguments: CompressionCodec.allCases)
    func limitIsInclusive(codec: CompressionCodec) throws {
        let input = TestBytes.json(100_000)
        let compressed = try Compression.compressed(input, codec: codec)
        #expect(try Compression.decompressed(compressed, codec: codec, limit: input.count) == input)
        #expect(throws: CompressionError.tooLarge(codec: codec, limit: input.count - 1)) {
            try Compression.decompressed(compressed, codec: codec, limit: input.count - 1)
        }
        #expect(throws: CompressionError.tooLarge(codec: codec, limit: 0)) {
            try Compression.decompressed(compressed, codec: codec, limit: 0)
        }
    }

    @Test("compress and decompress append after existing bytes", arguments: CompressionCodec.allCases)
    func appendsAfterExistingBytes(codec: CompressionCodec) throws {
        let input = TestBytes.json(70_000, seed: 3)
        let prefix: [UInt8] = [9, 8, 7]
        var compressed = prefix
        try Compression.compress(input, codec: codec, into: &compressed)
        #expect(Array(compressed.prefix(3)) == prefix)
        var output = prefix
        try Compression.decompress(Array(compressed.dropFirst(3)), codec: codec, limit: input.count, into: &output)
        #expect(Array(output.prefix(3)) == prefix)
        #expect(Array(output.dropFirst(3)) == input)
    }

    @Test("a failed decompression leaves the output as it was", arguments: CompressionCodec.compressed)
    func failureLeavesOutputUnchanged(codec: CompressionCodec) throws {
        let compressed = try Compression.compressed(TestBytes.json(300_000), codec: codec)
        var output: [UInt8] = [1, 2, 3]
        #expect(throws: CompressionError.self) {
            try Compression.decompress(Array(compressed.prefix(compressed.count - 5)), codec: codec, limit: 1 << 20, into: &output)
        }
        #expect(output == [1, 2, 3])
        #expect(throws: CompressionError.tooLarge(codec: codec, limit: 1000)) {
            try Compression.decompress(compressed, codec: codec, limit: 1000, into: &output)
        }
        #expect(output == [1, 2, 3])
    }

    @Test("decompression works through a raw buffer that points into a larger array", arguments: CompressionCodec.allCases)
    func decompressesFromBufferSlice(codec: CompressionCodec) throws {
        let input = TestBytes.json(40_000)
        let compressed = try Compression.compressed(input, codec: codec)
        let framed: [UInt8] = [0xEE, 0xEE] + compressed + [0xEE]
        var output: [UInt8] = []
        try framed.withUnsafeBytes { bytes in
            try Compression.decompress(UnsafeRawBufferPointer(rebasing: bytes[2 ..< 2 + compressed.count]), codec: codec, limit: input.count, into: &output)
        }
        #expect(output == input)
    }

    @Test("valid levels round-trip and change the output where the codec has levels")
    func levelsRoundTrip() throws {
        let input = TestBytes.json(200_000)
        let cases: [(CompressionCodec, [Int])] = [
            (.gzip, [0, 1, 6, 9]), (.lz4, [1, 3, 9, 12, 17]), (.zstd, [-5, 1, 3, 10, 19]),
        ]
        for (codec, levels) in cases {
            var sizes: [Int: Int] = [:]
            for level in levels {
                let compressed = try Compression.compressed(input, codec: codec, level: level)
                sizes[level] = compressed.count
                #expect(try Compression.decompressed(compressed, codec: codec, limit: input.count) == input, "\(codec) level \(level)")
            }
            #expect(Set(sizes.values).count > 1, "\(codec) levels \(sizes) all gave the same size")
        }
        // lz4 level 9 is Kafka's default: the fast compressor, as with no level at all.
        #expect(try Compression.compressed(input, codec: .lz4, level: 9) == Compression.compressed(input, codec: .lz4))
        #expect(try Compression.compressed(input, codec: .lz4, level: 12).count < Compression.compressed(input, codec: .lz4).count)
    }

    @Test("levels outside a codec's range fail with the range named")
    func outOfRangeLevelsFail() {
        #expect(throws: CompressionError.failed(codec: .gzip, reason: "compression level 10 is outside 0...9")) {
            try Compression.compressed([1, 2, 3], codec: .gzip, level: 10)
        }
        #expect(throws: CompressionError.failed(codec: .lz4, reason: "compression level 0 is outside 1...17")) {
            try Compression.compressed([1, 2, 3], codec: .lz4, level: 0)
        }
        #expect(throws: CompressionError.self) { try Compression.compressed([1, 2, 3], codec: .zstd, level: 23) }
    }

    @Test("gzip output is one RFC 1952 member: magic 1f 8b, deflate, CRC32 and size trailer")
    func gzipFraming() throws {
        let input = TestBytes.json(50_000)
        let compressed = try Compression.compressed(input, codec: .gzip)
        #expect(Array(compressed.prefix(3)) == [0x1F, 0x8B, 0x08])
        let isize = compressed.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(isize == input.count)
    }

    @Test("snappy output is xerial-framed: 16-byte header, then 32 KiB blocks with big-endian lengths")
    func snappyXerialFraming() throws {
        let input = TestBytes.json(200 * 1024 + 5)
        let compressed = try Compression.compressed(input, codec: .snappy)
        #expect(Array(compressed.prefix(16)) == [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])
        var position = 16
        var blockSizes: [Int] = []
        while position < compressed.count {
            let length = compressed[position ..< position + 4].reduce(0) { $0 << 8 | Int($1) }
            position += 4
            var size = 0
            let status = compressed.withUnsafeBytes { bytes in
                snappy_uncompressed_length(bytes.baseAddress!.advanced(by: position).assumingMemoryBound(to: CChar.self), length, &size)
            }
            #expect(status == SNAPPY_OK)
            blockSizes.append(size)
            position += length
        }
        #expect(position == compressed.count)
        #expect(blockSizes == [Int](repeating: 32 * 1024, count: 6) + [8 * 1024 + 5])
        #expect(try Compression.compressed([], codec: .snappy).count == 16, "empty input is the header alone")
    }

    @Test("lz4 output is Kafka's frame: magic, FLG 0x60 (v1, independent blocks), BD 0x40 (64 KiB), end mark")
    func lz4Framing() throws {
        let compressed = try Compression.compressed(TestBytes.json(200_000), codec: .lz4)
        #expect(Array(compressed.prefix(6)) == [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40])
        #expect(Array(compressed.suffix(4)) == [0, 0, 0, 0])
        // first block: little-endian size, high bit clear (compressed), no larger than 64 KiB
        let blockSize = compressed[7 ..< 11].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(blockSize & 0x8000_0000 == 0 && blockSize <= 64 * 1024)
        // an incompressible block is stored raw (high bit set), as KafkaLZ4BlockOutputStream does
        let raw = try Compression.compressed(TestBytes.random(1000, seed: 5), codec: .lz4)
        #expect(raw[10] & 0x80 != 0)
        #expect(try Compression.compressed([], codec: .lz4) == [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82, 0, 0, 0, 0])
    }

    @Test("zstd output is a zstd frame that records its content size")
    func zstdFraming() throws {
        let compressed = try Compression.compressed(TestBytes.json(20_000), codec: .zstd)
        #expect(Array(compressed.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
        #expect(compressed[4] & 0xC0 != 0 || compressed[4] & 0x20 != 0, "frame header carries a content size")
    }

    @Test("errors read as one line naming the codec")
    func errorDescriptions() {
        #expect(CompressionError.tooLarge(codec: .zstd, limit: 10).description == "zstd: decompressed size exceeds the limit of 10 bytes")
        #expect(CompressionError.corrupt(codec: .lz4, reason: "x").description == "lz4: corrupt input: x")
    }

    @Test("codecs are safe to use from many threads at once", arguments: CompressionCodec.compressed)
    func concurrentUse(codec: CompressionCodec) async throws {
        let inputs = (0..<8).map { TestBytes.json(30_000 + $0 * 7_000, seed: UInt64($0)) }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for round in 0..<32 {
                let input = inputs[round % inputs.count]
                group.addTask {
                    let compressed = try Compression.compressed(input, codec: codec, level: round % 2 == 0 ? nil : 5)
                    return try Compression.decompressed(compressed, codec: codec, limit: input.count) == input
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}
