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

/// Checks appended batches before they reach a segment (Kafka's `LogValidator`): the format, the CRC, the size
/// limit, and the topic's record rules. Nothing is written here.
enum LogValidator {
    static func validate(
        _ bytes: UnsafeRawBufferPointer, origin: AppendOrigin, config: LogConfig, scratch: inout [UInt8]
    ) throws(LogError) -> [ValidatedBatch] {
        guard !bytes.isEmpty else { throw .emptyAppend }
        var batches: [ValidatedBatch] = []
        var position = 0
        while position < bytes.count {
            let index = batches.count
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            let size: Int
            do { size = try RecordBatch.size(ofBatchAt: rest, maxBatchSize: Int(Int32.max)) } catch {
                throw .invalidBatch(batch: index, reason: error)
            }
            if origin == .client && size > config.maxMessageBytes {
                throw .batchTooLarge(batch: index, size: size, limit: config.maxMessageBytes)
            }
            let batch: RecordBatch
            do { batch = try RecordBatch(validating: rest, maxBatchSize: size) } catch {
                throw .invalidBatch(batch: index, reason: error)
            }
            if origin == .client {
                try checkClientRules(batch, index: index, config: config, scratch: &scratch)
            }
            batches.append(ValidatedBatch(position: position, header: RecordBatchHeader(batch)))
            position += size
        }
        return batches
    }

    /// What Kafka refuses from producers: empty batches, control batches, offset deltas that are not
    /// 0..<count, and (on compacted topics) records without a key. Uncompressed batches have every record
    /// parsed (cheap, and it keeps garbage out of the log); compressed ones are inflated only when the topic's
    /// rules need the records (compaction).
    private static func checkClientRules(
        _ batch: RecordBatch, index: Int, config: LogConfig, scratch: inout [UInt8]
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
        let compacted = config.cleanupPolicy.compacts
        guard batch.compression == CompressionCodec.none || compacted else { return }
        do {
            try batch.withRecords(scratch: &scratch) { iterator in
                var expected: Int32 = 0
                while let record = try iterator.next() {
                    guard record.offsetDelta == expected else {
                        throw LogError.invalidRecord(
                            batch: index, reason: "record \(expected) has offset delta \(record.offsetDelta)")
                    }
                    if compacted && record.key == nil {
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
