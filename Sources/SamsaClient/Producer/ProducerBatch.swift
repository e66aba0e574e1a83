import NIOCore
import SamsaLog

/// Where the outcome of one record goes.
public enum DeliveryTarget: Sendable {
    /// Nowhere but the producer's delivery handler, if any.
    case none
    /// The producer's delivery handler, with this caller-chosen value (librdkafka's "opaque"): a send time,
    /// an index... Costs nothing per record.
    case opaque(UInt64)
    /// A task awaiting `send`'s result.
    case continuation(CheckedContinuation<RecordMetadata, any Error>)
}

/// Where an acknowledged record landed.
public struct RecordMetadata: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// -1 when the producer does not wait for acknowledgements (acks=0).
    public var offset: Int64
    /// The record's timestamp, or the broker's append time for LogAppendTime topics.
    public var timestamp: Int64

    public init(topic: String, partition: Int32, offset: Int64, timestamp: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
    }
}

/// The outcome of one record, for the producer's delivery handler.
public struct DeliveryReport: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var timestamp: Int64
    public var opaque: UInt64
    public var error: ClientError?
}

/// A closed batch for one partition: its encoded bytes and who to tell about each of its records.
struct ProducerBatch: Sendable {
    let topicPartition: TopicPartition
    var bytes: ByteBuffer
    var recordCount: Int
    var deliveries: [DeliveryTarget]
    var timestamps: [Int64]
    let createdAt: NIODeadline
    /// Bytes charged against `buffer.memory` until the batch completes.
    var memory: Int
    var attempts = 0
    var retryAt: NIODeadline?
    /// The idempotent producer's stamp (-1: none yet).
    private(set) var producerId: Int64 = -1
    private(set) var producerEpoch: Int16 = -1
    private(set) var baseSequence: Int32 = -1
    /// The broker lost this producer's sequence (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID): the batch is
    /// stamped again before it is retried.
    var needsNewSequence = false

    var sizeInBytes: Int { bytes.readableBytes }

    var stampDescription: String {
        "producer id \(producerId), epoch \(producerEpoch), sequence \(baseSequence)"
    }

    /// Writes the producer id, epoch and base sequence into the batch header and recomputes its CRC (which
    /// covers everything from the attributes on). The rest of the batch is untouched.
    mutating func stamp(producerId: Int64, epoch: Int16, baseSequence: Int32) {
        self.producerId = producerId
        self.producerEpoch = epoch
        self.baseSequence = baseSequence
        needsNewSequence = false
        let start = bytes.readerIndex
        precondition(bytes.readableBytes >= RecordBatch.headerSize, "a batch holds at least its header")
        bytes.setInteger(producerId, at: start + RecordBatchLayout.producerId, endianness: .big)
        bytes.setInteger(epoch, at: start + RecordBatchLayout.producerEpoch, endianness: .big)
        bytes.setInteger(baseSequence, at: start + RecordBatchLayout.baseSequence, endianness: .big)
        let crc = bytes.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatchLayout.attributes...]))
        }
        bytes.setInteger(crc, at: start + RecordBatchLayout.crc, endianness: .big)
    }
}

/// Where the v2 batch header's fields sit (Kafka's `DefaultRecordBatch` offsets).
enum RecordBatchLayout {
    static let crc = 17
    static let attributes = 21
    static let producerId = 43
    static let producerEpoch = 51
    static let baseSequence = 53
}

/// The outcome of one batch, to be handed to callers outside any lock.
struct BatchCompletion: Sendable {
    var batch: ProducerBatch
    /// Base offset and log append time on success; the error otherwise.
    var result: Result<(baseOffset: Int64, logAppendTime: Int64), ClientError>

    /// Tells every record's target, and the delivery handler if there is one.
    func deliver(handler: (@Sendable (DeliveryReport) -> Void)?) {
        let tp = batch.topicPartition
        for index in 0..<batch.deliveries.count {
            let timestamp = batch.timestamps[index]
            switch result {
            case .success(let (base, appendTime)):
                let offset = base < 0 ? -1 : base + Int64(index)
                let ts = appendTime >= 0 ? appendTime : timestamp
                switch batch.deliveries[index] {
                case .none:
                    handler?(DeliveryReport(topic: tp.topic, partition: tp.partition, offset: offset, timestamp: ts, opaque: 0, error: nil))
                case .opaque(let opaque):
                    handler?(DeliveryReport(topic: tp.topic, partition: tp.partition, offset: offset, timestamp: ts, opaque: opaque, error: nil))
                case .continuation(let continuation):
                    continuation.resume(returning: RecordMetadata(topic: tp.topic, partition: tp.partition, offset: offset, timestamp: ts))
                }
            case .failure(let error):
                switch batch.deliveries[index] {
                case .none:
                    handler?(DeliveryReport(topic: tp.topic, partition: tp.partition, offset: -1, timestamp: timestamp, opaque: 0, error: error))
                case .opaque(let opaque):
                    handler?(DeliveryReport(topic: tp.topic, partition: tp.partition, offset: -1, timestamp: timestamp, opaque: opaque, error: error))
                case .continuation(let continuation):
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
