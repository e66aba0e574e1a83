/// The whole batches at the front of a buffer of back-to-back batches (what a read's slice holds), each as its
/// own bytes, ending before the first batch the buffer cuts short or whose length field does not read
/// (`RecordBatch.size(ofBatchAt:)`). Only length fields are read: each user checks the batches as it needs
/// (`RecordBatch(validating:)`, or not at all for bytes it already trusts).
///
/// ```swift
/// var batches = WholeBatches(sliceBytes)
/// for bytes in batches { let batch = try RecordBatch(validating: bytes) ... }
/// ```
public struct WholeBatches: Sequence, IteratorProtocol {
    public let bytes: UnsafeRawBufferPointer
    public let maxBatchSize: Int
    /// The bytes of the batches returned so far.
    public private(set) var consumed = 0

    public init(_ bytes: UnsafeRawBufferPointer, maxBatchSize: Int = RecordBatch.defaultMaxBatchSize) {
        self.bytes = bytes
        self.maxBatchSize = maxBatchSize
    }

    public mutating func next() -> UnsafeRawBufferPointer? {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[consumed...])
        guard !rest.isEmpty, let size = try? RecordBatch.size(ofBatchAt: rest, maxBatchSize: maxBatchSize),
            size <= rest.count
        else { return nil }
        consumed += size
        return UnsafeRawBufferPointer(rebasing: rest[0..<size])
    }
}
