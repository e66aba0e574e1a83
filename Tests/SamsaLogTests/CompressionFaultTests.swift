import CLZ4
import CSnappy
import CZlib
import CZstd
import Testing

@testable import SamsaLog

/// Damaged and hostile input: every codec must name the fault with a typed error, never crash, and never let
/// a size claimed by the input decide how much memory it takes.
@Suite("Compression faults")
struct CompressionFaultTests {
    static let input = TestBytes.json(100_000, seed: 21)

    @Test("input truncated anywhere is reported corrupt", arguments: CompressionCodec.compressed)
    func truncatedInputIsCorrupt(codec: CompressionCodec) throws {
        let compressed = try Compression.compressed(Self.input, codec: codec)
        let boundaries = codec == .snappy ? xerialBlockEnds(compressed) : []
        var cuts = Array(0..<min(40, compressed.count)) + Array(stride(from: 40, to: compressed.count, by: 97))
        cuts += (1...8).map { compressed.count - $0 }
        for cut in Set(cuts).sorted() {
            let prefix = Array(compressed.prefix(cut))
            if let block = boundaries.firstIndex(of: cut) {
                // xerial framing has no end mark: a cut between blocks is a shorter valid stream (the batch CRC
                // is what catches it in a log)
                #expect(try Compression.decompressed(prefix, codec: codec, limit: Self.input.count) == Array(Self.input.prefix(block * 32 * 1024)))
                continue
            }
            expectCorrupt(codec, "cut at \(cut) of \(compressed.count)") {
                try Compression.decompressed(prefix, codec: codec, limit: Self.input.count)
            }
        }
    }

    @Test("flipped bits never crash; gzip's CRC and LZ4's header checksum catch theirs", arguments: CompressionCodec.compressed)
    func flippedBitsAreCaughtOrHarmless(codec: CompressionCodec) throws {
        let compressed = try Compression.compressed(Self.input, codec: codec)
        let limit = 2 * Self.input.count
        for position in Array(0..<min(64, compressed.count)) + Array(stride(from: 64, to: compressed.count, by: 31)) {
            var damaged = compressed
            damaged[position] ^= UInt8(1) << UInt8(position % 8)
            var output: [UInt8] = [0xAB]
            do {
                try Compression.decompress(damaged, codec: codec, limit: limit, into: &output)
                let mustCatch = (codec == .gzip && position >= 10) || (codec == .lz4 && (4...6).contains(position))
                #expect(!mustCatch, "\(codec): flipped bit at byte \(position) went unnoticed")
                #expect(output.count <= limit + 1)
            } catch .corrupt(let reported, _), .tooLarge(let reported, _) {
                #expect(reported == codec)
                #expect(output == [0xAB], "output left as it was")
            } catch {
                Issue.record("\(codec): flipped bit at byte \(position) gave \(error)")
            }
        }
    }

    @Test("garbage is reported corrupt", arguments: CompressionCodec.compressed)
    func garbageIsCorrupt(codec: CompressionCodec) {
        for (length, seed) in [(2, 1), (7, 2), (16, 3), (100, 4), (5000, 5), (70_000, 6)] as [(Int, UInt64)] {
            let garbage = TestBytes.random(length, seed: seed)
            expectCorrupt(codec, "\(length) random bytes") {
                try Compression.decompressed(garbage, codec: codec, limit: 1 << 20)
            }
        }
        expectCorrupt(codec, "empty input") { try Compression.decompressed([], codec: codec, limit: 1 << 20) }
    }

    @Test("a wrong magic number is reported corrupt", arguments: CompressionCodec.compressed)
    func wrongMagicIsCorrupt(codec: CompressionCodec) throws {
        var compressed = try Compression.compressed(Self.input, codec: codec)
        compressed[0] ^= 0x01
        expectCorrupt(codec, "magic \(compressed[0])") {
            try Compression.decompressed(compressed, codec: codec, limit: 1 << 20)
        }
    }

