extension Array where Element == UInt8 {
    /// Lets `body` write up to `count` bytes straight into spare capacity (no zero-fill, no copy) and appends
    /// the number of bytes it reports having written.
    @inline(__always)
    mutating func appendInPlace(upTo count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        precondition(count > 0, "appendInPlace needs room for at least one byte")
        append(addingCapacity: count) { span in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                let room = UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[..<Swift.min(count, buffer.count)]))
                let written = body(room)
                precondition(written >= 0 && written <= room.count, "a codec wrote past the room it was given")
                initialized = written
            }
        }
    }
}

/// The budget of one decompression: bytes appended after `start`, never more than `limit` of them.
///
/// Capacity grows geometrically with what was produced, capped at `limit + 1` bytes past `start`: the one
/// extra byte of room is how a decoder shows there is more output than the limit allows.
struct DecompressionBudget {
    let codec: CompressionCodec
    /// `output.count` when decompression began.
    let start: Int
    let limit: Int
    /// The largest `output.count` a decoder may ever reach: `start + limit + 1` (saturating).
    let ceiling: Int

    init(codec: CompressionCodec, start: Int, limit: Int) {
        self.codec = codec
        self.start = start
        self.limit = limit
        let (sum, overflow) = start.addingReportingOverflow(limit)
        self.ceiling = overflow || sum == .max ? .max : sum + 1
    }

    func produced(_ output: [UInt8]) -> Int { output.count - start }

    /// Ensures spare capacity for the next decoder step and returns how many bytes it may write (at least 1):
    /// `wanted` if the ceiling allows, else what is left under the ceiling. Grows by at least doubling what was
    /// produced so far, so appending N bytes costs O(N) copies.
    func room(in output: inout [UInt8], wanted: Int) -> Int {
        let left = ceiling - output.count
        precondition(left > 0, "decoder kept going after exceeding the limit")
        let target = Swift.min(left, Swift.max(wanted, 1))
        if output.capacity - output.count < target {
            let grown = output.count + Swift.max(target, produced(output))
            output.reserveCapacity(Swift.min(grown, ceiling))
        }
        return Swift.min(output.capacity - output.count, left)
    }

    /// Throws `.tooLarge` when more than `limit` bytes have come out.
    func check(_ output: [UInt8]) throws(CompressionError) {
        if produced(output) > limit { throw .tooLarge(codec: codec, limit: limit) }
    }

    /// Throws `.tooLarge` when `claimed` more bytes would take the output past `limit`.
    func check(adding claimed: Int, to output: [UInt8]) throws(CompressionError) {
        if claimed > limit - produced(output) { throw .tooLarge(codec: codec, limit: limit) }
    }
}
