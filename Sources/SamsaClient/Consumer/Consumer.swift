
import NIOCore
import NIOPosix
import SamsaLog
import SamsaProtocol
import Synchronization

/// A Kafka consumer of assigned partitions (no consumer group: `assign` and `seek`).
///
/// A background fetcher keeps one Fetch request in flight per leader, for every assigned partition whose
/// position is known, and buffers the responses (at most `fetch.max.bytes` of them) so that the next fetch
/// is already on its way while the caller reads the last one. Positions start where `seek` puts them, else
/// at `auto.offset.reset`.
///
/// ```swift
/// let consumer = Consumer(config: ConsumerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092")))
/// try await consumer.assign([TopicPartition("orders", 0)])
/// try await consumer.seek(TopicPartition("orders", 0), to: .earliest)
/// let records = try await consumer.poll(timeout: .seconds(1))
/// for record in try records.records() { print(record.offset) }
/// await consumer.close()
/// ```
public final class Consumer: Sendable {
    public let config: ConsumerConfig
    public let cluster: Cluster
    let state: Mutex<State>
    let fetcherWakeup: Wakeup
    let dataWakeup: Wakeup
    private let fetcher = Mutex<Task<Void, Never>?>(nil)
    let eventLoopGroup: any EventLoopGroup
    /// The group membership, made by the first `subscribe` or commit (needs `group.id`).
    let membership = Mutex<ConsumerCoordinator?>(nil)

    struct PartitionState {
        /// The next offset `poll` returns.
        var position: Int64?
        /// The next offset to fetch (ahead of `position` by what is buffered).
        var fetchPosition: Int64?
        var highWatermark: Int64 = -1
        /// Where to go when the position is unknown (nil: fail).
        var reset: OffsetSpec?
        /// Bumped by every seek: data fetched before it is dropped.
        var epoch: UInt64 = 0
    }

    struct State {
        var partitions: [TopicPartition: PartitionState] = [:]
        /// Epochs of partition states handed out by group assignments (each new state gets a fresh one).
        var nextEpoch: UInt64 = 1 << 32
        var completed = CircularBuffer<CompletedFetch>()
        var bufferedBytes = 0
        var inFlightNodes: Set<Int32> = []
        var metadata = ClusterMetadata()
        var needsMetadata = true
        var failure: ClientError?
        var closed = false
        var started = false
    }

    public init(config: ConsumerConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.config = config
        self.cluster = Cluster(config: config.client, group: group)
        self.eventLoopGroup = group
        let loop = group.next()
        self.fetcherWakeup = Wakeup(eventLoop: loop)
        self.dataWakeup = Wakeup(eventLoop: loop)
        self.state = Mutex(State())
    }

    // MARK: Assignment and positions

    /// The partitions of a topic (from fresh metadata); throws `unknownTopic` when it does not exist.
    public func partitions(of topic: String) async throws(ClientError) -> [TopicPartition] {
        let metadata = try await cluster.refreshMetadata(topics: [topic])
        guard let topicMetadata = metadata.topics[topic], topicMetadata.errorCode == .none || !topicMetadata.partitions.isEmpty else {
            throw .unknownTopic(topic)
        }
        return topicMetadata.partitions.map { TopicPartition(topic, $0.partition) }
    }

    /// Replaces the assignment. Partitions already assigned keep their positions; new ones start at
    /// `auto.offset.reset` unless `seek` says otherwise. Throws for a partition that does not exist.
    public func assign(_ partitions: [TopicPartition]) async throws(ClientError) {
        let topics = Array(Set(partitions.map(\.topic)))
        let metadata = try await cluster.refreshMetadata(topics: topics)
        for tp in partitions {
            guard let topic = metadata.topics[tp.topic] else { throw .unknownTopic(tp.topic) }
            guard topic.partition(tp.partition) != nil else {
                throw .unknownPartition(topic: tp.topic, partition: tp.partition)
            }
        }
        let reset = config.autoOffsetReset
        state.withLock { state in
            state.metadata = metadata
            var next: [TopicPartition: PartitionState] = [:]
            for tp in partitions {
                next[tp] = state.partitions[tp] ?? PartitionState(position: nil, fetchPosition: nil, reset: reset)
            }
            state.partitions = next
            state.completed.removeAll { next[$0.topicPartition] == nil }
            state.bufferedBytes = state.completed.reduce(0) { $0 + $1.records.readableBytes }
            state.needsMetadata = false
        }
        startFetcher()
        fetcherWakeup.signal()
    }

