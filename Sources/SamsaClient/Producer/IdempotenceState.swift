import NIOCore
import SamsaLog
import SamsaProtocol

/// A producer id and epoch from InitProducerId.
public struct ProducerIdAndEpoch: Sendable, Equatable, CustomStringConvertible {
    public var producerId: Int64
    public var epoch: Int16

    public init(producerId: Int64, epoch: Int16) {
        self.producerId = producerId
        self.epoch = epoch
    }

    public static let none = ProducerIdAndEpoch(producerId: -1, epoch: -1)

    public var description: String { "producer id \(producerId), epoch \(epoch)" }
}

/// The idempotent producer's bookkeeping (the idempotent part of Kafka's `TransactionManager`): the producer
/// id and epoch, each partition's next sequence number, and which partitions have a batch in flight.
///
/// Ordering rule (samsa's choice, simpler than Kafka's five in flight with sequence tracking): **one batch in
/// flight per partition**. A partition's next batch is stamped and sent only once the previous one has its
/// answer, so a retry can never overtake or be overtaken, and a resent batch (the answer was lost) is one the
/// broker recognises by its (producer id, epoch, sequence) and does not write twice. Other partitions, and other
/// partitions' requests to the same broker, proceed in parallel (`max.in.flight.requests.per.connection`).
///
/// Errors, as Kafka's producer treats them:
/// - OUT_OF_ORDER_SEQUENCE_NUMBER and UNKNOWN_PRODUCER_ID: the broker did not write the batch and has lost
///   track of this producer's sequence: a new producer id (or epoch) is requested, the batch is stamped again
///   from sequence 0 and retried (the broker treats a new id or epoch starting at 0 as a fresh start);
/// - DUPLICATE_SEQUENCE_NUMBER: the batch was written before; it counts as delivered;
/// - INVALID_PRODUCER_EPOCH / PRODUCER_FENCED: the batch fails with `producerFenced`, and a new id is requested
///   for what follows;
/// - any other final failure of a stamped batch leaves a gap in the partition's sequence, so a new id is
///   requested before the next batch.
struct IdempotenceState: Sendable {
    struct PartitionSequence: Sendable {
        var idAndEpoch: ProducerIdAndEpoch
        var nextSequence: Int32
    }

    /// The id and epoch new batches are stamped with (`.none` until InitProducerId answered).
    private(set) var current = ProducerIdAndEpoch.none
    /// InitProducerId must be (re)sent before anything else is stamped.
    private(set) var needsProducerId = true
    private var partitions: [TopicPartition: PartitionSequence] = [:]
    /// Partitions with a batch in flight: nothing else of theirs is drained until it completes.
    private(set) var inFlight: Set<TopicPartition> = []

    /// Whether batches may be stamped now.
    var isReady: Bool { !needsProducerId && current != .none }

    mutating func received(_ idAndEpoch: ProducerIdAndEpoch) {
        precondition(idAndEpoch.producerId >= 0 && idAndEpoch.epoch >= 0, "InitProducerId returned \(idAndEpoch)")
        current = idAndEpoch
        needsProducerId = false
    }

    /// Asks for a new producer id (or epoch) before the next batch is stamped.
    mutating func requestNewProducerId() { needsProducerId = true }

    /// Stamps a batch about to be sent (unless it already carries a stamp it must keep: a retry after an answer
    /// that may have been lost), and marks its partition in flight.
    mutating func prepareToSend(_ batch: inout ProducerBatch) {
        precondition(isReady, "stamping before the producer id is known")
        let tp = batch.topicPartition
        precondition(!inFlight.contains(tp), "a second batch of \(tp) in flight")
        if batch.baseSequence < 0 || batch.needsNewSequence {
            var entry = partitions[tp] ?? PartitionSequence(idAndEpoch: current, nextSequence: 0)
            if entry.idAndEpoch != current { entry = PartitionSequence(idAndEpoch: current, nextSequence: 0) }
            batch.stamp(producerId: current.producerId, epoch: current.epoch, baseSequence: entry.nextSequence)
            entry.nextSequence = Self.incrementSequence(entry.nextSequence, by: Int32(batch.recordCount))
            partitions[tp] = entry
        }
        inFlight.insert(tp)
    }

    /// The partition's batch has its answer (whatever it was).
    mutating func completed(_ batch: ProducerBatch) {
        inFlight.remove(batch.topicPartition)
    }

    /// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from Int32.max to 0.
    static func incrementSequence(_ sequence: Int32, by increment: Int32) -> Int32 {
        if sequence > Int32.max - increment { return increment - (Int32.max - sequence) - 1 }
        return sequence + increment
    }

    /// What to do with a batch the broker answered with `code`.
    enum Verdict: Equatable {
        case delivered
        /// Send again as it is.
        case retry
        /// Send again with a new stamp, after a new producer id.
        case retryWithNewSequence
        /// Fail the batch.
        case fail(ClientError)
    }

    /// Kafka's rules for a produce error of an idempotent batch (`retriable` and `canRetry` say whether the
    /// producer's retry budget still allows one).
    mutating func verdict(for code: ErrorCode, batch: ProducerBatch, canRetry: Bool, message: String?) -> Verdict {
        let tp = batch.topicPartition
        switch code {
        case .none, .duplicateSequenceNumber:
            return .delivered
        case .outOfOrderSequenceNumber, .unknownProducerId:
            requestNewProducerId()
            guard canRetry else {
                return .fail(.broker(code, context: "\(tp) (\(batch.stampDescription))", message: message))
            }
            return .retryWithNewSequence
        case .invalidProducerEpoch, .producerFenced:
            requestNewProducerId()
            return .fail(.producerFenced(
                topic: tp.topic, partition: tp.partition,
                reason: "\(code.name ?? "error \(code.rawValue)"): the broker refused \(batch.stampDescription); the batch is not written"))
        default:
            if code.isRetriable && canRetry { return .retry }
            requestNewProducerId()
            return .fail(.broker(code, context: "\(tp)", message: message))
        }
    }
}
