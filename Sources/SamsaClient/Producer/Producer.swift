import NIOCore
import NIOPosix
import SamsaLog
import SamsaProtocol
import Synchronization

/// A Kafka producer: records are batched per partition (`batch.size`, `linger.ms`), compressed, and sent
/// to each partition's leader by a background sender, at most `max.in.flight.requests.per.connection`
/// requests per broker. Retriable errors are retried (after `retry.backoff.ms`, within
/// `delivery.timeout.ms`); others fail the records they concern.
///
/// ```swift
/// let producer = Producer(config: ProducerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092")))
/// let where = try await producer.sendAndWait(topic: "orders", key: Array("k".utf8), value: Array("v".utf8))
/// print(where.partition, where.offset)
/// try await producer.send(topic: "orders", key: nil, value: payload)   // queued; completes later
/// await producer.close()                                                // sends what is queued
/// ```
///
/// For throughput, `send` only queues the record: outcomes go to the delivery handler given at creation,
/// with the `opaque` value the caller chose for each record (no allocation per record).
public final class Producer: Sendable {
    public let config: ProducerConfig
    public let cluster: Cluster
    private let deliveryHandler: (@Sendable (DeliveryReport) -> Void)?
    private let state: Mutex<State>
    private let wakeup: Wakeup
    private let eventLoop: any EventLoop
    private let sender = Mutex<Task<Void, Never>?>(nil)

    private struct State {
        var accumulator: RecordAccumulator
        var metadata = ClusterMetadata()
        var sticky = StickyPartitions()
        var inFlightRequests: [Int32: Int] = [:]
        var inFlightRecords = 0
        var flushing = 0
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        var memoryWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterId: UInt64 = 0
        var closing = false
        var closed = false
        var refreshingMetadata = false
        var senderStarted = false
        /// The idempotent producer's ids and sequences (nil: `enable.idempotence` is off).
        var idempotence: IdempotenceState?
        /// A failure after which nothing can be sent (InitProducerId refused, contradictory settings).
        var fatal: ClientError?

        var isIdle: Bool { accumulator.isEmpty && inFlightRecords == 0 }
    }

    public init(
        config: ProducerConfig, deliveryHandler: (@Sendable (DeliveryReport) -> Void)? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.config = config
        self.cluster = Cluster(config: config.client, group: group)
        self.deliveryHandler = deliveryHandler
        self.eventLoop = group.next()
        self.wakeup = Wakeup(eventLoop: eventLoop)
        let settings = RecordAccumulator.Settings(
            batchSizeBytes: config.batchSizeBytes, linger: .milliseconds(config.lingerMs),
            compression: config.compression, compressionLevel: config.compressionLevel,
            maxRequestSizeBytes: config.maxRequestSizeBytes, bufferMemoryBytes: config.bufferMemoryBytes,
            deliveryTimeout: .milliseconds(config.deliveryTimeoutMs), retryBackoff: .milliseconds(config.retryBackoffMs))
        var initial = State(accumulator: RecordAccumulator(settings: settings))
        if config.enableIdempotence { initial.idempotence = IdempotenceState() }
        do { try config.validate() } catch { initial.fatal = error }
        self.state = Mutex(initial)
    }

    /// The producer id and epoch in use (`.none` before the first InitProducerId, or without idempotence).
    public var producerIdAndEpoch: ProducerIdAndEpoch {
        state.withLock { $0.idempotence?.current ?? .none }
    }

    // MARK: Sending

