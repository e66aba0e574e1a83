import CLZ4

/// LZ4 as Kafka frames it for magic 2 (KafkaLZ4BlockOutputStream): an LZ4 frame (lz4_Frame_format v1.6) with
/// 64 KiB independent blocks, a correct header checksum, no block or content checksum and no content size;
/// an incompressible block is stored raw. Decompression takes any valid LZ4 frame (linked blocks, checksums,
/// content size, skippable and concatenated frames) through LZ4F_decompress in a bounded loop.
enum LZ4Codec {
    /// Kafka's default LZ4 level; like Kafka, it selects the fast compressor rather than HC level 9.
    static let kafkaDefaultLevel = 9
    static let levels = 1...17

    /// Compression contexts keep their hash tables between frames (LZ4F_compressBegin resets them cheaply):
    /// about 15% faster than a fresh context on 16 KiB. Decompression contexts keep their block buffers:
    /// 4% faster on 16 KiB batches and three fewer mallocs each; one that decoded blocks over 256 KiB (it then
    /// holds up to 8 MiB) is freed rather than pooled.
    private static let compressors = ContextPool(
        make: {
            var context: OpaquePointer?
            let status = LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))
            return LZ4F_isError(status) == 0 ? context : nil
        },
        destroy: { _ = LZ4F_freeCompressionContext($0) })
    private static let decompressors = ContextPool(
        make: {
            var context: OpaquePointer?
            let status = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
            return LZ4F_isError(status) == 0 ? context : nil
        },
        destroy: { _ = LZ4F_freeDecompressionContext($0) })

    static func compress(
        _ input: UnsafeRawBufferPointer, level: Int?, into output: inout [UInt8]
    ) throws(CompressionError) {
        let level = level ?? kafkaDefaultLevel
        guard levels.contains(level) else {
            throw .failed(codec: .lz4, reason: "compression level \(level) is outside \(levels)")
        }
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        preferences.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        preferences.frameInfo.frameType = LZ4F_frame
        preferences.frameInfo.contentSize = 0
        preferences.compressionLevel = level == kafkaDefaultLevel ? 0 : Int32(level)
        preferences.autoFlush = 1  // compress the last partial block in place instead of copying it aside

        guard let context = compressors.take() else {
            throw .failed(codec: .lz4, reason: "cannot create a compression context (out of memory)")
        }
        defer { compressors.give(context) }
        let bound = Int(LZ4F_HEADER_SIZE_MAX) + LZ4F_compressBound(input.count, &preferences)
        var status = 0
        output.appendInPlace(upTo: bound) { room in
            let out = room.baseAddress!
            status = LZ4F_compressBegin(context, out, room.count, &preferences)
            guard LZ4F_isError(status) == 0 else { return 0 }
            var written = status
            if !input.isEmpty {
                status = LZ4F_compressUpdate(context, out + written, room.count - written, input.baseAddress, input.count, nil)
                guard LZ4F_isError(status) == 0 else { return 0 }
                written += status
            }
            status = LZ4F_compressEnd(context, out + written, room.count - written, nil)
            guard LZ4F_isError(status) == 0 else { return 0 }
            return written + status
        }
        if LZ4F_isError(status) != 0 {
            throw .failed(codec: .lz4, reason: "compression failed: \(errorName(status))")
        }
    }

    static func decompress(
        _ input: UnsafeRawBufferPointer, limit: Int, into output: inout [UInt8]
    ) throws(CompressionError) {
        let budget = DecompressionBudget(codec: .lz4, start: output.count, limit: limit)
        guard let context = decompressors.take() else {
            throw .failed(codec: .lz4, reason: "cannot create a decompression context (out of memory)")
        }
        LZ4F_resetDecompressionContext(context)  // it may have stopped mid-frame on bad input last time
        var largeBlocks = declaresLargeBlocks(input, at: 0)
        defer {
            if largeBlocks { _ = LZ4F_freeDecompressionContext(context) } else { decompressors.give(context) }
        }

        let base = input.baseAddress!
        var wanted = sizeHint(input, limit: limit)
        var inPos = 0
        while true {
            let room = budget.room(in: &output, wanted: wanted)
            var status = 0, consumed = 0, written = 0
            output.appendInPlace(upTo: room) { room in
                consumed = input.count - inPos
                written = room.count
                status = LZ4F_decompress(context, room.baseAddress, &written, base + inPos, &consumed, nil)
                return LZ4F_isError(status) == 0 ? written : 0
            }
            if LZ4F_isError(status) != 0 {
                let name = errorName(status)
                if name.contains("allocation") { throw .failed(codec: .lz4, reason: "decompression failed: \(name)") }
                throw .corrupt(codec: .lz4, reason: "\(name) in the frame at input byte \(inPos)")
            }
            inPos += consumed
            try budget.check(output)
            if status == 0 {
                if inPos == input.count { return }  // every frame ended at its end mark
                largeBlocks = largeBlocks || declaresLargeBlocks(input, at: inPos)
                continue  // another frame follows; the context starts it afresh
            }
            if inPos == input.count && written < room {
                throw .corrupt(codec: .lz4, reason: "truncated: input ended after \(input.count) bytes, inside a frame")
            }
            wanted = 64 * 1024
        }
    }

    /// The frame's content size when it declares a plausible one (kafka-python and the lz4 CLI do), else a
    /// multiple of the input; never less than a 64 KiB block, so that LZ4F decodes blocks in place.
    private static func sizeHint(_ input: UnsafeRawBufferPointer, limit: Int) -> Int {
        let block = 64 * 1024
        var hint = max(input.count * 4, block)
        // magic 04 22 4D 18, FLG (bit 3: content size follows BD as uint64 LE)
        if input.count >= 15, input.loadUnaligned(as: UInt32.self) == UInt32(0x184D_2204).littleEndian,
            input[4] & 0x08 != 0
        {
            let declared = UInt64(littleEndian: input.loadUnaligned(fromByteOffset: 6, as: UInt64.self))
            // An LZ4 sequence spends at least one byte per 255 bytes of match: no frame expands further.
            if declared <= UInt64(limit), declared <= UInt64(input.count) * 255 { hint = max(Int(declared), block) }
        }
        return min(hint, limit) + 1
    }

    /// Whether the LZ4 frame at `position` declares blocks over 256 KiB (BD block size id 6 or 7).
    private static func declaresLargeBlocks(_ input: UnsafeRawBufferPointer, at position: Int) -> Bool {
        input.count - position >= 6
            && input.loadUnaligned(fromByteOffset: position, as: UInt32.self) == UInt32(0x184D_2204).littleEndian
            && (input[position + 5] >> 4) & 7 > 5
    }

    private static func errorName(_ status: Int) -> String {
        String(cString: LZ4F_getErrorName(status))
    }
}
