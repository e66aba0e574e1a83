/// Who an append comes from, which decides what is checked and whether offsets are assigned.
public enum AppendOrigin: Sendable {
    /// A producer: batches are checked against the topic's rules and get the next offsets.
    case client
    /// Batches that already carry their final offsets (replay of a Kafka log, the cleaner's output, a follower):
    /// they are checked for integrity and written unchanged; base offsets must not go backwards.
    case raw
}

/// One batch of an append after validation: where it is in the appended bytes, and its header.
struct ValidatedBatch {
    var position: Int
    var header: RecordBatchHeader
}

/// The batches of one append, in order: the first held inline, any others in an array that is allocated only
/// when there are more (a producer sends one batch per partition, so an append allocates nothing here).
struct ValidatedBatches: RandomAccessCollection {
    private var head: ValidatedBatch
    private var tail: [ValidatedBatch] = []

    init(_ first: ValidatedBatch) {
        head = first
        hasProducerId = first.header.producerId >= 0
    }

    mutating func append(_ batch: ValidatedBatch) {
        tail.append(batch)
        hasProducerId = hasProducerId || batch.header.producerId >= 0
    }

    /// Whether a batch has a producer id (is idempotent or transactional).
    private(set) var hasProducerId: Bool

    var startIndex: Int { 0 }
    var endIndex: Int { 1 &+ tail.count }
    subscript(i: Int) -> ValidatedBatch {
        if i == 0 { return head }
        precondition(i > 0 && i <= tail.count, "batch \(i) of \(1 + tail.count)")
        return tail[i &- 1]
    }
}

/// Checks appended batches before they reach a segment (Kafka's `LogValidator`): the format, the CRC, the size
/// limit, and the topic's record rules. Nothing is written here.
enum LogValidator {
    /// The settings the checks read: a copy kept apart from the log's state, so that checking (which takes no
    /// lock of the log's) never waits for a write in progress.
    struct Rules: Sendable {
        var maxMessageBytes: Int
        var compacted: Bool

        init(_ config: LogConfig) {
            maxMessageBytes = config.maxMessageBytes
            compacted = config.cleanupPolicy.compacts
        }
    }

    static func validate(
        _ bytes: UnsafeRawBufferPointer, origin: AppendOrigin, rules: Rules, scratch: inout [UInt8]
    ) throws(LogError) -> ValidatedBatches {
        guard !bytes.isEmpty else { throw .emptyAppend }
        // The first batch outside the loop: a producer sends one, and the result is then built without an
        // optional to unwrap and copy.
        let first = try validateBatch(bytes, at: 0, index: 0, origin: origin, rules: rules, scratch: &scratch)
        var batches = ValidatedBatches(first.batch)
        var position = first.size
        while position < bytes.count {
            let next = try validateBatch(
                bytes, at: position, index: batches.count, origin: origin, rules: rules, scratch: &scratch)
            batches.append(next.batch)
            position += next.size
        }
        return batches
    }

    /// Validates the batch at `position` of `bytes`, the `index`th of the append.
    @inline(__always)
    private static func validateBatch(
        _ bytes: UnsafeRawBufferPointer, at position: Int, index: Int, origin: AppendOrigin, rules: Rules,
        scratch: inout [UInt8]
    ) throws(LogError) -> (batch: ValidatedBatch, size: Int) {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
        let size: Int
        do { size = try RecordBatch.size(ofBatchAt: rest, maxBatchSize: Int(Int32.max)) } catch {
            throw .invalidBatch(batch: index, reason: error)
        }
        if origin == .client && size > rules.maxMessageBytes {
            throw .batchTooLarge(batch: index, size: size, limit: rules.maxMessageBytes)
        }
        let batch: RecordBatch
        do { batch = try RecordBatch(validating: rest, maxBatchSize: size) } catch {
            throw .invalidBatch(batch: index, reason: error)
        }
        if origin == .client {
            try checkClientRules(batch, index: index, compacted: rules.compacted, scratch: &scratch)
        }
        return (ValidatedBatch(position: position, header: RecordBatchHeader(batch)), size)
    }

    /// What Kafka refuses from producers: empty batches, control batches, offset deltas that are not
    /// 0..<count, and (on compacted topics) records without a key. Uncompressed batches have every record
    /// checked (it keeps garbage out of the log): first by `RecordSkim`, a pointer walk that builds no `Record`;
    /// only a batch it refuses is parsed again record by record, for the exact error. Compressed batches are
    /// inflated only when the topic's rules need the records (compaction).
    private static func checkClientRules(
        _ batch: RecordBatch, index: Int, compacted: Bool, scratch: inout [UInt8]
    ) throws(LogError) {
        guard batch.recordCount > 0 else { throw .invalidRecord(batch: index, reason: "batch holds no records") }
        guard !batch.isControl else {
            throw .invalidRecord(batch: index, reason: "clients may not write control batches")
        }
        guard batch.lastOffsetDelta == batch.recordCount - 1 else {
            throw .invalidRecord(
                batch: index,
                reason: "last offset delta \(batch.lastOffsetDelta) does not match \(batch.recordCount) records")
        }
        guard batch.compression == CompressionCodec.none || compacted else { return }
        if batch.compression == CompressionCodec.none
            && RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: compacted)
        {
            return
        }
        try checkRecords(batch, index: index, keysRequired: compacted, scratch: &scratch)
    }

    /// The full parse of a batch's records (inflated when compressed) with the producer rules on each: offset
    /// deltas 0, 1, 2..., and a key on every record when `keysRequired`. Throws the first violation, naming the
    /// batch by `index`. `RecordSkim` must accept exactly the uncompressed batches this accepts.
    static func checkRecords(
        _ batch: RecordBatch, index: Int, keysRequired: Bool, scratch: inout [UInt8]
    ) throws(LogError) {
        do {
            try batch.withRecords(scratch: &scratch) { iterator in
                var expected: Int32 = 0
                while let record = try iterator.next() {
                    guard record.offsetDelta == expected else {
                        throw LogError.invalidRecord(
                            batch: index, reason: "record \(expected) has offset delta \(record.offsetDelta)")
                    }
                    if keysRequired && record.key == nil {
                        throw LogError.invalidRecord(
                            batch: index, reason: "compacted topic cannot accept a record without a key (offset delta \(expected))")
                    }
                    expected += 1
                }
            }
        } catch let error as LogError {
            throw error
        } catch let error as RecordBatchError {
            throw .invalidBatch(batch: index, reason: error)
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }
}

