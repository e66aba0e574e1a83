import CLZ4
import CSnappy
import CZlib
import CZstd
import Foundation
import Testing

@testable import SamsaLog

/// Streams written by other implementations: kafka-python's fixture segments, the C libraries' other modes,
/// and the lz4 / zstd / gzip command-line tools. And our output read back by those tools.
@Suite("Compression interoperability")
struct CompressionInteropTests {
    // MARK: Kafka segments written by kafka-python

    struct Manifest: Decodable {
        let segments: [String]
        let batches: [Batch]
        struct Batch: Decodable {
            let base_offset: Int64
            let segment: String
            let position: Int
            let size: Int
            let codec: String
            let records: [Record]
        }
        struct Record: Decodable {
            let offset: Int64
            let key_b64: String?
            let value_b64: String?
            let headers: [[String?]]
        }
    }

    @Test("every compressed batch of the fixture logs decompresses to exactly its manifest's records",
          arguments: ["gzip", "lz4", "snappy-xerial", "zstd", "mixed-codecs"])
    func fixtureBatchesDecompress(set: String) throws {
        let directory = Fixtures.root.appendingPathComponent(set)
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
        var checked = 0
        for segment in manifest.segments {
            let log = [UInt8](try Data(contentsOf: directory.appendingPathComponent("orders-0/\(segment).log")))
            let expected = manifest.batches.filter { $0.segment == segment }
            var position = 0
            for batch in expected {
                #expect(position == batch.position, "\(set) \(segment): batch \(batch.base_offset) position")
                let length = Int(readInt32(log, at: position + 8))
                let size = length + 12
                #expect(size == batch.size)
                let attributes = Int(log[position + 21]) << 8 | Int(log[position + 22])
                let codec = try #require(CompressionCodec(rawValue: UInt8(attributes & 7)))
                // kafka-python stores a batch uncompressed when its codec would not shrink it
                #expect(codec.name == batch.codec || codec == .none, "\(set): batch \(batch.base_offset) is \(codec)")
                let recordCount = Int(readInt32(log, at: position + 57))
                #expect(recordCount == batch.records.count)
                let section = Array(log[position + 61 ..< position + size])
                let records = try Compression.decompressed(section, codec: codec, limit: 1 << 20)
                try expectRecords(records, match: batch, context: "\(set) \(segment) batch \(batch.base_offset) (\(codec))")
                if codec != .none { checked += 1 }
                position += size
            }
            #expect(position == log.count, "\(set) \(segment): batches cover the whole log")
        }
        let labeled = manifest.batches.filter { $0.codec != "none" }.count
        #expect(checked * 10 >= labeled * 9, "\(set): only \(checked) of \(labeled) batches were stored compressed")
    }

