import Foundation
@testable import SamsaLog

extension Log {
    /// Every record from `from` to the log end, read through `read` in chunks of `maxBytes`.
    func readAllRecords(from: Int64? = nil, maxBytes: Int = 64 << 10) throws -> [(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8]?)] {
        var out: [(Int64, Int64, [UInt8]?, [UInt8]?)] = []
        var next = from ?? logStartOffset
        var scratch: [UInt8] = []
        while next < logEndOffset {
            guard let slice = try read(from: next, maxBytes: maxBytes).slice else { break }
            let bytes = try slice.readBytes()
            var progressed = false
            try bytes.withUnsafeBytes { buffer in
                for whole in WholeBatches(buffer) {
                    let batch = try RecordBatch(validating: whole)
                    try batch.forEachRecord(scratch: &scratch) { r in
                        if r.offset >= next { out.append((r.offset, r.timestamp, r.keyBytes, r.valueBytes)) }
                    }
                    next = max(next, batch.nextOffset)
                    progressed = true
                }
            }
            precondition(progressed, "read returned no whole batch at \(next)")
        }
        return out
    }
}
