import NIOCore
import SamsaLog
import SamsaProtocol

/// Consumer groups: `subscribe` makes the consumer a member of `group.id`; the group's leader assigns the
/// partitions of the subscribed topics among the members, and each member starts where the group last
/// committed (else at `auto.offset.reset`).
///
/// ```swift
/// var config = ConsumerConfig(client: try ClientConfig(bootstrap: "127.0.0.1:9092"))
/// config.groupId = "billing"
/// config.autoOffsetReset = .earliest
/// let consumer = Consumer(config: config)
/// try await consumer.subscribe(["orders"])
/// while running {
///     let records = try await consumer.poll(timeout: .milliseconds(500))   // joins, rebalances, commits
///     for record in try records.records() { handle(record) }
/// }
/// await consumer.close()                                                  // commits and leaves the group
/// ```
extension Consumer {
    /// Joins `group.id` with this subscription (the join itself happens in `poll`). Replaces an earlier
    /// subscription; an empty list leaves the group.
    public func subscribe(_ topics: [String]) async throws(ClientError) {
        let coordinator = try groupCoordinator()
        startFetcher()
        await coordinator.subscribe(topics)
    }

    /// Leaves the group and drops every partition.
    public func unsubscribe() async throws(ClientError) {
        try await subscribe([])
    }

    /// Commits the positions of every assigned partition (what `poll` has returned so far), waiting for the
    /// coordinator's answer (up to `default.api.timeout.ms`).
    public func commit() async throws(ClientError) {
        try await commit(consumedPositions())
    }

    /// Commits the given offsets (the next offset to consume in each partition).
    public func commit(_ offsets: [TopicPartition: Int64]) async throws(ClientError) {
        let coordinator = try groupCoordinator()
        try await coordinator.commit(offsets, deadline: .now() + .milliseconds(config.defaultApiTimeoutMs))
    }

    /// The group's committed offsets for `partitions` (partitions without one are absent).
    public func committed(_ partitions: [TopicPartition]) async throws(ClientError) -> [TopicPartition: Int64] {
        let coordinator = try groupCoordinator()
        return try await coordinator.fetchCommitted(partitions, deadline: .now() + .milliseconds(config.defaultApiTimeoutMs))
    }

    /// This member's generation (`.none` outside a group).
    public var groupGeneration: GroupGeneration {
        get async {
            guard let coordinator = membership.withLock({ $0 }) else { return .none }
            return await coordinator.generation
        }
    }

    /// The coordinator's connection count of joins (JoinGroup requests sent), for diagnostics.
    var joinCount: Int {
        get async {
            guard let coordinator = membership.withLock({ $0 }) else { return 0 }
            return await coordinator.joinCount
        }
    }

    // MARK: The coordinator's hooks into the consumer

    private func groupCoordinator() throws(ClientError) -> ConsumerCoordinator {
        guard let groupId = config.groupId else {
            throw .invalidConfig(name: "group.id", value: "", reason: "a consumer group needs a group.id")
        }
        try config.validateGroupSettings()
        return membership.withLock { existing in
            if let existing { return existing }
            let hooks = GroupMemberHooks(
                consumedPositions: { [weak self] in self?.consumedPositions() ?? [:] },
                revokeAll: { [weak self] in self?.revokeAll() },
                assign: { [weak self] partitions, committed in self?.assignFromGroup(partitions, committed: committed) },
                wakeup: { [weak self] in self?.dataWakeup.signal() })
            let coordinator = ConsumerCoordinator(
                groupId: groupId, config: config, cluster: cluster, eventLoopGroup: eventLoopGroup, hooks: hooks)
            existing = coordinator
            return coordinator
        }
    }

    /// The next offset to consume in each assigned partition whose position is known.
    func consumedPositions() -> [TopicPartition: Int64] {
        state.withLock { state in
            var result: [TopicPartition: Int64] = [:]
            for (tp, partition) in state.partitions {
                if let position = partition.position { result[tp] = position }
            }
            return result
        }
    }

    /// Forgets every partition and what was fetched for it.
    func revokeAll() {
        state.withLock { state in
            state.partitions = [:]
            state.completed.removeAll()
            state.bufferedBytes = 0
        }
        fetcherWakeup.signal()
    }

    /// A new generation's partitions: committed offsets become positions; the others reset.
    func assignFromGroup(_ partitions: [TopicPartition], committed: [TopicPartition: Int64]) {
        let reset = config.autoOffsetReset
        let missing = reset == nil ? partitions.filter { committed[$0] == nil } : []
        state.withLock { state in
            var next: [TopicPartition: PartitionState] = [:]
            for tp in partitions {
                let offset = committed[tp]
                state.nextEpoch &+= 1
                next[tp] = PartitionState(position: offset, fetchPosition: offset, reset: reset, epoch: state.nextEpoch)
            }
            state.partitions = next
            state.completed.removeAll()
            state.bufferedBytes = 0
            state.needsMetadata = true
            if !missing.isEmpty { state.failure = .noOffsetForPartition(missing.sorted()) }
        }
        startFetcher()
        fetcherWakeup.signal()
        dataWakeup.signal()
    }
}
