import CSnappy

/// Snappy as Kafka's Java client frames it: xerial snappy-java's SnappyOutputStream.
///
/// ```
/// header  0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00 | int32 BE version = 1 | int32 BE compatible version = 1
/// blocks  int32 BE compressed length | raw snappy block (of at most 32 KiB uncompressed) ...
/// ```
/// Decompression also takes raw snappy (one block, no header), which librdkafka sends, and xerial streams
/// concatenated header and all (snappy-java reads those too). Every block length is checked against the input
/// left and every block's claimed size against the limit before any room is made for it.
enum SnappyCodec {
    static let magic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let headerSize = 16
    /// snappy-java's default block size, which Kafka keeps.
    static let blockSize = 32 * 1024
    /// No snappy element produces more than 64 bytes from 3 input bytes (a 2-byte-offset copy), so a valid
    /// block of n bytes never expands past 64n/3: a larger claimed length is a lie.
    static func maximumExpansion(of compressedCount: Int) -> Int { compressedCount / 3 * 64 + 64 }

    static func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError) {
        let blocks = (input.count + blockSize - 1) / blockSize
        let bound = headerSize + blocks * (4 + snappy_max_compressed_length(blockSize))
        var failure: snappy_status = SNAPPY_OK
        output.appendInPlace(upTo: bound) { room in
            let out = room.baseAddress!
            for (i, byte) in magic.enumerated() { out.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
            out.storeBytes(of: UInt32(1).bigEndian, toByteOffset: 8, as: UInt32.self)
            out.storeBytes(of: UInt32(1).bigEndian, toByteOffset: 12, as: UInt32.self)
            var outPos = headerSize, inPos = 0
            while inPos < input.count {
                let count = min(blockSize, input.count - inPos)
                var written = room.count - outPos - 4
                let status = snappy_compress(
                    (input.baseAddress! + inPos).assumingMemoryBound(to: CChar.self), count,
                    (out + outPos + 4).assumingMemoryBound(to: CChar.self), &written)
                guard status == SNAPPY_OK else { failure = status; return 0 }
                out.storeBytes(of: UInt32(written).bigEndian, toByteOffset: outPos, as: UInt32.self)
                outPos += 4 + written
                inPos += count
            }
            return outPos
        }
        guard failure == SNAPPY_OK else {
            throw .failed(codec: .snappy, reason: "snappy_compress failed with status \(failure.rawValue)")
        }
    }

    static func decompress(
        _ input: UnsafeRawBufferPointer, limit: Int, into output: inout [UInt8]
    ) throws(CompressionError) {
        let budget = DecompressionBudget(codec: .snappy, start: output.count, limit: limit)
        guard isXerial(input, at: 0) else {
            return try decompressBlock(UnsafeRawBufferPointer(rebasing: input[...]), at: 0, budget, into: &output)
        }
        var pos = 0
        while pos < input.count {
            if isXerialMagicHead(input, at: pos) {
                // A stream written by another SnappyOutputStream, concatenated: skip its header.
                guard isXerial(input, at: pos) else {
                    throw .corrupt(codec: .snappy, reason: "bad xerial header at byte \(pos)")
                }
                try checkVersion(input, at: pos)
                pos += headerSize
                continue
            }
            guard input.count - pos >= 4 else {
                throw .corrupt(codec: .snappy, reason: "truncated: \(input.count - pos) bytes at byte \(pos) cannot hold a block length")
            }
            let length = Int(Int32(bitPattern: input.loadUnaligned(fromByteOffset: pos, as: UInt32.self).bigEndian))
            pos += 4
            guard length > 0, length <= input.count - pos else {
                throw .corrupt(codec: .snappy, reason: "block length \(length) at byte \(pos - 4) does not fit the \(input.count - pos) bytes left")
            }
            try decompressBlock(UnsafeRawBufferPointer(rebasing: input[pos ..< pos + length]), at: pos, budget, into: &output)
            pos += length
        }
    }

    private static func isXerialMagicHead(_ input: UnsafeRawBufferPointer, at pos: Int) -> Bool {
        input.count - pos >= 4 && input[pos] == magic[0] && input[pos + 1] == magic[1]
            && input[pos + 2] == magic[2] && input[pos + 3] == magic[3]
    }

    private static func isXerial(_ input: UnsafeRawBufferPointer, at pos: Int) -> Bool {
        input.count - pos >= headerSize && magic.indices.allSatisfy { input[pos + $0] == magic[$0] }
    }

    /// snappy-java refuses streams whose version is below the minimum compatible version, 1.
    private static func checkVersion(_ input: UnsafeRawBufferPointer, at pos: Int) throws(CompressionError) {
        let version = Int32(bitPattern: input.loadUnaligned(fromByteOffset: pos + 8, as: UInt32.self).bigEndian)
        guard version >= 1 else {
            throw .corrupt(codec: .snappy, reason: "xerial stream version \(version) at byte \(pos) is below 1")
        }
    }

    /// Decompresses one raw snappy block after checking its claimed length against the limit and against what
    /// its size can expand to.
    private static func decompressBlock(
        _ block: UnsafeRawBufferPointer, at pos: Int, _ budget: DecompressionBudget, into output: inout [UInt8]
    ) throws(CompressionError) {
        let source = block.baseAddress!.assumingMemoryBound(to: CChar.self)
        var claimed = 0
        guard snappy_uncompressed_length(source, block.count, &claimed) == SNAPPY_OK else {
            throw .corrupt(codec: .snappy, reason: "block at byte \(pos) has no valid length prefix")
        }
        try budget.check(adding: claimed, to: output)
        guard claimed <= maximumExpansion(of: block.count) else {
            throw .corrupt(codec: .snappy, reason: "block at byte \(pos) claims \(claimed) bytes, more than its \(block.count) bytes can hold")
        }
        guard claimed > 0 else {
            guard snappy_validate_compressed_buffer(source, block.count) == SNAPPY_OK else {
                throw .corrupt(codec: .snappy, reason: "empty block at byte \(pos) has \(block.count - 1) stray bytes")
            }
            return
        }
        _ = budget.room(in: &output, wanted: claimed)
        var status = SNAPPY_OK
        var written = 0
        output.appendInPlace(upTo: claimed) { room in
            written = room.count
            status = snappy_uncompress(source, block.count, room.baseAddress!.assumingMemoryBound(to: CChar.self), &written)
            return status == SNAPPY_OK ? written : 0
        }
        guard status == SNAPPY_OK, written == claimed else {
            throw .corrupt(codec: .snappy, reason: "block at byte \(pos) of \(block.count) bytes does not decode (status \(status.rawValue))")
        }
    }
}
