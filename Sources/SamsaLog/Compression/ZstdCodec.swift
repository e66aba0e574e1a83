import CZstd

/// zstd as Kafka frames it: one zstd frame (zstd-jni's ZstdOutputStream), no checksum. Compression writes the
/// content size into the frame header, which lets readers size their buffer. Decompression takes any zstd
/// frames, with or without a content size, concatenated or skippable, through ZSTD_decompressStream in a
/// bounded loop.
///
/// Memory: a frame that declares its content size is refused with `.tooLarge` when that size exceeds the
/// limit. A frame without one may declare a window of up to 128 MiB (zstd's default `windowLogMax` of 27,
/// which Kafka's level-22 frames need); libzstd then reserves that buffer, but touches its pages only as
/// output is produced, and the decode still stops at the limit.
enum ZstdCodec {
    static let defaultLevel = 3
    /// Contexts that grew past this (high levels, big windows) are freed rather than pooled.
    static let pooledSizeMax = 8 << 20

    /// Context creation costs as much as compressing 16 KiB (55 µs against 26 µs reused, measured), so both
    /// kinds are pooled.
    private static let compressors = ContextPool(
        make: { ZSTD_createCCtx() },
        destroy: { _ = ZSTD_freeCCtx($0) },
        worthKeeping: { ZSTD_sizeof_CCtx($0) <= pooledSizeMax })
    private static let decompressors = ContextPool(
        make: { ZSTD_createDCtx() },
        destroy: { _ = ZSTD_freeDCtx($0) },
        worthKeeping: { ZSTD_sizeof_DCtx($0) <= pooledSizeMax })

    static func compress(
        _ input: UnsafeRawBufferPointer, level: Int?, into output: inout [UInt8]
    ) throws(CompressionError) {
        let level = level ?? defaultLevel
        let levels = Int(ZSTD_minCLevel())...Int(ZSTD_maxCLevel())
        guard levels.contains(level) else {
            throw .failed(codec: .zstd, reason: "compression level \(level) is outside \(levels)")
        }
        guard let context = compressors.take() else {
            throw .failed(codec: .zstd, reason: "cannot create a compression context (out of memory)")
        }
        defer { compressors.give(context) }
        _ = ZSTD_CCtx_reset(context, ZSTD_reset_session_only)
        var status = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level))
        if ZSTD_isError(status) == 0 {
            output.appendInPlace(upTo: ZSTD_compressBound(input.count)) { room in
                status = ZSTD_compress2(context, room.baseAddress, room.count, input.baseAddress, input.count)
                return ZSTD_isError(status) == 0 ? status : 0
            }
        }
        if ZSTD_isError(status) != 0 {
            throw .failed(codec: .zstd, reason: "compression failed: \(errorName(status))")
        }
    }

    static func decompress(
        _ input: UnsafeRawBufferPointer, limit: Int, into output: inout [UInt8]
    ) throws(CompressionError) {
        let budget = DecompressionBudget(codec: .zstd, start: output.count, limit: limit)
        var wanted = min(max(input.count * 4, 16 * 1024), limit) + 1
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        if declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR {
            guard declared <= UInt64(limit) else { throw .tooLarge(codec: .zstd, limit: limit) }
            wanted = Int(declared) + 1
        }
        guard let context = decompressors.take() else {
            throw .failed(codec: .zstd, reason: "cannot create a decompression context (out of memory)")
        }
        defer { decompressors.give(context) }
        _ = ZSTD_DCtx_reset(context, ZSTD_reset_session_only)

        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            let room = budget.room(in: &output, wanted: wanted)
            var status = 0, written = 0
            output.appendInPlace(upTo: room) { room in
                var target = ZSTD_outBuffer(dst: room.baseAddress, size: room.count, pos: 0)
                status = ZSTD_decompressStream(context, &target, &source)
                written = target.pos
                return ZSTD_isError(status) == 0 ? written : 0
            }
            if ZSTD_isError(status) != 0 {
                if ZSTD_getErrorCode(status) == ZSTD_error_memory_allocation {
                    throw .failed(codec: .zstd, reason: "decompression failed: \(errorName(status))")
                }
                throw .corrupt(codec: .zstd, reason: "\(errorName(status)) near input byte \(source.pos)")
            }
            try budget.check(output)
            if status == 0 {
                if source.pos == source.size { return }  // every frame complete and flushed
                continue  // another frame follows
            }
            if source.pos == source.size && written < room {
                throw .corrupt(codec: .zstd, reason: "truncated: input ended after \(input.count) bytes, inside a frame")
            }
            wanted = 128 * 1024
        }
    }

    private static func errorName(_ status: Int) -> String {
        String(cString: ZSTD_getErrorName(status))
    }
}