    /// Queues a record for its partition (chosen by key, or sticky when there is no key, unless given).
    /// Returns once the record is in a batch; its outcome goes to `target` (and the delivery handler).
    /// Waits up to `max.block.ms` for the topic's metadata and for buffer memory.
    public func send(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [],
        timestamp: Int64? = nil, target: DeliveryTarget = .none
    ) async throws(ClientError) {
        let start = NIODeadline.now()
        let deadline = start + .milliseconds(config.maxBlockMs)
        let topicMetadata = try await topicMetadata(topic, deadline: deadline)
        let partitionCount = topicMetadata.partitions.count
        if let partition, partition < 0 || Int(partition) >= partitionCount {
            throw .unknownPartition(topic: topic, partition: partition)
        }
        let recordSize = RecordAccumulator.maxRecordSize(keyCount: key?.count, valueCount: value?.count, headers: headers)
        let timestamp = timestamp ?? currentTimeMillis()
        while true {
            let outcome: SendOutcome = state.withLock { state in
                if state.closing || state.closed { return .closed }
                if let fatal = state.fatal { return .failed(fatal) }
                switch state.accumulator.admission(recordSize: recordSize) {
                case .tooLarge(let limit): return .tooLarge(limit)
                case .wait: return .wait
                case .accept: break
                }
                let chosen: Int32
                if let partition {
                    chosen = partition
                } else if let key {
                    chosen = Partitioner.partition(forKey: key, partitionCount: partitionCount)
                } else {
                    chosen = state.sticky.partition(topic: topic, partitionCount: partitionCount)
                }
                let tp = TopicPartition(topic, chosen)
                let result = key.withRawBytes { keyBytes in
                    value.withRawBytes { valueBytes in
                        state.accumulator.append(
                            tp, timestamp: timestamp, key: keyBytes, value: valueBytes, headers: headers, target: target,
                            now: start)
                    }
                }
                if result.closedBatch && key == nil && partition == nil {
                    state.sticky.next(topic: topic, previous: chosen, partitionCount: partitionCount)
                }
                let start = !state.senderStarted
                state.senderStarted = true
                return .appended(wake: result.batchFull || result.newBatch || result.closedBatch, startSender: start)
            }
            switch outcome {
            case .closed:
                throw .closed
            case .failed(let error):
                throw error
            case .tooLarge(let limit):
                throw .recordTooLarge(size: RecordBatch.headerSize + recordSize, limit: limit)
            case .appended(let wake, let startSender):
                if startSender { startSenderTask() }
                if wake { wakeup.signal() }
                return
            case .wait:
                guard NIODeadline.now() < deadline else {
                    throw .timedOut(what: "Failed to allocate \(recordSize) bytes within the configured max blocking time", afterMs: config.maxBlockMs)
                }
                wakeup.signal()
                await waitForMemory(recordSize: recordSize, until: deadline)
            }
        }
    }

    private enum SendOutcome { case appended(wake: Bool, startSender: Bool), wait, tooLarge(Int), closed, failed(ClientError) }

