import NIOCore
import SamsaLog
import SamsaProtocol
import Synchronization

/// Fetch (key 1): reads each partition from its fetch offset, as file slices that the connection sends with
/// sendfile (`RecordsPayload.external`). Limits as Kafka: each partition gets at most `partition_max_bytes`, the
/// response at most `max_bytes` (and the broker's `fetch.max.bytes`), except that the first batch found is
/// returned whole so a consumer always progresses. Unlike Kafka, a partition's records end with its last whole
/// batch: the cut batch Kafka appends is useless to clients (they drop it and fetch it again), and on large
/// batches it can be nearly half the bytes sent.
///
/// Long poll: with fewer than `min_bytes` available, the fetch waits (registered in `DelayedFetches`) until an
/// append to one of its partitions brings enough, or `max_wait_ms` passes, or the connection closes.
///
/// Fetch sessions (KIP-227) are not kept: a full fetch is answered with session id 0, which tells clients to go on
/// with full fetches; an incremental one gets FETCH_SESSION_ID_NOT_FOUND.
struct FetchHandler: ApiHandler {
    typealias Request = FetchRequest
    let broker: Broker

    /// One partition to read, resolved on the event loop.
    struct Target: Sendable {
        var topic: Int
        var partition: Int32
        var tp: TopicPartition
        var fetchOffset: Int64
        var maxBytes: Int
    }

    /// A read of every target.
    struct ReadResult {
        var response: FetchResponse
        var files: [FileSlice]
        var bytes: Int
        var hasError: Bool
    }

    func handle(_ request: FetchRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        if request.sessionId != 0 || request.sessionEpoch > 0 {
            let code: ErrorCode = request.sessionId != 0 ? .fetchSessionIdNotFound : .invalidFetchSessionEpoch
            return context.reply(FetchResponse(throttleTimeMs: 0, errorCode: code, sessionId: 0, responses: []))
        }
        var targets: [Target] = []
        for (t, topic) in request.topics.enumerated() {
            for partition in topic.partitions {
                targets.append(
                    Target(
                        topic: t, partition: partition.partition, tp: TopicPartition(topic.topic, partition.partition),
                        fetchOffset: partition.fetchOffset, maxBytes: max(0, Int(partition.partitionMaxBytes))))
            }
        }
        let names = request.topics.map(\.topic)
        let maxBytes = min(max(0, Int(request.maxBytes)), broker.config.fetchMaxBytes)
        let reader = FetchReader(logManager: broker.logManager, names: names, targets: targets, maxBytes: maxBytes)
        let first = reader.read()
        let minBytes = Int(request.minBytes)
        let maxWaitMs = Int64(max(0, request.maxWaitMs))
        let encoder = context.encoder
        if maxWaitMs == 0 || first.bytes >= minBytes || first.hasError || targets.isEmpty {
            return context.eventLoop.makeCompletedFuture { try Self.encode(first, encoder) }
        }
        let promise = context.eventLoop.makePromise(of: Reply.self)
        let waiting = WaitingFetch(
            reader: reader, minBytes: minBytes, encoder: encoder, promise: promise, connection: context.connection,
            delayedFetches: broker.delayedFetches)
        waiting.start(maxWaitMs: maxWaitMs)
        return promise.futureResult
    }

    static func encode(_ result: ReadResult, _ encoder: ResponseEncoder) throws(ProtocolError) -> Reply {
        let parts = try result.response.encodeParts(version: encoder.version, correlationId: encoder.correlationId)
        return .frame(ResponseFrame(parts: parts, files: result.files))
    }
}

/// Reads the targets of one fetch; Sendable, so a waiting fetch can re-read when woken.
struct FetchReader: Sendable {
    let logManager: LogManager
    let names: [String]
    let targets: [FetchHandler.Target]
    let maxBytes: Int

