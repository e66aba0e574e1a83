// Fuzz targets `decompress_gzip`, `decompress_snappy`, `decompress_lz4`, `decompress_zstd` (one per -D flag): each
// codec's decompressor on arbitrary bytes with a 1 MiB limit. The output must never pass the limit (plus the one
// chunk the contract allows in capacity), whatever size the input claims.
import SamsaLog

#if FUZZ_GZIP
let codec = CompressionCodec.gzip
#elseif FUZZ_SNAPPY
let codec = CompressionCodec.snappy
#elseif FUZZ_LZ4
let codec = CompressionCodec.lz4
#else
let codec = CompressionCodec.zstd
#endif

let limit = 1 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecompress(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var output: [UInt8] = []
    do {
        try Compression.decompress(input, codec: codec, limit: limit, into: &output)
        precondition(output.count <= limit, "\(codec) produced \(output.count) bytes past the limit \(limit)")
        // What came out goes back in and out again unchanged.
        var again: [UInt8] = []
        var recompressed: [UInt8] = []
        try output.withUnsafeBytes { try Compression.compress($0, codec: codec, into: &recompressed) }
        try recompressed.withUnsafeBytes { try Compression.decompress($0, codec: codec, limit: limit, into: &again) }
        precondition(again == output, "\(codec) round trip changed the bytes")
    } catch {
        precondition(output.isEmpty, "\(codec) left \(output.count) bytes in the output after failing: \(error)")
    }
    return 0
}