    /// Sends a record and waits for its acknowledgement.
    @discardableResult
    public func sendAndWait(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [],
        timestamp: Int64? = nil
    ) async throws(ClientError) -> RecordMetadata {
        do {
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RecordMetadata, any Error>) in
                Task {
                    do {
                        try await self.send(
                            topic: topic, partition: partition, key: key, value: value, headers: headers,
                            timestamp: timestamp, target: .continuation(continuation))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } catch {
            throw (error as? ClientError) ?? .protocolViolation("\(error)")
        }
    }

    /// Sends everything queued now and waits until each record has its outcome.
    public func flush() async {
        let idle: Bool = state.withLock { state in
            if state.isIdle { return true }
            state.flushing += 1
            return false
        }
        if idle { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.isIdle { return true }
                state.flushWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
            wakeup.signal()
        }
        state.withLock { $0.flushing -= 1 }
    }

    /// Sends what is queued (unless `flush` is false: then queued records fail with `closed`), waits for the
    /// outcomes, and closes the connections.
    public func close(flush: Bool = true) async {
        let failed: [BatchCompletion] = state.withLock { state in
            state.closing = true
            return flush ? [] : state.accumulator.abortAll(.closed)
        }
        for completion in failed { completion.deliver(handler: deliveryHandler) }
        wakeup.signal()
        if flush { await self.flush() }
        let task = sender.withLock { $0 }
        wakeup.signal()
        await task?.value
        state.withLock { $0.closed = true }
        await cluster.close()
    }

    // MARK: Metadata

    private func topicMetadata(_ topic: String, deadline: NIODeadline) async throws(ClientError) -> TopicMetadata {
        if let known = state.withLock({ $0.metadata.topics[topic] }), !known.partitions.isEmpty { return known }
        var lastError: ClientError?
        while NIODeadline.now() < deadline {
            do {
                let metadata = try await cluster.refreshMetadata(topics: [topic], allowAutoTopicCreation: true)
                state.withLock { $0.metadata = metadata }
                if let topicMetadata = metadata.topics[topic], !topicMetadata.partitions.isEmpty {
                    return topicMetadata
                }
            } catch {
                lastError = error
                if !error.isRetriable { throw error }
            }
            try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
        }
        if let lastError, case .connectionFailed = lastError { throw lastError }
        throw .timedOut(what: "Topic \(topic) not present in metadata", afterMs: config.maxBlockMs)
    }

    private func refreshLeaders(_ topics: Set<String>) {
        let start = state.withLock { state in
            defer { state.refreshingMetadata = true }
            return !state.refreshingMetadata
        }
        guard start else { return }
        Task {
            let metadata = try? await cluster.refreshMetadata(topics: Array(topics))
            state.withLock { state in
                if let metadata { state.metadata = metadata }
                state.refreshingMetadata = false
            }
            wakeup.signal()
        }
    }

    // MARK: The sender

    /// Idempotence: a producer id before anything is stamped (asked for only once something waits to be sent).
    /// Returns false when the sender should go round again (after a backoff).
    private func ensureProducerId() async -> Bool {
        let needed: Bool = state.withLock { state in
            guard let idempotence = state.idempotence, state.fatal == nil, idempotence.needsProducerId else { return false }
            return !state.accumulator.isEmpty
        }
        guard needed else { return true }
        do throws(ClientError) {
            let connection = try await cluster.anyConnection()
            // Always a fresh id (-1/-1): every broker answers that the same way, and sequences restart at 0.
            let response = try await connection.request(InitProducerIdRequest(
                transactionalId: nil, transactionTimeoutMs: Int32.max, producerId: -1, producerEpoch: -1))
            if response.errorCode == .none {
                let received = ProducerIdAndEpoch(producerId: response.producerId, epoch: response.producerEpoch)
                guard received.producerId >= 0, received.epoch >= 0 else {
                    throw ClientError.protocolViolation("InitProducerId answered \(received)")
                }
                state.withLock { $0.idempotence!.received(received) }
                return true
            }
            let error = ClientError.broker(response.errorCode, context: "InitProducerId", message: nil)
            if !response.errorCode.isRetriable { throw error }
        } catch {
            if !error.isRetriable {
                failFatally(.invalidConfig(
                    name: "enable.idempotence", value: "true", reason: "the broker gives no producer id: \(error)"))
                return true
            }
        }
        try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
        return false
    }

    /// Nothing more can be sent: every queued record fails with `error`, and so does every later `send`.
    private func failFatally(_ error: ClientError) {
        let failed: [BatchCompletion] = state.withLock { state in
            if state.fatal == nil { state.fatal = error }
            return state.accumulator.abortAll(error)
        }
        finish(failed)
    }

    private func startSenderTask() {
        let task = Task { await self.runSender() }
        sender.withLock { $0 = task }
    }

    private func runSender() async {
        let maxInFlight = config.maxInFlightRequestsPerConnection
        while true {
            if await !ensureProducerId() { continue }
            let now = NIODeadline.now()
            let (drained, finished, failedAtClose): (RecordAccumulator.Drained, Bool, [BatchCompletion]) = state.withLock { state in
                let metadata = state.metadata
                let inFlight = state.inFlightRequests
                if let idempotence = state.idempotence, !idempotence.isReady, state.fatal == nil {
                    return (RecordAccumulator.Drained(), false, [])
                }
                let busy = state.idempotence?.inFlight ?? []
                var drained = state.accumulator.drain(
                    now: now, flushing: state.flushing > 0 || state.closing,
                    leader: { metadata.leader(topic: $0.topic, partition: $0.partition) },
                    canSend: { inFlight[$0, default: 0] < maxInFlight },
                    partitionReady: { !busy.contains($0) })
                if state.idempotence != nil {
                    for node in drained.requests.keys {
                        for i in drained.requests[node]!.indices { state.idempotence!.prepareToSend(&drained.requests[node]![i]) }
                    }
                    // A stamped batch that expired leaves a gap in its partition's sequence.
                    if drained.expired.contains(where: { $0.batch.baseSequence >= 0 }) {
                        state.idempotence!.requestNewProducerId()
                    }
                }
                for (node, batches) in drained.requests {
                    state.inFlightRequests[node, default: 0] += 1
                    state.inFlightRecords += batches.reduce(0) { $0 + $1.recordCount }
                }
                let failed = state.accumulator.takeFailedAtClose()
                return (drained, state.closing && state.isIdle, failed)
            }
            let completions = drained.expired + failedAtClose
            if !completions.isEmpty { finish(completions) }
            if !drained.unknownLeaderTopics.isEmpty { refreshLeaders(drained.unknownLeaderTopics) }
            for (node, batches) in drained.requests {
                await transmit(batches, to: node)
            }
            if finished { return }
            var next = drained.nextCheck
            if !drained.unknownLeaderTopics.isEmpty {
                let retry = NIODeadline.now() + .milliseconds(config.retryBackoffMs)
                next = next.map { min($0, retry) } ?? retry
            }
            if !drained.requests.isEmpty { continue }
            await wakeup.wait(until: next)
        }
    }

    private func transmit(_ batches: [ProducerBatch], to node: Int32) async {
        let connection: BrokerConnection
        do {
            connection = try await cluster.connection(to: node)
        } catch {
            handleFailure(batches, node: node, error: error, connection: nil)
            return
        }
        var byTopic: [String: [ProduceRequest.PartitionProduceData]] = [:]
        for batch in batches {
            byTopic[batch.topicPartition.topic, default: []].append(
                ProduceRequest.PartitionProduceData(index: batch.topicPartition.partition, records: batch.bytes))
        }
        let request = ProduceRequest(
            transactionalId: nil, acks: config.acks, timeoutMs: Int32(clamping: config.client.requestTimeoutMs),
            topicData: byTopic.map { ProduceRequest.TopicProduceData(name: $0.key, partitionData: $0.value) })
        if config.acks == 0 {
            connection.sendWithoutResponse(request).whenComplete { result in
                switch result {
                case .success:
                    self.handleSuccess(batches, node: node, offsets: [:])
                case .failure(let error):
                    self.handleFailure(batches, node: node, error: Self.clientError(error), connection: connection)
                }
            }
        } else {
            connection.send(request).whenComplete { result in
                switch result {
                case .success(let response):
                    self.handleResponse(batches, node: node, response: response)
                case .failure(let error):
                    self.handleFailure(batches, node: node, error: Self.clientError(error), connection: connection)
                }
            }
        }
    }

    private static func clientError(_ error: any Error) -> ClientError {
        (error as? ClientError) ?? .protocolViolation("\(error)")
    }

    /// acks=0: every batch is done, offsets unknown.
    private func handleSuccess(_ batches: [ProducerBatch], node: Int32, offsets: [TopicPartition: Int64]) {
        var completions: [BatchCompletion] = []
        state.withLock { state in
            state.inFlightRequests[node, default: 1] -= 1
            for batch in batches {
                state.inFlightRecords -= batch.recordCount
                state.accumulator.release(batch)
                completions.append(BatchCompletion(batch: batch, result: .success((-1, -1))))
            }
        }
        finish(completions)
    }

    private func handleResponse(_ batches: [ProducerBatch], node: Int32, response: ProduceResponse) {
        var results: [TopicPartition: ProduceResponse.PartitionProduceResponse] = [:]
        for topic in response.responses {
            for partition in topic.partitionResponses {
                results[TopicPartition(topic.name, partition.index)] = partition
            }
        }
        var completions: [BatchCompletion] = []
        var staleTopics: Set<String> = []
        let now = NIODeadline.now()
        let deliveryTimeout = TimeAmount.milliseconds(config.deliveryTimeoutMs)
        state.withLock { state in
            state.inFlightRequests[node, default: 1] -= 1
            for batch in batches {
                state.inFlightRecords -= batch.recordCount
                state.idempotence?.completed(batch)
                let tp = batch.topicPartition
                guard let result = results[tp] else {
                    state.accumulator.release(batch)
                    state.idempotence?.requestNewProducerId()
                    completions.append(BatchCompletion(
                        batch: batch, result: .failure(.protocolViolation("Produce response does not mention \(tp)"))))
                    continue
                }
                if state.idempotence != nil {
                    if result.errorCode.invalidatesMetadata { staleTopics.insert(tp.topic) }
                    let canRetry = batch.attempts < config.retries && now - batch.createdAt < deliveryTimeout && state.fatal == nil
                    switch state.idempotence!.verdict(for: result.errorCode, batch: batch, canRetry: canRetry, message: result.errorMessage) {
                    case .delivered:
                        state.accumulator.release(batch)
                        completions.append(BatchCompletion(batch: batch, result: .success((result.baseOffset, result.logAppendTimeMs))))
                    case .retry:
                        state.accumulator.reenqueue(batch, now: now)
                    case .retryWithNewSequence:
                        var again = batch
                        again.needsNewSequence = true
                        state.accumulator.reenqueue(again, now: now)
                    case .fail(let error):
                        state.accumulator.release(batch)
                        completions.append(BatchCompletion(batch: batch, result: .failure(error)))
                    }
                    continue
                }
                if result.errorCode == .none {
                    state.accumulator.release(batch)
                    completions.append(BatchCompletion(batch: batch, result: .success((result.baseOffset, result.logAppendTimeMs))))
                    continue
                }
                if result.errorCode.invalidatesMetadata { staleTopics.insert(tp.topic) }
                if result.errorCode.isRetriable && batch.attempts < config.retries && now - batch.createdAt < deliveryTimeout {
                    state.accumulator.reenqueue(batch, now: now)
                } else {
                    state.accumulator.release(batch)
                    completions.append(BatchCompletion(
                        batch: batch,
                        result: .failure(.broker(result.errorCode, context: "\(tp)", message: result.errorMessage))))
                }
            }
        }
        if !staleTopics.isEmpty {
            let topics = staleTopics
            Task {
                for topic in topics { await self.cluster.invalidate(topic: topic) }
            }
            refreshLeaders(staleTopics)
        }
        finish(completions)
    }

    /// The request failed as a whole (no connection, closed, timed out): retry each batch if it may be.
    private func handleFailure(_ batches: [ProducerBatch], node: Int32, error: ClientError, connection: BrokerConnection?) {
        if let connection { Task { await self.cluster.forget(connection) } }
        var completions: [BatchCompletion] = []
        let now = NIODeadline.now()
        let deliveryTimeout = TimeAmount.milliseconds(config.deliveryTimeoutMs)
        state.withLock { state in
            state.inFlightRequests[node, default: 1] -= 1
            for batch in batches {
                state.inFlightRecords -= batch.recordCount
                state.idempotence?.completed(batch)
                // A resent idempotent batch keeps its stamp: if the lost answer was a success, the broker knows it.
                if error.isRetriable && batch.attempts < config.retries && now - batch.createdAt < deliveryTimeout
                    && !state.closed && state.fatal == nil {
                    state.accumulator.reenqueue(batch, now: now)
                } else {
                    state.accumulator.release(batch)
                    if batch.baseSequence >= 0 { state.idempotence?.requestNewProducerId() }
                    completions.append(BatchCompletion(batch: batch, result: .failure(error)))
                }
            }
        }
        finish(completions)
    }

    /// Delivers outcomes, then wakes whoever waits on memory, flushes, or the sender.
    private func finish(_ completions: [BatchCompletion]) {
        for completion in completions { completion.deliver(handler: deliveryHandler) }
        let (memory, flushed): ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) = state.withLock { state in
            let memory = Array(state.memoryWaiters.values)
            state.memoryWaiters = [:]
            var flushed: [CheckedContinuation<Void, Never>] = []
            if state.isIdle {
                flushed = state.flushWaiters
                state.flushWaiters = []
            }
            return (memory, flushed)
        }
        for waiter in memory { waiter.resume() }
        for waiter in flushed { waiter.resume() }
        wakeup.signal()
    }

    /// Waits until a completion frees memory (or `deadline`). The check and the registration happen under one
    /// lock, so a release in between cannot be missed.
    private func waitForMemory(recordSize: Int, until deadline: NIODeadline) async {
        let id: UInt64 = state.withLock { state in
            defer { state.nextWaiterId += 1 }
            return state.nextWaiterId
        }
        let timer = Mutex<Scheduled<Void>?>(nil)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.accumulator.admission(recordSize: recordSize) != .wait { return true }
                state.memoryWaiters[id] = continuation
                return false
            }
            if resumeNow { return continuation.resume() }
            let scheduled = eventLoop.scheduleTask(deadline: deadline) { [weak self] () -> Void in
                let waiter = self?.state.withLock { $0.memoryWaiters.removeValue(forKey: id) }
                waiter?.resume()
            }
            timer.withLock { $0 = scheduled }
        }
        timer.withLock { $0?.cancel() }
    }
}

extension Optional where Wrapped == [UInt8] {
    /// Calls `body` with the bytes (nil for nil) without copying.
    @inline(__always)
    func withRawBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let self else { return try body(nil) }
        return try self.withUnsafeBytes { try body($0) }
    }
}