    /// The current assignment.
    public var assignment: [TopicPartition] { state.withLock { $0.partitions.keys.sorted() } }

    /// Moves a partition's position; `.earliest`, `.latest` and `.timestamp` are resolved now (ListOffsets).
    public func seek(_ tp: TopicPartition, to spec: OffsetSpec) async throws(ClientError) {
        let offset: Int64
        if case .offset(let given) = spec {
            offset = given
        } else {
            guard let resolved = try await listOffsets([tp], spec: spec)[tp] else {
                throw .unknownPartition(topic: tp.topic, partition: tp.partition)
            }
            offset = resolved
        }
        let assigned = state.withLock { state in
            guard state.partitions[tp] != nil else { return false }
            state.partitions[tp]!.position = offset
            state.partitions[tp]!.fetchPosition = offset
            state.partitions[tp]!.epoch &+= 1
            state.completed.removeAll { $0.topicPartition == tp }
            state.bufferedBytes = state.completed.reduce(0) { $0 + $1.records.readableBytes }
            return true
        }
        guard assigned else { throw .protocolViolation("seek on \(tp), which is not assigned") }
        fetcherWakeup.signal()
    }

    /// The next offset `poll` will return for `tp`, nil while unknown.
    public func position(_ tp: TopicPartition) -> Int64? { state.withLock { $0.partitions[tp]?.position } }

    /// The high watermark seen in the last fetch of `tp` (-1 before any).
    public func highWatermark(_ tp: TopicPartition) -> Int64 { state.withLock { $0.partitions[tp]?.highWatermark ?? -1 } }

    /// Resolves `spec` for each partition with ListOffsets at its leader. A timestamp with no record at or
    /// after it resolves to the end of the log.
    public func listOffsets(_ partitions: [TopicPartition], spec: OffsetSpec) async throws(ClientError) -> [TopicPartition: Int64] {
        try await cluster.listOffsets(
            partitions, spec: spec, isolationLevel: config.isolationLevel, retryBackoffMs: config.retryBackoffMs)
    }

    // MARK: Polling

    /// Returns the records fetched since the last poll, waiting up to `timeout` for some. Empty on timeout.
    /// Each partition's position moves past what is returned.
    public func poll(timeout: TimeAmount) async throws(ClientError) -> ConsumerRecords {
        let deadline = NIODeadline.now() + timeout
        startFetcher()
        let coordinator = membership.withLock { $0 }
        while true {
            // A group member first keeps its membership current (joins, rejoins after a rebalance, commits).
            if let coordinator, try await !coordinator.poll(until: deadline) { return .empty }
            let taken: Result<[CompletedFetch], ClientError> = state.withLock { state in
                if state.closed { return .failure(.closed) }
                if let failure = state.failure {
                    state.failure = nil
                    return .failure(failure)
                }
                var out: [CompletedFetch] = []
                while let fetch = state.completed.popFirst() {
                    state.bufferedBytes -= fetch.records.readableBytes
                    guard let partition = state.partitions[fetch.topicPartition], partition.epoch == fetch.epoch,
                        partition.position == fetch.startOffset
                    else { continue }
                    state.partitions[fetch.topicPartition]!.position = fetch.nextOffset
                    out.append(fetch)
                }
                return .success(out)
            }
            let fetches = try taken.get()
            fetcherWakeup.signal()
            if !fetches.isEmpty { return ConsumerRecords(fetches: fetches, checkCRCs: config.checkCRCs) }
            if NIODeadline.now() >= deadline { return .empty }
            await dataWakeup.wait(until: deadline)
        }
    }

    /// `poll(timeout:)` in milliseconds.
    public func poll(timeoutMs: Int64) async throws(ClientError) -> ConsumerRecords {
        try await poll(timeout: .milliseconds(timeoutMs))
    }