    @Test("gzip reports trailing bytes that are not another member")
    func gzipTrailingGarbage() throws {
        let compressed = try Compression.compressed(Self.input, codec: .gzip)
        #expect(throws: CompressionError.corrupt(codec: .gzip, reason: "3 trailing bytes after the end of the stream")) {
            try Compression.decompressed(compressed + [1, 2, 3], codec: .gzip, limit: 1 << 20)
        }
    }

    @Test("snappy block lengths are checked against the input left")
    func snappyBlockLengthsAreChecked() throws {
        var stream = try Compression.compressed(Self.input, codec: .snappy)
        stream[16 ..< 20] = [0x00, 0x10, 0x00, 0x00]  // 1 MiB block in a 20 KiB stream
        #expect(throws: CompressionError.corrupt(codec: .snappy, reason: "block length 1048576 at byte 16 does not fit the \(stream.count - 20) bytes left")) {
            try Compression.decompressed(stream, codec: .snappy, limit: 1 << 20)
        }
        stream[16 ..< 20] = [0xFF, 0xFF, 0xFF, 0xF0]  // negative
        expectCorrupt(.snappy, "negative block length") { try Compression.decompressed(stream, codec: .snappy, limit: 1 << 20) }
        stream[16 ..< 20] = [0, 0, 0, 0]
        expectCorrupt(.snappy, "zero block length") { try Compression.decompressed(stream, codec: .snappy, limit: 1 << 20) }
    }

    // MARK: decompression bombs: 1 GiB of zeros against a 1 MiB limit

    static let limit = 1 << 20
    static let gib = 1 << 30
    /// What a bomb may leave allocated in the caller's output: the limit and one small chunk.
    static let slack = 64 * 1024

    @Test("an lz4 bomb stops at the limit with tooLarge")
    func lz4Bomb() {
        let bomb = lz4Zeros(Self.gib)
        #expect(bomb.count < 8 << 20)
        expectBombStops(bomb, codec: .lz4)
    }

    @Test("a zstd bomb stops at the limit: streamed without a size, and refused up front when its size is declared")
    func zstdBomb() {
        let streamed = zstdZeros(Self.gib, pledged: false)
        #expect(ZSTD_getFrameContentSize(streamed, streamed.count) == ZSTD_CONTENTSIZE_UNKNOWN)
        expectBombStops(streamed, codec: .zstd)
        let declared = zstdZeros(Self.gib, pledged: true)
        #expect(ZSTD_getFrameContentSize(declared, declared.count) == UInt64(Self.gib))
        var output: [UInt8] = []
        #expect(throws: CompressionError.tooLarge(codec: .zstd, limit: Self.limit)) {
            try Compression.decompress(declared, codec: .zstd, limit: Self.limit, into: &output)
        }
        #expect(output.capacity < Self.slack, "refused before allocating")
    }

    @Test("a gzip bomb stops at the limit: one 64 MiB member, and 1 GiB of concatenated members")
    func gzipBomb() throws {
        let member = gzipZeros(64 << 20)
        expectBombStops(member, codec: .gzip)
        let small = gzipZeros(16 << 20)
        let members = [UInt8]([[UInt8]](repeating: small, count: 64).joined())
        expectBombStops(members, codec: .gzip)
    }

    @Test("a snappy bomb stops at the limit; a raw block claiming 1 GiB is refused before allocating")
    func snappyBomb() throws {
        let block = try Compression.compressed([UInt8](repeating: 0, count: 32 * 1024), codec: .snappy)
        let stream = block + [UInt8]([[UInt8]](repeating: Array(block.dropFirst(16)), count: 2047).joined())  // 64 MiB
        expectBombStops(stream, codec: .snappy)

        var output: [UInt8] = []
        let claimsGiB: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x00, 0x00]  // varint 2^30, then junk
        #expect(throws: CompressionError.tooLarge(codec: .snappy, limit: Self.limit)) {
            try Compression.decompress(claimsGiB, codec: .snappy, limit: Self.limit, into: &output)
        }
        let claimsTooMuchForItsSize: [UInt8] = [0xA0, 0xF7, 0x36, 0xFE, 0xFF, 0xFF, 0xFF]  // varint 900,000 in 7 bytes
        #expect(throws: CompressionError.corrupt(codec: .snappy, reason: "block at byte 0 claims 900000 bytes, more than its 7 bytes can hold")) {
            try Compression.decompress(claimsTooMuchForItsSize, codec: .snappy, limit: Self.limit, into: &output)
        }
        #expect(output.capacity < Self.slack, "refused before allocating")
    }

    @Test("uncompressed input over the limit is tooLarge")
    func noneOverLimit() {
        #expect(throws: CompressionError.tooLarge(codec: .none, limit: 10)) {
            try Compression.decompressed([UInt8](repeating: 1, count: 11), codec: .none, limit: 10)
        }
    }

    // MARK: helpers

    private func expectBombStops(_ bomb: [UInt8], codec: CompressionCodec, sourceLocation: SourceLocation = #_sourceLocation) {
        var output: [UInt8] = []
        #expect(throws: CompressionError.tooLarge(codec: codec, limit: Self.limit), sourceLocation: sourceLocation) {
            try Compression.decompress(bomb, codec: codec, limit: Self.limit, into: &output)
        }
        #expect(output.isEmpty, sourceLocation: sourceLocation)
        #expect(output.capacity <= Self.limit + Self.slack, "\(codec) grew the output to \(output.capacity) bytes", sourceLocation: sourceLocation)
    }

    private func expectCorrupt(
        _ codec: CompressionCodec, _ context: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> [UInt8]
    ) {
        do {
            let output = try body()
            Issue.record("\(codec), \(context): decoded \(output.count) bytes instead of failing", sourceLocation: sourceLocation)
        } catch CompressionError.corrupt(let reported, let reason) {
            #expect(reported == codec, sourceLocation: sourceLocation)
            #expect(!reason.isEmpty, sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(codec), \(context): \(error) instead of corrupt", sourceLocation: sourceLocation)
        }
    }

    /// Where each xerial block ends: a cut there leaves a valid, shorter stream.
    private func xerialBlockEnds(_ stream: [UInt8]) -> [Int] {
        var ends = [16]
        var position = 16
        while position < stream.count {
            position += 4 + stream[position ..< position + 4].reduce(0) { $0 << 8 | Int($1) }
            ends.append(position)
        }
        return ends
    }
}

