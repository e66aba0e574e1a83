import CZlib

/// gzip as Kafka frames it: one RFC 1952 member (Java's GZIPOutputStream). Decompression auto-detects gzip
/// or zlib (windowBits 15 + 32) and reads concatenated gzip members, as Java's GZIPInputStream does.
///
/// Streams are created per call: deflateInit2/inflateInit2 cost under 5% of a 16 KiB deflate or inflate
/// (measured), so pooling z_streams would buy nothing.
enum GzipCodec {
    /// deflate's best case is about 1032:1 (258-byte matches in 2 bits): no valid member expands further.
    static let maximumExpansion = 1032
    private static let chunkMax = Int(UInt32.max)

    static func compress(
        _ input: UnsafeRawBufferPointer, level: Int?, into output: inout [UInt8]
    ) throws(CompressionError) {
        let level = level ?? Int(Z_DEFAULT_COMPRESSION)
        guard level == Int(Z_DEFAULT_COMPRESSION) || (0...9).contains(level) else {
            throw .failed(codec: .gzip, reason: "compression level \(level) is outside 0...9")
        }
        let stream = try ZStream(codec: .gzip) { (strm) throws(CompressionError) in
            let status = deflateInit2_(
                strm, Int32(level), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                zlibVersion(), Int32(MemoryLayout<z_stream>.size))
            return status
        }
        defer { stream.end(deflateEnd) }
        let strm = stream.pointer
        let bound = Int(deflateBound(strm, uLong(input.count)))
        var status = Z_OK
        output.appendInPlace(upTo: bound) { room in
            var inPos = 0, outPos = 0
            while true {
                let inChunk = min(input.count - inPos, chunkMax), outChunk = min(room.count - outPos, chunkMax)
                strm.pointee.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: ($0 + inPos).assumingMemoryBound(to: Bytef.self)) }
                strm.pointee.avail_in = uInt(inChunk)
                strm.pointee.next_out = (room.baseAddress! + outPos).assumingMemoryBound(to: Bytef.self)
                strm.pointee.avail_out = uInt(outChunk)
                status = deflate(strm, inPos + inChunk == input.count ? Z_FINISH : Z_NO_FLUSH)
                inPos += inChunk - Int(strm.pointee.avail_in)
                outPos += outChunk - Int(strm.pointee.avail_out)
                if status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR) { return outPos }
                if outPos == room.count { status = Z_BUF_ERROR; return outPos }
            }
        }
        guard status == Z_STREAM_END else {
            throw .failed(codec: .gzip, reason: "deflate failed: \(stream.message(status))")
        }
    }

    static func decompress(
        _ input: UnsafeRawBufferPointer, limit: Int, into output: inout [UInt8]
    ) throws(CompressionError) {
        let budget = DecompressionBudget(codec: .gzip, start: output.count, limit: limit)
        let stream = try ZStream(codec: .gzip) { (strm) throws(CompressionError) in
            inflateInit2_(strm, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        }
        defer { stream.end(inflateEnd) }
        let strm = stream.pointer
        let base = input.baseAddress!
        var wanted = sizeHint(input, limit: limit)
        var inPos = 0
        while true {
            let room = budget.room(in: &output, wanted: wanted)
            var status = Z_OK
            output.appendInPlace(upTo: room) { room in
                let inChunk = min(input.count - inPos, chunkMax), outChunk = min(room.count, chunkMax)
                strm.pointee.next_in = UnsafeMutablePointer(mutating: (base + inPos).assumingMemoryBound(to: Bytef.self))
                strm.pointee.avail_in = uInt(inChunk)
                strm.pointee.next_out = room.baseAddress!.assumingMemoryBound(to: Bytef.self)
                strm.pointee.avail_out = uInt(outChunk)
                status = inflate(strm, Z_NO_FLUSH)
                inPos += inChunk - Int(strm.pointee.avail_in)
                return outChunk - Int(strm.pointee.avail_out)
            }
            try budget.check(output)
            wanted = 64 * 1024
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                if inPos == input.count { return }
                // Another gzip member may follow (RFC 1952 2.2); anything else is not part of a gzip stream.
                guard input.count - inPos >= 2, base.load(fromByteOffset: inPos, as: UInt8.self) == 0x1f,
                    base.load(fromByteOffset: inPos + 1, as: UInt8.self) == 0x8b
                else {
                    throw .corrupt(codec: .gzip, reason: "\(input.count - inPos) trailing bytes after the end of the stream")
                }
                _ = inflateReset(strm)
            case Z_BUF_ERROR where inPos == input.count:
                throw .corrupt(codec: .gzip, reason: "truncated: input ended after \(input.count) bytes, inside the deflate stream")
            case Z_BUF_ERROR:
                continue  // out of room: the next turn grows the output
            case Z_NEED_DICT:
                throw .corrupt(codec: .gzip, reason: "zlib stream needs a preset dictionary")
            case Z_DATA_ERROR:
                throw .corrupt(codec: .gzip, reason: "\(stream.message(status)) at input byte \(inPos)")
            default:
                throw .failed(codec: .gzip, reason: "inflate failed: \(stream.message(status))")
            }
        }
    }

    /// The member's ISIZE trailer (its length mod 2^32) when it is plausible, else a multiple of the input.
    private static func sizeHint(_ input: UnsafeRawBufferPointer, limit: Int) -> Int {
        let fallback = min(limit, max(input.count * 4, 4096)) + 1
        guard input.count >= 18 else { return fallback }
        var isize = 0
        for i in (input.count - 4 ..< input.count).reversed() { isize = isize << 8 | Int(input[i]) }
        guard isize <= limit, isize <= input.count * maximumExpansion else { return fallback }
        return isize + 1
    }
}

/// A heap-allocated z_stream (zlib keeps a pointer back to it, so it must not move).
private struct ZStream {
    let pointer: UnsafeMutablePointer<z_stream>

    init(codec: CompressionCodec, _ initialize: (UnsafeMutablePointer<z_stream>) throws(CompressionError) -> Int32)
        throws(CompressionError)
    {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: z_stream())
        let status = try initialize(pointer)
        guard status == Z_OK else {
            pointer.deinitialize(count: 1)
            pointer.deallocate()
            let reason = status == Z_MEM_ERROR ? "out of memory" : status == Z_VERSION_ERROR ? "zlib version mismatch" : "invalid parameters"
            throw .failed(codec: codec, reason: "cannot initialize zlib stream: \(reason)")
        }
    }

    func end(_ end: (UnsafeMutablePointer<z_stream>) -> Int32) {
        _ = end(pointer)
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// zlib's own message for the last error, or the status code's meaning.
    func message(_ status: Int32) -> String {
        if let message = pointer.pointee.msg { return String(cString: message) }
        switch status {
        case Z_MEM_ERROR: return "out of memory"
        case Z_BUF_ERROR: return "no progress possible"
        case Z_DATA_ERROR: return "invalid data"
        case Z_STREAM_ERROR: return "inconsistent stream state"
        default: return "zlib status \(status)"
        }
    }
}
