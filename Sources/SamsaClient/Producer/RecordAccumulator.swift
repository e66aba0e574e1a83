import NIOCore
import SamsaLog

/// The producer's batches waiting to be sent, per partition: Kafka's `RecordAccumulator`.
///
/// Records are encoded into the partition's open batch as they arrive (one reused buffer per partition, no
/// allocation per record). A batch closes when the next record would take it past `batch.size`; it is sent
/// when it is closed, full, older than `linger.ms`, or when the producer flushes or closes. All of it is
/// plain state with the time passed in, so that its rules can be tested without a clock or a network; the
/// producer guards it with a lock. A partition's queue (and its builder's buffer, grown once) lives as long as
/// the accumulator, so that a steady stream of batches allocates nothing per record.
struct RecordAccumulator {
    struct Settings {
        var batchSizeBytes: Int
        var linger: TimeAmount
        var compression: CompressionCodec
        var compressionLevel: Int?
        var maxRequestSizeBytes: Int
        var bufferMemoryBytes: Int
        var deliveryTimeout: TimeAmount
        var retryBackoff: TimeAmount
    }

    private struct OpenBatch {
        var builder: RecordBatchBuilder
        var deliveries: [DeliveryTarget] = []
        var timestamps: [Int64] = []
        var createdAt = NIODeadline.uptimeNanoseconds(0)
        var memory = 0
    }

    private struct PartitionQueue {
        var open: OpenBatch
        var closed = CircularBuffer<ProducerBatch>()
    }

    let settings: Settings
    private var queues: [TopicPartition: PartitionQueue] = [:]
    /// Partitions in the order they first appeared; draining starts at a rotating index for fairness.
    private var order: [TopicPartition] = []
    private var drainStart = 0
    /// Bytes of records appended and not yet completed (in batches here or in flight).
    private(set) var bufferedBytes = 0
    /// Records waiting here (open and closed batches), not counting those in flight.
    private(set) var queuedRecords = 0

    init(settings: Settings) {
        self.settings = settings
    }

    /// The size a record takes in a batch, at most (the timestamp delta counted at its widest).
    static func maxRecordSize(keyCount: Int?, valueCount: Int?, headers: [RecordHeader]) -> Int {
        var body = 1 + Varint.maxInt64Bytes + Varint.maxInt32Bytes
        body += keyCount.map { Varint.size(of: Int64($0)) + $0 } ?? 1
        body += valueCount.map { Varint.size(of: Int64($0)) + $0 } ?? 1
        body += Varint.size(of: Int64(headers.count))
        for header in headers {
            let k = header.key.utf8.count
            body += Varint.size(of: Int64(k)) + k
            body += header.value.map { Varint.size(of: Int64($0.count)) + $0.count } ?? 1
        }
        return Varint.size(of: Int64(body)) + body
    }

    /// Whether a record of `recordSize` bytes may be accepted now (buffer memory), and whether it ever can.
    func admission(recordSize: Int) -> Admission {
        let single = RecordBatch.headerSize + recordSize
        if single > settings.maxRequestSizeBytes { return .tooLarge(limit: settings.maxRequestSizeBytes) }
        if single > settings.bufferMemoryBytes { return .tooLarge(limit: settings.bufferMemoryBytes) }
        return bufferedBytes + recordSize <= settings.bufferMemoryBytes ? .accept : .wait
    }

    enum Admission: Equatable { case accept, wait, tooLarge(limit: Int) }

    struct AppendResult {
        /// The partition's previous batch was closed to make room (a sticky partitioner moves on).
        var closedBatch = false
        /// The open batch has reached `batch.size`: the sender should wake now.
        var batchFull = false
        /// This record started a new batch (the sender must learn of its linger deadline).
        var newBatch = false
    }

    /// Appends a record to its partition's open batch.
    mutating func append(
        _ tp: TopicPartition, timestamp: Int64, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [RecordHeader], target: DeliveryTarget, now: NIODeadline
    ) -> AppendResult {
        var result = AppendResult()
        var queue: PartitionQueue
        if let existing = queues.removeValue(forKey: tp) {
            queue = existing
        } else {
            queue = PartitionQueue(open: OpenBatch(builder: makeBuilder()))
            order.append(tp)
        }
        let recordSize = Self.maxRecordSize(keyCount: key?.count, valueCount: value?.count, headers: headers)
        if !queue.open.builder.isEmpty && queue.open.builder.estimatedSize + recordSize > settings.batchSizeBytes {
            closeOpenBatch(&queue, tp)
            result.closedBatch = true
        }
        if queue.open.builder.isEmpty {
            queue.open.createdAt = now
            result.newBatch = true
        }
        let before = queue.open.builder.estimatedSize
        queue.open.builder.append(timestamp: timestamp, key: key, value: value, headers: headers)
        let charged = queue.open.builder.estimatedSize - before
        queue.open.memory += charged
        queue.open.deliveries.append(target)
        queue.open.timestamps.append(timestamp)
        bufferedBytes += charged
        queuedRecords += 1
        result.batchFull = queue.open.builder.estimatedSize >= settings.batchSizeBytes
        queues[tp] = queue
        return result
    }

