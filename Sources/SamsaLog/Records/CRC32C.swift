import CSamsaCRC

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of Kafka's record batch v2, which
/// covers the batch from its attributes (byte 21) to its end, i.e. every byte after the 4-byte CRC field at
/// byte 17.
///
/// ```swift
/// // Validate one batch as read from a segment file.
/// let stored = UInt32(batch[17]) << 24 | UInt32(batch[18]) << 16 | UInt32(batch[19]) << 8 | UInt32(batch[20])
/// let computed = batch.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
/// guard computed == stored else { throw ... }
///
/// CRC32C.checksum(Array("123456789".utf8))                  // 0xE306_9283
/// CRC32C.update(CRC32C.checksum(header), payload)           // == CRC32C.checksum(header + payload)
/// ```
///
/// The work is done in C (`CSamsaCRC`) by the fastest implementation the CPU supports, chosen once per
/// process: AVX-512 VPCLMULQDQ folding, else SSE4.2 `crc32q` in three interleaved streams, else
/// slicing-by-8 tables. ``implementation`` names the one in use.
public enum CRC32C {
    /// The CRC32C of `bytes` (final: ready to compare with a stored field).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        samsa_crc32c(0, bytes.baseAddress, bytes.count)
    }

    /// Continues `crc` (a value returned by `checksum` or `update`) over `bytes`:
    /// `update(checksum(a), b) == checksum(a + b)`, and `update(0, bytes) == checksum(bytes)`.
    @inlinable
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        samsa_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// The CRC32C of any byte sequence: `[UInt8]`, `ArraySlice<UInt8>`, `String.UTF8View`, `Data`...
    /// Contiguous storage is hashed in place; other sequences go through a small stack buffer, so this
    /// never allocates.
    @inlinable
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        update(0, bytes)
    }

    /// Continues `crc` over any byte sequence, like `update(_:_:)` over a buffer.
    @inlinable
    public static func update(_ crc: UInt32, _ bytes: some Sequence<UInt8>) -> UInt32 {
        if let result = bytes.withContiguousStorageIfAvailable({ update(crc, UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return updateByChunks(crc, bytes)
    }

    @usableFromInline
    static func updateByChunks(_ crc: UInt32, _ bytes: some Sequence<UInt8>) -> UInt32 {
        let chunkSize = 256
        var crc = crc
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: chunkSize) { chunk in
            var count = 0
            for byte in bytes {
                chunk[count] = byte
                count += 1
                if count == chunkSize {
                    crc = update(crc, UnsafeRawBufferPointer(start: chunk.baseAddress, count: count))
                    count = 0
                }
            }
            crc = update(crc, UnsafeRawBufferPointer(start: chunk.baseAddress, count: count))
        }
        return crc
    }

    /// The name of the implementation in use on this CPU: `"avx512"`, `"sse4.2"` or `"portable"`.
    public static var implementation: String { selected.name }

    /// The implementation in use on this CPU.
    public static var selected: Implementation {
        Implementation(samsa_crc32c_impl_selected()) ?? .portable
    }

    /// Continues `crc` over `bytes` with one given implementation, for tests and benchmarks; an
    /// implementation this CPU lacks (``Implementation/isAvailable``) falls back to ``Implementation/portable``.
    @inlinable
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer, using implementation: Implementation) -> UInt32 {
        samsa_crc32c_with(implementation.cValue, crc, bytes.baseAddress, bytes.count)
    }

    /// The implementations compiled into `CSamsaCRC`; all give the same results.
    public enum Implementation: CaseIterable, Sendable, CustomStringConvertible {
        /// Slicing-by-8 tables: any CPU (about 2 GB/s).
        case portable
        /// x86-64 SSE4.2 `crc32q` in three interleaved streams combined with PCLMULQDQ.
        case sse42
        /// x86-64 AVX-512 VPCLMULQDQ folding, with the SSE4.2 path for inputs under 256 bytes.
        case avx512

        /// Whether this CPU (and this build) can run it.
        public var isAvailable: Bool { samsa_crc32c_impl_available(cValue) != 0 }

        /// A short name: `"portable"`, `"sse4.2"`, `"avx512"`.
        public var name: String { String(cString: samsa_crc32c_impl_label(cValue)) }

        public var description: String { name }

        @usableFromInline
        var cValue: samsa_crc32c_impl {
            switch self {
            case .portable: SAMSA_CRC32C_IMPL_PORTABLE
            case .sse42: SAMSA_CRC32C_IMPL_SSE42
            case .avx512: SAMSA_CRC32C_IMPL_AVX512
            }
        }

        init?(_ value: samsa_crc32c_impl) {
            guard let match = Self.allCases.first(where: { $0.cValue == value }) else { return nil }
            self = match
        }
    }
}