private let zeroChunk = [UInt8](repeating: 0, count: 1 << 20)

/// An LZ4 frame of `count` zeros in 4 MiB blocks, streamed from a 1 MiB buffer.
private func lz4Zeros(_ count: Int) -> [UInt8] {
    var preferences = LZ4F_preferences_t()
    preferences.frameInfo.blockSizeID = LZ4F_max4MB
    var context: OpaquePointer?
    _ = LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))
    defer { _ = LZ4F_freeCompressionContext(context) }
    var output = [UInt8](repeating: 0, count: count / 200 + (1 << 20))
    var written = 0
    output.withUnsafeMutableBytes { out in
        written = LZ4F_compressBegin(context, out.baseAddress, out.count, &preferences)
        zeroChunk.withUnsafeBytes { zeros in
            for _ in 0 ..< count / zeros.count {
                written += LZ4F_compressUpdate(context, out.baseAddress! + written, out.count - written, zeros.baseAddress, zeros.count, nil)
            }
        }
        written += LZ4F_compressEnd(context, out.baseAddress! + written, out.count - written, nil)
    }
    precondition(LZ4F_isError(written) == 0)
    return Array(output.prefix(written))
}

/// A zstd frame of `count` zeros, with or without its size declared in the header.
private func zstdZeros(_ count: Int, pledged: Bool) -> [UInt8] {
    let context = ZSTD_createCCtx()
    defer { ZSTD_freeCCtx(context) }
    if pledged { ZSTD_CCtx_setPledgedSrcSize(context, UInt64(count)) }
    var output = [UInt8](repeating: 0, count: 1 << 20)
    var written = 0
    output.withUnsafeMutableBytes { out in
        zeroChunk.withUnsafeBytes { zeros in
            let chunks = count / zeros.count
            for chunk in 0 ..< chunks {
                var source = ZSTD_inBuffer(src: zeros.baseAddress, size: zeros.count, pos: 0)
                var remaining = 0
                repeat {
                    var target = ZSTD_outBuffer(dst: out.baseAddress! + written, size: out.count - written, pos: 0)
                    remaining = ZSTD_compressStream2(context, &target, &source, chunk == chunks - 1 ? ZSTD_e_end : ZSTD_e_continue)
                    precondition(ZSTD_isError(remaining) == 0)
                    written += target.pos
                } while chunk == chunks - 1 ? remaining != 0 : source.pos < source.size
            }
        }
    }
    return Array(output.prefix(written))
}

/// A gzip member of `count` zeros (run-length deflate: about 1000:1).
private func gzipZeros(_ count: Int) -> [UInt8] {
    // zlib keeps a pointer back to its z_stream, so the stream lives on the heap
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    deflateInit2_(stream, 1, Z_DEFLATED, 15 + 16, 8, Z_RLE, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(stream); stream.deallocate() }
    var output = [UInt8](repeating: 0, count: count / 900 + 4096)
    output.withUnsafeMutableBufferPointer { out in
        stream.pointee.next_out = out.baseAddress
        stream.pointee.avail_out = uInt(out.count)
        zeroChunk.withUnsafeBufferPointer { zeros in
            let chunks = count / zeros.count
            for chunk in 0 ..< chunks {
                stream.pointee.next_in = UnsafeMutablePointer(mutating: zeros.baseAddress)
                stream.pointee.avail_in = uInt(zeros.count)
                let status = deflate(stream, chunk == chunks - 1 ? Z_FINISH : Z_NO_FLUSH)
                precondition(status == Z_OK || status == Z_STREAM_END)
            }
        }
    }
    return Array(output.prefix(Int(stream.pointee.total_out)))
}