    private func makeBuilder() -> RecordBatchBuilder {
        RecordBatchBuilder(codec: settings.compression, compressionLevel: settings.compressionLevel)
    }

    private mutating func closeOpenBatch(_ tp: TopicPartition) {
        guard var queue = queues.removeValue(forKey: tp) else { return }
        closeOpenBatch(&queue, tp)
        queues[tp] = queue
    }

    /// Encodes the partition's open batch and queues it for sending. A compression failure fails its records.
    private mutating func closeOpenBatch(_ queue: inout PartitionQueue, _ tp: TopicPartition) {
        guard !queue.open.builder.isEmpty else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(queue.open.builder.estimatedSize)
        var failure: ClientError?
        do {
            try queue.open.builder.build(into: &bytes)
        } catch {
            failure = .invalidConfig(name: "compression.type", value: settings.compression.name, reason: "\(error)")
        }
        let batch = ProducerBatch(
            topicPartition: tp, bytes: ByteBuffer(bytes: bytes), recordCount: queue.open.deliveries.count,
            deliveries: queue.open.deliveries, timestamps: queue.open.timestamps, createdAt: queue.open.createdAt,
            memory: queue.open.memory)
        queue.open.builder.reset()
        queue.open.deliveries = []
        queue.open.timestamps = []
        queue.open.memory = 0
        if let failure {
            queuedRecords -= batch.recordCount
            release(batch)
            failedAtClose.append(BatchCompletion(batch: batch, result: .failure(failure)))
        } else {
            queue.closed.append(batch)
        }
    }

    /// Batches that failed while being closed (compression errors), to be reported by the caller.
    private(set) var failedAtClose: [BatchCompletion] = []

    mutating func takeFailedAtClose() -> [BatchCompletion] {
        defer { failedAtClose = [] }
        return failedAtClose
    }

    /// Whether anything is waiting here.
    var isEmpty: Bool { queuedRecords == 0 }

    struct Drained {
        /// The batches to send, by leader.
        var requests: [Int32: [ProducerBatch]] = [:]
        /// Batches that outlived `delivery.timeout.ms`.
        var expired: [BatchCompletion] = []
        /// Topics with a partition whose leader is unknown: their metadata needs refreshing.
        var unknownLeaderTopics: Set<String> = []
        /// The next time something here becomes sendable (a linger or retry backoff ends); nil if nothing waits.
        var nextCheck: NIODeadline?
    }

    /// Takes the batches that are ready: for each leader that `canSend`, at most one batch per partition (of
    /// the partitions that are `partitionReady`), up to `max.request.size` bytes in all. `flushing` makes every
    /// batch ready at once.
    mutating func drain(
        now: NIODeadline, flushing: Bool, leader: (TopicPartition) -> Int32?, canSend: (Int32) -> Bool,
        partitionReady: (TopicPartition) -> Bool = { _ in true }
    ) -> Drained {
        var drained = Drained()
        var requestBytes: [Int32: Int] = [:]
        var nodeBlocked: Set<Int32> = []
        let count = order.count
        guard count > 0 else { return drained }
        let start = drainStart % count
        drainStart = (drainStart + 1) % max(count, 1)
        for step in 0..<count {
            let tp = order[(start + step) % count]
            expire(tp, now: now, into: &drained.expired)
            // The open batch joins the closed ones when its linger is over, it is full, or on flush. (Read
            // through the dictionary, not a copy, so that the builder's buffer stays uniquely owned.)
            guard queues[tp] != nil else { continue }
            if !queues[tp]!.open.builder.isEmpty {
                let deadline = queues[tp]!.open.createdAt + settings.linger
                if flushing || now >= deadline || queues[tp]!.open.builder.estimatedSize >= settings.batchSizeBytes
                    || bufferedBytes >= settings.bufferMemoryBytes {
                    closeOpenBatch(tp)
                } else {
                    drained.nextCheck = Self.earliest(drained.nextCheck, deadline)
                }
            }
            guard let head = queues[tp]?.closed.first else { continue }
            // The idempotent producer keeps one batch per partition in flight; the answer wakes the sender.
            guard partitionReady(tp) else { continue }
            if let retryAt = head.retryAt, retryAt > now {
                drained.nextCheck = Self.earliest(drained.nextCheck, retryAt)
                continue
            }
            guard let node = leader(tp) else {
                drained.unknownLeaderTopics.insert(tp.topic)
                continue
            }
            if nodeBlocked.contains(node) { continue }
            guard canSend(node) else {
                nodeBlocked.insert(node)
                continue
            }
            let used = requestBytes[node, default: 0]
            if used > 0 && used + head.sizeInBytes > settings.maxRequestSizeBytes { continue }
            let batch = queues[tp]!.closed.removeFirst()
            queuedRecords -= batch.recordCount
            requestBytes[node] = used + batch.sizeInBytes
            drained.requests[node, default: []].append(batch)
            // Another batch waiting behind this one is ready for the next request.
            if let next = queues[tp]?.closed.first {
                drained.nextCheck = Self.earliest(drained.nextCheck, next.retryAt ?? now)
            }
        }
        return drained
    }

