import SamsaLog
import SamsaProtocol

extension LogError {
    /// The Kafka error code a client gets for this failure.
    var kafkaErrorCode: ErrorCode {
        switch self {
        case .invalidBatch, .emptyAppend: .corruptMessage
        case .batchTooLarge: .messageTooLarge
        case .invalidRecord: .invalidRecord
        case .outOfOrderSequence: .outOfOrderSequenceNumber
        case .invalidProducerEpoch: .invalidProducerEpoch
        case .offsetOutOfRange: .offsetOutOfRange
        case .io, .offline, .corruptBatch, .invalidDirectory: .kafkaStorageError
        // A closed log is a partition being deleted (or a broker shutting down): it is not here any more.
        case .closed: .unknownTopicOrPartition
        @unknown default: .unknownServerError
        }
    }
}