    /// Commits the consumed positions (group members with `enable.auto.commit`), leaves the group, stops
    /// fetching and closes the connections.
    public func close() async {
        if let coordinator = membership.withLock({ $0 }) {
            await coordinator.close(timeout: .milliseconds(min(config.defaultApiTimeoutMs, 30_000)))
        }
        state.withLock { $0.closed = true }
        fetcherWakeup.signal()
        dataWakeup.signal()
        let task = fetcher.withLock { $0 }
        await task?.value
        await cluster.close()
    }

    // MARK: The fetcher

    func startFetcher() {
        let start = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard start else { return }
        let task = Task { await self.runFetcher() }
        fetcher.withLock { $0 = task }
    }

    private enum Step {
        case stop
        case refreshMetadata([String])
        case reset([TopicPartition: OffsetSpec])
        case fetch([Int32: [(TopicPartition, Int64, UInt64)]])
    }

    private func runFetcher() async {
        while true {
            let step: Step = state.withLock { state in
                if state.closed { return .stop }
                var missingLeader = false
                var resets: [TopicPartition: OffsetSpec] = [:]
                var byNode: [Int32: [(TopicPartition, Int64, UInt64)]] = [:]
                let room = state.bufferedBytes < Int(config.fetchMaxBytes)
                for (tp, partition) in state.partitions {
                    guard let fetchPosition = partition.fetchPosition else {
                        if let reset = partition.reset { resets[tp] = reset }
                        continue
                    }
                    guard let leader = state.metadata.leader(topic: tp.topic, partition: tp.partition) else {
                        missingLeader = true
                        continue
                    }
                    if room && !state.inFlightNodes.contains(leader) {
                        byNode[leader, default: []].append((tp, fetchPosition, partition.epoch))
                    }
                }
                if missingLeader || state.needsMetadata {
                    state.needsMetadata = false
                    return .refreshMetadata(Array(Set(state.partitions.keys.map(\.topic))))
                }
                if !resets.isEmpty { return .reset(resets) }
                for node in byNode.keys { state.inFlightNodes.insert(node) }
                return .fetch(byNode)
            }
            switch step {
            case .stop:
                return
            case .refreshMetadata(let topics):
                do {
                    let metadata = try await cluster.refreshMetadata(topics: topics)
                    state.withLock { $0.metadata = metadata }
                    let leaderless = state.withLock { state in
                        state.partitions.keys.contains { state.metadata.leader(topic: $0.topic, partition: $0.partition) == nil }
                    }
                    if leaderless { try? await Task.sleep(for: .milliseconds(config.retryBackoffMs)) }
                } catch {
                    if !error.isRetriable { fail(error) }
                    try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
                    state.withLock { $0.needsMetadata = true }
                }
            case .reset(let resets):
                await resetPositions(resets)
            case .fetch(let byNode):
                for (node, partitions) in byNode { await sendFetch(to: node, partitions) }
                await fetcherWakeup.wait(until: nil)
            }
        }
    }

    private func resetPositions(_ resets: [TopicPartition: OffsetSpec]) async {
        var bySpec: [OffsetSpec: [TopicPartition]] = [:]
        for (tp, spec) in resets { bySpec[spec, default: []].append(tp) }
        for (spec, tps) in bySpec {
            do {
                let offsets = try await listOffsets(tps, spec: spec)
                state.withLock { state in
                    for (tp, offset) in offsets where state.partitions[tp]?.fetchPosition == nil {
                        state.partitions[tp]!.position = offset
                        state.partitions[tp]!.fetchPosition = offset
                    }
                }
            } catch {
                if !error.isRetriable { fail(error) }
                try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
            }
        }
    }

    private func fail(_ error: ClientError) {
        state.withLock { $0.failure = error }
        dataWakeup.signal()
    }

