/// Why a codec could not compress or decompress. Every case names the codec and what was wrong.
///
/// ```swift
/// do { try Compression.decompress(bytes, codec: .lz4, limit: 1 << 20, into: &records) }
/// catch .tooLarge(let codec, let limit) { print("\(codec) batch expands past \(limit) bytes") }
/// ```
public enum CompressionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input is not a valid stream for the codec: bad magic, header, block length, checksum, truncation.
    case corrupt(codec: CompressionCodec, reason: String)
    /// The output would exceed the caller's limit (in bytes); decompression stopped there.
    case tooLarge(codec: CompressionCodec, limit: Int)
    /// The library refused: out of memory, an unsupported compression level.
    case failed(codec: CompressionCodec, reason: String)

    public var description: String {
        switch self {
        case .corrupt(let codec, let reason): "\(codec): corrupt input: \(reason)"
        case .tooLarge(let codec, let limit): "\(codec): decompressed size exceeds the limit of \(limit) bytes"
        case .failed(let codec, let reason): "\(codec): \(reason)"
        }
    }
}

/// The codecs of magic-2 record batches, framed as Kafka's Java client frames the records section.
///
/// | codec  | compressed form                                                                  |
/// |--------|----------------------------------------------------------------------------------|
/// | gzip   | RFC 1952 gzip member (decompress also takes zlib and concatenated gzip members)  |
/// | snappy | xerial framing, 32 KiB blocks (decompress also takes raw snappy, as librdkafka sends) |
/// | lz4    | LZ4 frame, 64 KiB independent blocks, no checksums (KafkaLZ4BlockOutputStream)   |
/// | zstd   | one zstd frame with its content size (decompress takes any frames, sized or not) |
///
/// Decompression is bounded: output grows with what was actually produced and stops with
/// `CompressionError.tooLarge` once more than `limit` bytes would come out. Safe to call from any thread.
///
/// ```swift
/// var compressed: [UInt8] = []
/// try Compression.compress(records, codec: .zstd, into: &compressed)
/// var records2: [UInt8] = []
/// try Compression.decompress(compressed, codec: .zstd, limit: 1 << 20, into: &records2)
/// ```
public enum Compression {
    /// Appends the compressed form of `input` to `output`, framed exactly as Kafka's Java client frames the
    /// records section of a magic-2 batch for this codec. `.none` appends the input unchanged.
    ///
    /// `level` is Kafka's `compression.<codec>.level`: gzip 0...9 (default 6), lz4 1...17 (default 9, which
    /// like Kafka means the fast compressor; other levels use LZ4 HC), zstd `ZSTD_minCLevel()`...22 (default 3).
    /// Snappy and none have no levels and ignore it. `input` must not point into `output`'s storage.
    /// On a throw, `output` is left as it was.
    public static func compress(
        _ input: UnsafeRawBufferPointer, codec: CompressionCodec, level: Int? = nil,
        into output: inout [UInt8]
    ) throws(CompressionError) {
        let start = output.count
        do throws(CompressionError) {
            switch codec {
            case .none: output.append(contentsOf: input)
            case .gzip: try GzipCodec.compress(input, level: level, into: &output)
            case .snappy: try SnappyCodec.compress(input, into: &output)
            case .lz4: try LZ4Codec.compress(input, level: level, into: &output)
            case .zstd: try ZstdCodec.compress(input, level: level, into: &output)
            }
        } catch {
            output.removeLast(output.count - start)
            throw error
        }
    }

    /// Appends the decompressed bytes of `input` to `output`. Throws `.tooLarge` as soon as more than `limit`
    /// bytes would be produced: memory grows with what was actually produced (up to limit + one small chunk),
    /// never with a size claimed by the input. `.none` appends the input (still bounded by limit).
    ///
    /// A size the input claims (snappy's length prefix, zstd's content size, gzip's ISIZE) is used only as a
    /// capacity hint, and only when it is within `limit` and within what that many compressed bytes can expand
    /// to. `input` must not point into `output`'s storage. On a throw, `output` is left as it was (its
    /// capacity may have grown, never past `limit + 1` bytes beyond its count).
    public static func decompress(
        _ input: UnsafeRawBufferPointer, codec: CompressionCodec, limit: Int,
        into output: inout [UInt8]
    ) throws(CompressionError) {
        precondition(limit >= 0, "decompression limit must not be negative")
        let start = output.count
        do throws(CompressionError) {
            if codec != .none && input.isEmpty {
                throw CompressionError.corrupt(codec: codec, reason: "empty input holds no \(codec) stream")
            }
            switch codec {
            case .none:
                guard input.count <= limit else { throw CompressionError.tooLarge(codec: .none, limit: limit) }
                output.append(contentsOf: input)
            case .gzip: try GzipCodec.decompress(input, limit: limit, into: &output)
            case .snappy: try SnappyCodec.decompress(input, limit: limit, into: &output)
            case .lz4: try LZ4Codec.decompress(input, limit: limit, into: &output)
            case .zstd: try ZstdCodec.decompress(input, limit: limit, into: &output)
            }
        } catch {
            output.removeLast(output.count - start)
            throw error
        }
    }

    /// `compress` over an array.
    public static func compress(
        _ input: [UInt8], codec: CompressionCodec, level: Int? = nil, into output: inout [UInt8]
    ) throws(CompressionError) {
        try withBytes(of: input) { (bytes) throws(CompressionError) in
            try compress(bytes, codec: codec, level: level, into: &output)
        }
    }

    /// `decompress` over an array.
    public static func decompress(
        _ input: [UInt8], codec: CompressionCodec, limit: Int, into output: inout [UInt8]
    ) throws(CompressionError) {
        try withBytes(of: input) { (bytes) throws(CompressionError) in
            try decompress(bytes, codec: codec, limit: limit, into: &output)
        }
    }

    /// The compressed form of `input` as a new array.
    public static func compressed(
        _ input: [UInt8], codec: CompressionCodec, level: Int? = nil
    ) throws(CompressionError) -> [UInt8] {
        var output: [UInt8] = []
        try compress(input, codec: codec, level: level, into: &output)
        return output
    }

    /// The decompressed bytes of `input` as a new array, at most `limit` of them.
    public static func decompressed(
        _ input: [UInt8], codec: CompressionCodec, limit: Int
    ) throws(CompressionError) -> [UInt8] {
        var output: [UInt8] = []
        try decompress(input, codec: codec, limit: limit, into: &output)
        return output
    }

    /// `Array.withUnsafeBytes` with a typed error.
    private static func withBytes(
        of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CompressionError) -> Void
    ) throws(CompressionError) {
        let result: Result<Void, CompressionError> = array.withUnsafeBytes { bytes in
            do throws(CompressionError) { try body(bytes); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }
}
