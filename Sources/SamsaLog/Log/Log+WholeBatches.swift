extension Log {
    /// Like `read(from:maxBytes:minOneBatch:)`, but the slice ends after the last batch that fits whole within
    /// `maxBytes` (with `minOneBatch`, the first batch still comes whole however large). Kafka sends the cut
    /// batch at the end, which a consumer throws away and fetches again; leaving it out saves those bytes.
    /// The slice is nil when not even one batch fits.
    public func readWholeBatches(from offset: Int64, maxBytes: Int, minOneBatch: Bool = true) throws(LogError) -> ReadResult {
        var result = try read(from: offset, maxBytes: maxBytes, minOneBatch: minOneBatch)
        guard let slice = result.slice else { return result }
        // The scanner stops at the first header or batch that the slice cuts.
        var scanner = BatchHeaderScanner(file: slice.file, from: slice.position, end: slice.position + Int64(slice.length))
        while try scanner.next() != nil {}
        let whole = Int(scanner.position - slice.position)
        result.slice = whole > 0 ? FileSlice(file: slice.file, position: slice.position, length: whole) : nil
        return result
    }
}