/// The producer path's check of an uncompressed records section, without building a `Record` per record: each
/// record's length, its fields in order inside it (timestamp delta, offset delta equal to its index, key and
/// value lengths, header count, each header's non-null key and value), ending exactly at the record's end; the
/// records chained exactly to the section's end; as many as the header declares; and, when `keysRequired`
/// (compacted topics), a key on every record.
///
/// It accepts exactly what the full parse (`RecordIterator` plus the validator's offset-delta and key rules)
/// accepts, so a `false` costs one more pass (the full parse, for the error) and a `true` needs none. Kafka's
/// `LogValidator` walks compressed v2 batches with a skip-key-value iterator for the same reason.
enum RecordSkim {
    static func accepts(_ section: UnsafeRawBufferPointer, count: Int, keysRequired: Bool) -> Bool {
        guard count > 0 else { return section.isEmpty }
        guard let base = section.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        let sectionEnd = section.count
        var p = 0
        var index: Int32 = 0
        let last = Int32(truncatingIfNeeded: count - 1)
        guard count <= Int(Int32.max) else { return false }
        // Positions stay within 0...sectionEnd (every advance is checked against an end first), so the
        // arithmetic below cannot overflow and uses wrapping operators.
        while true {
            guard let length = int32(base, &p, sectionEnd), length >= Int32(Record.minimumSize - 1),
                Int(length) <= sectionEnd &- p
            else { return false }
            let end = p &+ Int(length)
            // The fields are walked with their own cursor: the next record starts at `end` whatever they hold, so
            // its length can be read while this record's fields are still being checked.
            var q = p &+ 1  // attributes
            guard skipInt64(base, &q, end),  // timestamp delta
                let offsetDelta = int32(base, &q, end), offsetDelta == index,
                let keyLength = int32(base, &q, end), skipBytes(keyLength, &q, end),
                !keysRequired || keyLength >= 0,
                let valueLength = int32(base, &q, end), skipBytes(valueLength, &q, end),
                let headers = int32(base, &q, end), headers >= 0
            else { return false }
            if headers > 0 {
                for _ in 0..<Int(headers) {
                    guard let key = int32(base, &q, end), key >= 0, skipBytes(key, &q, end),
                        let value = int32(base, &q, end), skipBytes(value, &q, end)
                    else { return false }
                }
            }
            guard q == end else { return false }
            p = end
            if index == last { break }
            index &+= 1
        }
        return p == sectionEnd
    }

    /// Skips a byte string of `length` (-1: null) that must end by `end`.
    @inline(__always)
    private static func skipBytes(_ length: Int32, _ p: inout Int, _ end: Int) -> Bool {
        if length < 0 { return length == -1 }
        guard Int(length) <= end &- p else { return false }
        p &+= Int(length)
        return true
    }

    /// A zigzag varint of at most 5 bytes before `end` whose unsigned value fits 32 bits (as `Varint.readInt32`).
    /// One- and two-byte varints (nearly all of a record's) are read inline.
    @inline(__always)
    private static func int32(_ base: UnsafePointer<UInt8>, _ p: inout Int, _ end: Int) -> Int32? {
        let q = p
        guard q < end else { return nil }
        let first = base[q]
        if first < 0x80 {
            p = q &+ 1
            return Int32(first >> 1) ^ -Int32(first & 1)
        }
        if q &+ 1 < end {
            let second = base[q &+ 1]
            if second < 0x80 {
                p = q &+ 2
                let raw = UInt32(first & 0x7F) | UInt32(second) << 7
                return Int32(bitPattern: raw >> 1) ^ -Int32(bitPattern: raw & 1)
            }
        }
        // Longer ones out of line, returning the new position (an `inout` would keep the cursor in memory).
        guard let (value, next) = int32Slow(base, q, end) else { return nil }
        p = next
        return value
    }

    @inline(never)
    private static func int32Slow(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> (Int32, Int)? {
        var raw: UInt64 = 0
        var shift: UInt64 = 0
        var q = start
        while true {
            guard q < end, shift < 35 else { return nil }
            let byte = base[q]
            q &+= 1
            raw |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift &+= 7
        }
        guard raw <= UInt64(UInt32.max) else { return nil }
        return (Int32(truncatingIfNeeded: Varint.unzigzag(raw)), q)
    }

    /// Skips a varint of at most 10 bytes (an `Int64`, as `Varint.readInt64` reads it) that ends before `end`.
    @inline(__always)
    private static func skipInt64(_ base: UnsafePointer<UInt8>, _ p: inout Int, _ end: Int) -> Bool {
        var q = p
        let limit = min(end, q &+ Varint.maxInt64Bytes)
        while q < limit {
            let byte = base[q]
            q &+= 1
            if byte < 0x80 {
                p = q
                return true
            }
        }
        return false
    }
}
