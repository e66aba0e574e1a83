import SamsaLog
import SamsaProtocol

/// OffsetCommit, OffsetFetch, OffsetDelete and offset expiration (Kafka's `OffsetMetadataManager`, plus the
/// topic checks KafkaApis makes before it).
extension GroupMetadataManager {
    /// Whether `topic`-`partition` exists (commits and deletes for other partitions get UNKNOWN_TOPIC_OR_PARTITION).
    func partitionExists(_ topic: String, _ partition: Int32) -> Bool {
        guard let metadata = topics.topic(topic) else { return false }
        return partition >= 0 && partition < metadata.partitionCount
    }

    // MARK: Commit

    /// Handles an OffsetCommit: unknown partitions are refused one by one; the rest are checked against the
    /// group (generation, member) and written as one batch.
    func commitOffsets(_ request: OffsetCommitRequest, apiVersion: Int16) -> OffsetCommitResponse {
        var results: [[ErrorCode]] = request.topics.map { topic in
            topic.partitions.map { partitionExists(topic.name, $0.partitionIndex) ? .none : .unknownTopicOrPartition }
        }
        func response() -> OffsetCommitResponse {
            OffsetCommitResponse(
                throttleTimeMs: 0,
                topics: zip(request.topics, results).map { topic, errors in
                    .init(
                        name: topic.name,
                        partitions: zip(topic.partitions, errors).map { .init(partitionIndex: $0.partitionIndex, errorCode: $1) })
                })
        }
        let anyKnown = results.contains { $0.contains(.none) }
        guard anyKnown else { return response() }
        func failKnown(_ error: ErrorCode) {
            for t in results.indices {
                for p in results[t].indices where results[t][p] == .none { results[t][p] = error }
            }
        }
        if let error = validateOffsetCommit(request, apiVersion: apiVersion) {
            failKnown(error)
            return response()
        }
        let group = groups[request.groupId]!
        if group.isInState(.stable) || group.isInState(.preparingRebalance), let member = group.member(request.memberId) {
            // A commit keeps a classic member's session alive.
            rescheduleHeartbeat(group, member)
        }
        let nowMs = clock()
        let expireTimestampMs: Int64? = request.retentionTimeMs == -1 ? nil : nowMs &+ request.retentionTimeMs
        var records: [CoordinatorRecord] = []
        var committed: [(topic: String, partition: Int32, value: OffsetAndMetadata)] = []
        for (t, topic) in request.topics.enumerated() {
            for (p, partition) in topic.partitions.enumerated() where results[t][p] == .none {
                if let metadata = partition.committedMetadata, metadata.utf8.count > Int(config.offsetMetadataMaxBytes) {
                    results[t][p] = .offsetMetadataTooLarge
                    continue
                }
                let value = OffsetAndMetadata(
                    offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch,
                    metadata: partition.committedMetadata ?? "",
                    commitTimestampMs: partition.commitTimestamp == -1 ? nowMs : partition.commitTimestamp,
                    expireTimestampMs: expireTimestampMs)
                records.append(
                    .offsetCommit(OffsetCommitKey(group: request.groupId, topic: topic.name, partition: partition.partitionIndex), value))
                committed.append((topic.name, partition.partitionIndex, value))
            }
        }
        let error = write(records, groupId: request.groupId)
        if error != .none {
            failKnown(error)
        } else {
            for entry in committed {
                offsets[request.groupId, default: [:]][entry.topic, default: [:]][entry.partition] = entry.value
            }
        }
        return response()
    }

    /// Kafka's `validateOffsetCommit`: generation -1 commits are for groups without members (a simple group is
    /// made for them); others must come from a current member of the current generation.
    private func validateOffsetCommit(_ request: OffsetCommitRequest, apiVersion: Int16) -> ErrorCode? {
        let generation = request.generationIdOrMemberEpoch
        let group: ClassicGroup
        if let existing = groups[request.groupId] {
            group = existing
        } else if generation < 0 {
            logger.info("group \(request.groupId) created by a manual offset commit")
            group = getOrCreateGroup(request.groupId, create: true)!
        } else {
            return .illegalGeneration
        }
        if group.isInState(.dead) { return .coordinatorNotAvailable }
        if generation < 0 && group.isEmpty { return nil }
        if generation >= 0 || !request.memberId.isEmpty || request.groupInstanceId != nil {
            if let error = group.validateMember(request.memberId, groupInstanceId: request.groupInstanceId) { return error }
            if generation != group.generationId { return .illegalGeneration }
        } else if !group.isEmpty {
            return .unknownMemberId
        }
        if group.isInState(.completingRebalance) { return .rebalanceInProgress }
        return nil
    }

    // MARK: Fetch

