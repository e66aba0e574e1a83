/// What went wrong in a log operation, with where it happened. The broker maps each case to a Kafka error code
/// (`corruptMessage`, `messageTooLarge`, `invalidRecord`, `offsetOutOfRange`, `kafkaStorageError`).
public enum LogError: Error, Sendable, CustomStringConvertible {
    /// A file operation failed (the log may go offline for writes: see `offline`).
    case io(FileSystemError)
    /// A batch on disk is damaged: `file` and `position` say where.
    case corruptBatch(file: String, position: Int64, reason: RecordBatchError)
    /// A batch in an append is malformed: `batch` is its index within the appended bytes.
    case invalidBatch(batch: Int, reason: RecordBatchError)
    /// A batch in an append is larger than `max.message.bytes`.
    case batchTooLarge(batch: Int, size: Int, limit: Int)
    /// A record violates the topic's rules (a null key on a compacted topic, offsets out of sequence...).
    case invalidRecord(batch: Int, reason: String)
    /// An append with no batches in it.
    case emptyAppend
    /// An idempotent producer's sequence has a gap (OUT_OF_ORDER_SEQUENCE_NUMBER).
    case outOfOrderSequence(batch: Int, reason: String)
    /// An idempotent producer wrote with an epoch older than its current one (INVALID_PRODUCER_EPOCH).
    case invalidProducerEpoch(batch: Int, reason: String)
    /// A read or truncation below the log start or beyond the log end.
    case offsetOutOfRange(offset: Int64, logStartOffset: Int64, logEndOffset: Int64)
    /// The log failed a write earlier and refuses further writes until reopened.
    case offline(reason: String)
    /// The log was closed.
    case closed(directory: String)
    /// The partition directory or its files cannot be understood.
    case invalidDirectory(path: String, reason: String)

    public var description: String {
        switch self {
        case .io(let error): "I/O error: \(error)"
        case .corruptBatch(let file, let position, let reason): "\(file) at byte \(position): \(reason)"
        case .invalidBatch(let batch, let reason): "batch \(batch) of the append: \(reason)"
        case .batchTooLarge(let batch, let size, let limit):
            "batch \(batch) of the append is \(size) bytes, larger than max.message.bytes \(limit)"
        case .invalidRecord(let batch, let reason): "batch \(batch) of the append: \(reason)"
        case .emptyAppend: "append holds no record batch"
        case .outOfOrderSequence(let batch, let reason): "batch \(batch) of the append: out of order sequence: \(reason)"
        case .invalidProducerEpoch(let batch, let reason): "batch \(batch) of the append: invalid producer epoch: \(reason)"
        case .offsetOutOfRange(let offset, let start, let end):
            "offset \(offset) is out of range: the log holds \(start)..<\(end)"
        case .offline(let reason): "log is offline for writes: \(reason)"
        case .closed(let directory): "log \(directory) is closed"
        case .invalidDirectory(let path, let reason): "\(path): \(reason)"
        }
    }
}
