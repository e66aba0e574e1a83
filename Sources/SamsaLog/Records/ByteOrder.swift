// Big-endian loads and stores on raw buffers: Kafka's on-disk and wire integers are big-endian.

extension UnsafeRawBufferPointer {
    /// Loads a big-endian integer at `offset`. The caller has checked `offset + size <= count`.
    @inline(__always)
    func loadBigEndian<T: FixedWidthInteger>(at offset: Int, as type: T.Type) -> T {
        assert(offset >= 0 && offset + MemoryLayout<T>.size <= count, "big-endian load out of bounds")
        return T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Stores `value` big-endian at `offset`. The caller has checked the bounds.
    @inline(__always)
    func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "big-endian store out of bounds")
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` big-endian.
    @inline(__always)
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    /// Overwrites `MemoryLayout<T>.size` bytes at `offset` with `value`, big-endian.
    @inline(__always)
    mutating func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBigEndian(value, at: offset) }
    }
}

// The standard library's `withUnsafe...Bytes` rethrow untyped errors; these keep the caller's error type.
extension Array where Element == UInt8 {
    @inline(__always)
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { bytes in Result { () throws(E) in try body(bytes) } }
        return try result.get()
    }

    @inline(__always)
    mutating func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeMutableBytes { bytes in Result { () throws(E) in try body(bytes) } }
        return try result.get()
    }
}