    /// The committed offsets of `groupId`: of the partitions asked for (-1 for those without one), or of every
    /// partition when `topics` is nil.
    func fetchOffsets(groupId: String, topics wanted: [(name: String, partitions: [Int32])]?) -> OffsetFetchResponse.OffsetFetchResponseGroup {
        let known = groups[groupId].map { !$0.isInState(.dead) } ?? false
        let stored = known ? offsets[groupId] ?? [:] : [:]
        func entry(_ partition: Int32, _ value: OffsetAndMetadata?) -> OffsetFetchResponse.OffsetFetchResponsePartitions {
            .init(
                partitionIndex: partition, committedOffset: value?.offset ?? -1, committedLeaderEpoch: value?.leaderEpoch ?? -1,
                metadata: value?.metadata ?? "", errorCode: .none)
        }
        var result = OffsetFetchResponse.OffsetFetchResponseGroup(groupId: groupId, topics: [], errorCode: .none)
        if let wanted {
            result.topics = wanted.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { entry($0, stored[topic.name]?[$0]) })
            }
        } else {
            result.topics = stored.keys.sorted().map { topic in
                .init(name: topic, partitions: stored[topic]!.keys.sorted().map { entry($0, stored[topic]![$0]) })
            }
        }
        return result
    }

    // MARK: Delete

    /// Handles an OffsetDelete: offsets of topics the group is not subscribed to are removed (tombstones).
    func deleteOffsets(_ request: OffsetDeleteRequest) -> OffsetDeleteResponse {
        guard let group = groups[request.groupId], !group.isInState(.dead) else {
            return OffsetDeleteResponse(errorCode: .groupIdNotFound)
        }
        switch group.state {
        case .stable, .preparingRebalance, .completingRebalance:
            // A consumer group's offsets may go while it runs, for topics it does not subscribe to.
            if !group.usesConsumerProtocol { return OffsetDeleteResponse(errorCode: .nonEmptyGroup) }
        case .empty, .dead:
            break
        }
        var records: [CoordinatorRecord] = []
        var removed: [(String, Int32)] = []
        let topics = request.topics.map { topic -> OffsetDeleteResponse.OffsetDeleteResponseTopic in
            let subscribed = group.isSubscribedToTopic(topic.name)
            return .init(
                name: topic.name,
                partitions: topic.partitions.map { partition in
                    let index = partition.partitionIndex
                    guard partitionExists(topic.name, index) else { return .init(partitionIndex: index, errorCode: .unknownTopicOrPartition) }
                    if subscribed { return .init(partitionIndex: index, errorCode: .groupSubscribedToTopic) }
                    if offsets[request.groupId]?[topic.name]?[index] != nil {
                        records.append(.offsetCommit(OffsetCommitKey(group: request.groupId, topic: topic.name, partition: index), nil))
                        removed.append((topic.name, index))
                    }
                    return .init(partitionIndex: index, errorCode: .none)
                })
        }
        let error = write(records, groupId: request.groupId)
        guard error == .none else { return OffsetDeleteResponse(errorCode: error) }
        for (topic, partition) in removed { removeOffset(group: request.groupId, topic: topic, partition: partition) }
        return OffsetDeleteResponse(errorCode: .none, throttleTimeMs: 0, topics: topics)
    }

    // MARK: Expiration

    /// Removes expired offsets (Kafka's rules: offsets of an empty group expire `offsets.retention.minutes`
    /// after it became empty; of a simple group, after their commit; of a stable consumer group, only for topics
    /// it no longer subscribes to; an explicit commit retention wins), and deletes empty groups left without offsets.
    func cleanupGroupMetadata() {
        let nowMs = clock()
        var tombstones = 0
        for groupId in groups.keys.sorted() {
            guard let group = groups[groupId] else { continue }
            var records: [CoordinatorRecord] = []
            var expired: [(String, Int32)] = []
            var allExpired = true
            if let byTopic = offsets[groupId] {
                let base = expirationBase(group)
                for (topic, partitions) in byTopic.sorted(by: { $0.key < $1.key }) {
                    guard let base, !group.isSubscribedToTopic(topic) else {
                        allExpired = false
                        continue
                    }
                    for (partition, value) in partitions.sorted(by: { $0.key < $1.key }) {
                        let isExpired = value.expireTimestampMs.map { nowMs >= $0 }
                            ?? (nowMs - base(value) >= config.offsetsRetentionMs)
                        if isExpired {
                            records.append(.offsetCommit(OffsetCommitKey(group: groupId, topic: topic, partition: partition), nil))
                            expired.append((topic, partition))
                        } else {
                            allExpired = false
                        }
                    }
                }
            }
            let deleteGroup = allExpired && group.isEmpty
            if deleteGroup { records.append(.groupMetadata(group: groupId, nil)) }
            guard !records.isEmpty else { continue }
            let error = write(records, groupId: groupId)
            guard error == .none else {
                logger.warning("expiring offsets of group \(groupId): \(error)")
                continue
            }
            tombstones += records.count
            for (topic, partition) in expired { removeOffset(group: groupId, topic: topic, partition: partition) }
            if deleteGroup {
                removeGroup(groupId)
                logger.info("group \(groupId) was empty with no offsets left and is removed")
            }
        }
        if tombstones > 0 { logger.info("offset expiration wrote \(tombstones) tombstones") }
    }

    /// The time an offset's retention counts from, or nil when the group's offsets do not expire now.
    private func expirationBase(_ group: ClassicGroup) -> ((OffsetAndMetadata) -> Int64)? {
        guard group.protocolType != nil else { return { $0.commitTimestampMs } }
        if group.isEmpty {
            let since = group.currentStateTimestampMs
            return { since ?? $0.commitTimestampMs }
        }
        if group.usesConsumerProtocol && group.subscribedTopics != nil && group.isInState(.stable) {
            return { $0.commitTimestampMs }
        }
        return nil
    }
}
