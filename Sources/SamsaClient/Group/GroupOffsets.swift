import SamsaLog
import SamsaProtocol

/// A committed offset as OffsetFetch returns it.
public struct CommittedOffset: Sendable, Equatable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String?

    public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String? = nil) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
    }
}

/// OffsetFetch and OffsetCommit as both the consumer and the admin client build and read them, across the
/// versions (v8 of OffsetFetch moved the group into a `groups` array).
enum GroupOffsetRequests {
    /// OffsetFetch for `partitions` of `group` (nil: every partition the group has an offset for, v2+).
    static func offsetFetch(group: String, partitions: [TopicPartition]?, requireStable: Bool) -> OffsetFetchRequest {
        let byTopic = partitions.map { Dictionary(grouping: $0, by: \.topic) }
        let topics = byTopic.map { map in
            map.keys.sorted().map { OffsetFetchRequest.OffsetFetchRequestTopic(name: $0, partitionIndexes: map[$0]!.map(\.partition).sorted()) }
        }
        let groupTopics = byTopic.map { map in
            map.keys.sorted().map { OffsetFetchRequest.OffsetFetchRequestTopics(name: $0, partitionIndexes: map[$0]!.map(\.partition).sorted()) }
        }
        return OffsetFetchRequest(
            groupId: group, topics: topics,
            groups: [OffsetFetchRequest.OffsetFetchRequestGroup(groupId: group, topics: groupTopics)],
            requireStable: requireStable)
    }

    struct FetchedOffsets {
        /// The group-level error (v2+; NONE before).
        var errorCode: ErrorCode
        /// Partitions with a committed offset (offset >= 0).
        var offsets: [TopicPartition: CommittedOffset]
        /// Partition-level errors.
        var partitionErrors: [TopicPartition: ErrorCode]

        /// One partition of the answer (v8's per-group topics and the older top-level ones carry the same fields).
        fileprivate mutating func note(
            _ tp: TopicPartition, _ errorCode: ErrorCode, _ offset: Int64, _ leaderEpoch: Int32, _ metadata: String?
        ) {
            if errorCode != .none {
                partitionErrors[tp] = errorCode
            } else if offset >= 0 {
                offsets[tp] = CommittedOffset(offset: offset, leaderEpoch: leaderEpoch, metadata: metadata)
            }
        }
    }

    static func read(_ response: OffsetFetchResponse, version: Int16, group: String) -> FetchedOffsets {
        var result = FetchedOffsets(errorCode: .none, offsets: [:], partitionErrors: [:])
        if version >= 8 {
            guard let entry = response.groups.first(where: { $0.groupId == group }) ?? response.groups.first else { return result }
            result.errorCode = entry.errorCode
            for topic in entry.topics {
                for p in topic.partitions {
                    result.note(TopicPartition(topic.name, p.partitionIndex), p.errorCode, p.committedOffset,
                        p.committedLeaderEpoch, p.metadata)
                }
            }
        } else {
            result.errorCode = response.errorCode
            for topic in response.topics {
                for p in topic.partitions {
                    result.note(TopicPartition(topic.name, p.partitionIndex), p.errorCode, p.committedOffset,
                        p.committedLeaderEpoch, p.metadata)
                }
            }
        }
        return result
    }

    /// OffsetCommit of `offsets` by a member of `generation` (-1 and "" for an admin or a consumer without a
    /// subscription).
    static func offsetCommit(
        group: String, generationId: Int32, memberId: String, groupInstanceId: String?, offsets: [TopicPartition: Int64]
    ) -> OffsetCommitRequest {
        let byTopic = Dictionary(grouping: offsets.keys, by: \.topic)
        return OffsetCommitRequest(
            groupId: group, generationIdOrMemberEpoch: generationId, memberId: memberId, groupInstanceId: groupInstanceId,
            retentionTimeMs: -1,
            topics: byTopic.keys.sorted().map { topic in
                OffsetCommitRequest.OffsetCommitRequestTopic(
                    name: topic,
                    partitions: byTopic[topic]!.sorted().map { tp in
                        OffsetCommitRequest.OffsetCommitRequestPartition(
                            partitionIndex: tp.partition, committedOffset: offsets[tp]!, committedLeaderEpoch: -1,
                            commitTimestamp: -1, committedMetadata: "")
                    })
            })
    }

    /// Each partition's error in an OffsetCommit response (partitions missing from it are absent here).
    static func read(_ response: OffsetCommitResponse) -> [TopicPartition: ErrorCode] {
        var result: [TopicPartition: ErrorCode] = [:]
        for topic in response.topics {
            for p in topic.partitions { result[TopicPartition(topic.name, p.partitionIndex)] = p.errorCode }
        }
        return result
    }
}