    /// Fails the partition's waiting batches that are older than `delivery.timeout.ms`.
    private mutating func expire(_ tp: TopicPartition, now: NIODeadline, into expired: inout [BatchCompletion]) {
        guard queues[tp] != nil else { return }
        let limit = settings.deliveryTimeout
        let timeoutMs = limit.nanoseconds / 1_000_000
        if let head = queues[tp]!.closed.first, now - head.createdAt >= limit {
            var remaining = CircularBuffer<ProducerBatch>()
            for batch in queues[tp]!.closed {
                if now - batch.createdAt >= limit {
                    queuedRecords -= batch.recordCount
                    release(batch)
                    expired.append(BatchCompletion(
                        batch: batch, result: .failure(.deliveryTimedOut(topic: tp.topic, partition: tp.partition, afterMs: timeoutMs))))
                } else {
                    remaining.append(batch)
                }
            }
            queues[tp]!.closed = remaining
        }
        if !queues[tp]!.open.builder.isEmpty, now - queues[tp]!.open.createdAt >= limit {
            let before = queues[tp]!.closed.count
            closeOpenBatch(tp)
            if queues[tp]!.closed.count > before, let batch = queues[tp]!.closed.popLast() {
                queuedRecords -= batch.recordCount
                release(batch)
                expired.append(BatchCompletion(
                    batch: batch, result: .failure(.deliveryTimedOut(topic: tp.topic, partition: tp.partition, afterMs: timeoutMs))))
            }
        }
    }

    /// Puts a batch that failed with a retriable error back at the front of its queue, to be sent after the
    /// retry backoff.
    mutating func reenqueue(_ batch: ProducerBatch, now: NIODeadline) {
        var batch = batch
        batch.attempts += 1
        batch.retryAt = now + settings.retryBackoff
        let tp = batch.topicPartition
        if queues[tp] == nil {
            queues[tp] = PartitionQueue(open: OpenBatch(builder: makeBuilder()))
            order.append(tp)
        }
        queues[tp]!.closed.prepend(batch)
        queuedRecords += batch.recordCount
    }

    /// Returns a completed batch's bytes to the buffer memory.
    mutating func release(_ batch: ProducerBatch) {
        bufferedBytes -= batch.memory
        precondition(bufferedBytes >= 0, "buffer memory accounting went negative")
    }

    /// Fails everything waiting here (the producer is closing without flushing, or hit a fatal error).
    mutating func abortAll(_ error: ClientError) -> [BatchCompletion] {
        var failed: [BatchCompletion] = []
        for tp in order {
            closeOpenBatch(tp)
            while let batch = queues[tp]?.closed.popFirst() {
                queuedRecords -= batch.recordCount
                release(batch)
                failed.append(BatchCompletion(batch: batch, result: .failure(error)))
            }
        }
        queues = [:]
        order = []
        return failed + takeFailedAtClose()
    }

    /// How many batches wait for `tp` (closed ones, plus the open one if it has records).
    func batchCount(_ tp: TopicPartition) -> Int {
        guard let queue = queues[tp] else { return 0 }
        return queue.closed.count + (queue.open.builder.isEmpty ? 0 : 1)
    }

    private static func earliest(_ a: NIODeadline?, _ b: NIODeadline) -> NIODeadline {
        guard let a else { return b }
        return min(a, b)
    }
}