    private func sendFetch(to node: Int32, _ partitions: [(TopicPartition, Int64, UInt64)]) async {
        let connection: BrokerConnection
        do {
            connection = try await cluster.connection(to: node)
        } catch {
            state.withLock { state in
                state.inFlightNodes.remove(node)
                state.needsMetadata = true
            }
            if !error.isRetriable { fail(error) }
            try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
            fetcherWakeup.signal()
            return
        }
        var byTopic: [String: [FetchRequest.FetchPartition]] = [:]
        var sent: [TopicPartition: (offset: Int64, epoch: UInt64)] = [:]
        for (tp, offset, epoch) in partitions {
            byTopic[tp.topic, default: []].append(FetchRequest.FetchPartition(
                partition: tp.partition, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1,
                partitionMaxBytes: config.maxPartitionFetchBytes))
            sent[tp] = (offset, epoch)
        }
        let request = FetchRequest(
            replicaId: -1, maxWaitMs: config.fetchMaxWaitMs, minBytes: config.fetchMinBytes, maxBytes: config.fetchMaxBytes,
            isolationLevel: config.isolationLevel, sessionId: 0, sessionEpoch: -1,
            topics: byTopic.map { FetchRequest.FetchTopic(topic: $0.key, partitions: $0.value) })
        let requested = sent
        connection.send(request).whenComplete { result in
            switch result {
            case .success(let response):
                self.handleFetch(response, node: node, sent: requested)
            case .failure(let error):
                let clientError = (error as? ClientError) ?? .protocolViolation("\(error)")
                Task {
                    await self.cluster.forget(connection)
                    if !clientError.isRetriable { self.fail(clientError) }
                    try? await Task.sleep(for: .milliseconds(self.config.retryBackoffMs))
                    self.state.withLock { state in
                        state.inFlightNodes.remove(node)
                        state.needsMetadata = true
                    }
                    self.fetcherWakeup.signal()
                }
            }
        }
    }

    private func handleFetch(_ response: FetchResponse, node: Int32, sent: [TopicPartition: (offset: Int64, epoch: UInt64)]) {
        var gotData = false
        state.withLock { state in
            state.inFlightNodes.remove(node)
            if response.errorCode != .none {
                if response.errorCode.isRetriable {
                    state.needsMetadata = true
                } else {
                    state.failure = .broker(response.errorCode, context: "Fetch", message: nil)
                    gotData = true
                }
                return
            }
            for topic in response.responses {
                for data in topic.partitions {
                    let tp = TopicPartition(topic.topic, data.partitionIndex)
                    guard let request = sent[tp], var partition = state.partitions[tp], partition.epoch == request.epoch,
                        partition.fetchPosition == request.offset
                    else { continue }
                    switch data.errorCode {
                    case .none:
                        partition.highWatermark = data.highWatermark
                        guard case .bytes(let buffer?) = data.records, buffer.readableBytes > 0 else { break }
                        let (length, nextOffset) = FetchedBatches.completeBatches(in: buffer)
                        if let nextOffset, length > 0 {
                            let records = buffer.getSlice(at: buffer.readerIndex, length: length)!
                            state.completed.append(CompletedFetch(
                                topicPartition: tp, records: records, startOffset: request.offset,
                                nextOffset: max(nextOffset, request.offset), highWatermark: data.highWatermark,
                                epoch: partition.epoch))
                            state.bufferedBytes += length
                            partition.fetchPosition = max(nextOffset, request.offset)
                            gotData = true
                        } else if buffer.readableBytes >= Int(config.maxPartitionFetchBytes) {
                            state.failure = .corruptRecords(
                                topic: tp.topic, partition: tp.partition, offset: request.offset,
                                reason: "a batch larger than max.partition.fetch.bytes (\(config.maxPartitionFetchBytes)) was cut off")
                            gotData = true
                        }
                    case .offsetOutOfRange:
                        partition.position = nil
                        partition.fetchPosition = nil
                        if partition.reset == nil {
                            state.failure = .broker(.offsetOutOfRange, context: "Fetch \(tp) at offset \(request.offset)", message: nil)
                            gotData = true
                        }
                    default:
                        if data.errorCode.isRetriable {
                            state.needsMetadata = true
                        } else {
                            state.failure = .broker(data.errorCode, context: "Fetch \(tp)", message: nil)
                            gotData = true
                        }
                    }
                    state.partitions[tp] = partition
                }
            }
        }
        if gotData { dataWakeup.signal() }
        fetcherWakeup.signal()
    }
}