    /// Walks the records section and compares each record's offset delta, key, value and headers.
    private func expectRecords(_ bytes: [UInt8], match batch: Manifest.Batch, context: String) throws {
        var reader = VarintReader(bytes: bytes)
        for (index, record) in batch.records.enumerated() {
            let length = try reader.varint()
            let start = reader.position
            if index == 0 { #expect(length > 0 && length + start <= bytes.count, "\(context): first varint is the first record's length") }
            _ = try reader.byte()  // attributes
            _ = try reader.varint()  // timestamp delta
            #expect(try reader.varint() == Int(record.offset - batch.base_offset), "\(context) record \(index) offset delta")
            #expect(try reader.lengthPrefixed() == record.key_b64.map { [UInt8](Data(base64Encoded: $0)!) }, "\(context) record \(index) key")
            #expect(try reader.lengthPrefixed() == record.value_b64.map { [UInt8](Data(base64Encoded: $0)!) }, "\(context) record \(index) value")
            let headerCount = try reader.varint()
            #expect(headerCount == record.headers.count)
            for header in record.headers {
                #expect(try reader.lengthPrefixed() == header[0].map { Array($0.utf8) })
                #expect(try reader.lengthPrefixed() == header[1].map { [UInt8](Data(base64Encoded: $0)!) })
            }
            #expect(reader.position == start + length, "\(context) record \(index) length")
        }
        #expect(reader.position == bytes.count, "\(context): records fill the decompressed section")
    }

    private func readInt32(_ bytes: [UInt8], at position: Int) -> Int32 {
        Int32(bitPattern: bytes[position ..< position + 4].reduce(0) { $0 << 8 | UInt32($1) })
    }

    struct VarintReader {
        let bytes: [UInt8]
        var position = 0
        struct Short: Error {}

        mutating func byte() throws -> UInt8 {
            guard position < bytes.count else { throw Short() }
            defer { position += 1 }
            return bytes[position]
        }

        /// A zigzag varint, as records encode every length and delta.
        mutating func varint() throws -> Int {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = try byte()
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
                guard shift < 64 else { throw Short() }
            }
            return Int(Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1))))
        }

        /// Length-prefixed bytes; length -1 is null.
        mutating func lengthPrefixed() throws -> [UInt8]? {
            let length = try varint()
            guard length >= 0 else { return nil }
            guard length <= bytes.count - position else { throw Short() }
            defer { position += length }
            return Array(bytes[position ..< position + length])
        }
    }

    // MARK: other modes of the C libraries

    @Test("raw snappy straight from the C library decompresses, as librdkafka sends it",
          arguments: [Sample.oneByte, .json16K, .json200K, .random64K])
    func rawSnappyFromLibrary(sample: Sample) throws {
        let input = sample.bytes
        var raw = [UInt8](repeating: 0, count: snappy_max_compressed_length(input.count))
        var length = raw.count
        let status = input.withUnsafeBytes { source in
            raw.withUnsafeMutableBytes { target in
                snappy_compress(source.baseAddress!.assumingMemoryBound(to: CChar.self), input.count,
                                target.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
            }
        }
        #expect(status == SNAPPY_OK)
        raw.removeLast(raw.count - length)
        #expect(try Compression.decompressed(raw, codec: .snappy, limit: input.count) == input)
    }

    @Test("concatenated xerial streams decompress to the concatenation, as snappy-java reads them")
    func concatenatedXerialStreams() throws {
        let a = TestBytes.json(50_000, seed: 1), b = TestBytes.json(10_000, seed: 2)
        let stream = try Compression.compressed(a, codec: .snappy) + Compression.compressed(b, codec: .snappy)
        #expect(try Compression.decompressed(stream, codec: .snappy, limit: 60_000) == a + b)
    }

    @Test("a zlib stream and concatenated gzip members decompress as gzip")
    func zlibAndConcatenatedGzip() throws {
        let a = TestBytes.json(40_000, seed: 4), b = TestBytes.json(3_000, seed: 5)
        var zlib = [UInt8](repeating: 0, count: Int(compressBound(uLong(a.count))))
        var length = uLong(zlib.count)
        let status = zlib.withUnsafeMutableBufferPointer { target in
            a.withUnsafeBufferPointer { compress2(target.baseAddress, &length, $0.baseAddress, uLong(a.count), 6) }
        }
        #expect(status == Z_OK)
        zlib.removeLast(zlib.count - Int(length))
        #expect(zlib[0] == 0x78)
        #expect(try Compression.decompressed(zlib, codec: .gzip, limit: a.count) == a)

        let members = try Compression.compressed(a, codec: .gzip) + Compression.compressed(b, codec: .gzip, level: 1)
        #expect(try Compression.decompressed(members, codec: .gzip, limit: a.count + b.count) == a + b)
    }

    @Test("a streamed zstd frame without a content size, and concatenated frames, decompress")
    func zstdStreamedAndConcatenatedFrames() throws {
        let input = TestBytes.json(300_000, seed: 6)
        let streamed = zstdStreamed(input, level: 3, checksum: true)
        #expect(ZSTD_getFrameContentSize(streamed, streamed.count) == ZSTD_CONTENTSIZE_UNKNOWN)
        #expect(try Compression.decompressed(streamed, codec: .zstd, limit: input.count) == input)
        #expect(throws: CompressionError.tooLarge(codec: .zstd, limit: input.count - 1)) {
            try Compression.decompressed(streamed, codec: .zstd, limit: input.count - 1)
        }
        let two = try Compression.compressed(input, codec: .zstd) + streamed
        #expect(try Compression.decompressed(two, codec: .zstd, limit: 2 * input.count) == input + input)
    }

    @Test("lz4 frames with linked blocks, checksums and a content size decompress, alone and concatenated")
    func lz4FrameVariants() throws {
        let input = TestBytes.json(300_000, seed: 8)
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max256KB
        preferences.frameInfo.blockMode = LZ4F_blockLinked
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled
        preferences.frameInfo.contentSize = UInt64(input.count)
        var frame = [UInt8](repeating: 0, count: LZ4F_compressFrameBound(input.count, &preferences))
        let length = frame.withUnsafeMutableBytes { target in
            input.withUnsafeBytes { LZ4F_compressFrame(target.baseAddress, target.count, $0.baseAddress, input.count, &preferences) }
        }
        #expect(LZ4F_isError(length) == 0)
        frame.removeLast(frame.count - length)
        #expect(try Compression.decompressed(frame, codec: .lz4, limit: input.count) == input)
        let two = try frame + Compression.compressed(input, codec: .lz4)
        #expect(try Compression.decompressed(two, codec: .lz4, limit: 2 * input.count) == input + input)
        // the content checksum is checked
        var damaged = frame
        damaged[damaged.count - 2] ^= 0x10
        #expect(throws: CompressionError.self) { try Compression.decompressed(damaged, codec: .lz4, limit: input.count) }
    }

    // MARK: command-line tools

    static let sample = TestBytes.json(300_000, seed: 9)

    @Test("the lz4 CLI's frames decompress, and it reads ours", .enabled(if: CLI.available("lz4"), "lz4 CLI not installed: skipped"),
          arguments: ["lz4 -q -c in.bin > out.bin", "lz4 -q -9 -BD -BX -B4 --content-size -c in.bin > out.bin",
                      "cat in.bin | lz4 -q -c --no-frame-crc -B5 > out.bin"])
    func lz4CommandLine(command: String) throws {
        let input = Self.sample
        let compressed = try CLI.run(command, input: input)
        #expect(try Compression.decompressed(compressed, codec: .lz4, limit: input.count) == input)
        let ours = try Compression.compressed(input, codec: .lz4)
        #expect(try CLI.run("lz4 -q -d -c in.bin > out.bin", input: ours) == input)
    }

    @Test("the zstd CLI's frames decompress (sized, piped without a size, level 19), and it reads ours",
          .enabled(if: CLI.available("zstd"), "zstd CLI not installed: skipped"),
          arguments: ["zstd -q -c in.bin > out.bin", "cat in.bin | zstd -q -c --no-check > out.bin",
                      "zstd -q -19 -c in.bin > out.bin"])
    func zstdCommandLine(command: String) throws {
        let input = Self.sample
        let compressed = try CLI.run(command, input: input)
        #expect(try Compression.decompressed(compressed, codec: .zstd, limit: input.count) == input)
        let ours = try Compression.compressed(input, codec: .zstd)
        #expect(try CLI.run("zstd -q -d -c in.bin > out.bin", input: ours) == input)
    }

    @Test("the gzip CLI's members decompress (alone and concatenated), and it reads ours",
          .enabled(if: CLI.available("gzip"), "gzip CLI not installed: skipped"),
          arguments: ["gzip -c in.bin > out.bin", "gzip -9 -n -c in.bin > out.bin",
                      "(gzip -1 -c in.bin; gzip -c in.bin) > out.bin"])
    func gzipCommandLine(command: String) throws {
        let input = Self.sample
        let compressed = try CLI.run(command, input: input)
        let expected = command.hasPrefix("(") ? input + input : input
        #expect(try Compression.decompressed(compressed, codec: .gzip, limit: expected.count) == expected)
        let ours = try Compression.compressed(input, codec: .gzip)
        #expect(try CLI.run("gzip -d -c in.bin > out.bin", input: ours) == input)
    }
}

/// A zstd frame written by the streaming API without a pledged size: no content size in its header.
func zstdStreamed(_ input: [UInt8], level: Int32, checksum: Bool, chunk: Int = 16 * 1024) -> [UInt8] {
    let context = ZSTD_createCCtx()!
    defer { ZSTD_freeCCtx(context) }
    ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
    ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, checksum ? 1 : 0)
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
    input.withUnsafeBytes { source in
        var position = 0
        repeat {
            let end = min(position + chunk, input.count)
            let last = end == input.count
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress! + position, size: end - position, pos: 0)
            var remaining = 0
            repeat {
                buffer.withUnsafeMutableBytes { target in
                    var outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                    remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, last ? ZSTD_e_end : ZSTD_e_continue)
                    precondition(ZSTD_isError(remaining) == 0)
                    output.append(contentsOf: target.prefix(outBuffer.pos))
                }
            } while last ? remaining != 0 : inBuffer.pos < inBuffer.size
            position = end
        } while position < input.count
    }
    return output
}