    func read() -> FetchHandler.ReadResult {
        var responses = names.map { FetchResponse.FetchableTopicResponse(topic: $0, partitions: []) }
        var files: [FileSlice] = []
        var remaining = maxBytes
        var bytes = 0
        var hasError = false
        for target in targets {
            var data = FetchResponse.PartitionData(
                partitionIndex: target.partition, errorCode: .none, highWatermark: -1, lastStableOffset: -1,
                logStartOffset: -1, abortedTransactions: nil, preferredReadReplica: -1, records: .bytes(ByteBuffer()))
            if let log = logManager.log(target.tp) {
                do {
                    // The first batch found goes whole (Kafka's minOneMessage); later partitions share what is left.
                    // Only whole batches are sent: a cut batch at the end would be thrown away and fetched again.
                    let result = try log.readWholeBatches(
                        from: target.fetchOffset, maxBytes: min(target.maxBytes, remaining), minOneBatch: bytes == 0)
                    data.highWatermark = result.highWatermark
                    data.lastStableOffset = result.highWatermark
                    data.logStartOffset = result.logStartOffset
                    if let slice = result.slice {
                        if slice.fileDescriptor != nil {
                            data.records = .external(length: slice.length, token: files.count)
                            files.append(slice)
                        } else {
                            data.records = .bytes(ByteBuffer(bytes: try slice.readBytes()))
                        }
                        bytes += slice.length
                        remaining = max(0, remaining - slice.length)
                    }
                } catch let error as LogError {
                    data.errorCode = error.kafkaErrorCode
                    data.highWatermark = log.highWatermark
                    data.lastStableOffset = data.highWatermark
                    data.logStartOffset = log.logStartOffset
                    hasError = true
                } catch {
                    data.errorCode = .kafkaStorageError
                    hasError = true
                }
            } else {
                data.errorCode = .unknownTopicOrPartition
                hasError = true
            }
            responses[target.topic].partitions.append(data)
        }
        // Consumers in read_committed mode get the same data: no transactions, so nothing is aborted.
        for t in responses.indices {
            for p in responses[t].partitions.indices where responses[t].partitions[p].errorCode == .none {
                responses[t].partitions[p].abortedTransactions = []
            }
        }
        return FetchHandler.ReadResult(
            response: FetchResponse(throttleTimeMs: 0, errorCode: .none, sessionId: 0, responses: responses),
            files: files, bytes: bytes, hasError: hasError)
    }
}

/// A fetch waiting for data, on its connection's event loop: woken by appends (through `DelayedFetches`), by its
/// timer, or by the connection closing. It answers once.
final class WaitingFetch {
    let reader: FetchReader
    let minBytes: Int
    let encoder: ResponseEncoder
    let promise: EventLoopPromise<Reply>
    let connection: Connection
    let delayedFetches: DelayedFetches
    private var registration: UInt64?
    private var closeHook: UInt64?
    private var timer: Scheduled<Void>?
    private var done = false
    /// Set while a wake-up is queued on the event loop, so a burst of appends queues one re-read.
    private let wakeQueued = WakeFlag()

    init(
        reader: FetchReader, minBytes: Int, encoder: ResponseEncoder, promise: EventLoopPromise<Reply>,
        connection: Connection, delayedFetches: DelayedFetches
    ) {
        self.reader = reader
        self.minBytes = minBytes
        self.encoder = encoder
        self.promise = promise
        self.connection = connection
        self.delayedFetches = delayedFetches
    }

    func start(maxWaitMs: Int64) {
        let loop = connection.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let flag = wakeQueued
        let reader = self.reader
        registration = delayedFetches.register(reader.targets.map(\.tp)) {
            guard flag.queue() else { return }
            loop.execute {
                flag.clear()
                bound.value.retry()
            }
        }
        closeHook = connection.onClose { bound.value.cancel() }
        guard !done else { return }
        timer = loop.scheduleTask(in: .milliseconds(maxWaitMs)) { bound.value.finish(reader.read()) }
        // An append may have landed between the first read and the registration.
        retry()
    }

    private func retry() {
        guard !done else { return }
        let result = reader.read()
        if result.bytes >= minBytes || result.hasError { finish(result) }
    }

    private func finish(_ result: FetchHandler.ReadResult) {
        guard release() else { return }
        do {
            promise.succeed(try FetchHandler.encode(result, encoder))
        } catch {
            promise.fail(error)
        }
    }

    /// The connection closed: nobody will read the answer.
    private func cancel() {
        guard release() else { return }
        promise.succeed(.none)
    }

    private func release() -> Bool {
        guard !done else { return false }
        done = true
        if let registration { delayedFetches.unregister(registration, partitions: reader.targets.map(\.tp)) }
        if let closeHook { connection.removeCloseHook(closeHook) }
        timer?.cancel()
        timer = nil
        return true
    }
}

final class WakeFlag: Sendable {
    private let queued = Atomic<Bool>(false)

    /// True if this call queued the wake-up (none was queued).
    func queue() -> Bool { !queued.exchange(true, ordering: .acquiringAndReleasing) }
    func clear() { queued.store(false, ordering: .releasing) }
}
