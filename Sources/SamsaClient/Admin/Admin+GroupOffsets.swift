import SamsaLog

/// Where `planOffsetReset` moves a group's offsets (Kafka's `--reset-offsets` scenarios).
public enum OffsetResetScenario: Sendable, Equatable {
    case earliest
    case latest
    /// The committed offset, else the log end.
    case current
    /// This offset, kept within the log's start and end.
    case offset(Int64)
    /// The committed offset plus `n` (may be negative), kept within the log's start and end.
    case shiftBy(Int64)
}

/// Which partitions `planOffsetReset` covers.
public enum OffsetResetScope: Sendable, Equatable {
    /// Every partition the group has a committed offset for (`--all-topics`).
    case allTopics
    /// Every partition of `topics`, plus the listed `partitions` (`--topic T`, `--topic T:0,2`).
    case topics([String], partitions: [TopicPartition])
}

/// The group offset views of `kafka-consumer-groups.sh`, computed here so the command stays a thin layer.
extension Admin {
    /// Kafka's `collectGroupsOffsets` for `--describe`: the assigned partitions of each member (largest
    /// assignment first), then the partitions with a committed offset that nobody owns, each with its committed
    /// offset, log end offset and (through `OffsetRow.lag`) lag.
    public func groupOffsetRows(_ description: ConsumerGroupDescription) async throws(ClientError) -> [ConsumerGroupCommandFormat.OffsetRow] {
        let committed = try await offsetFetch(group: description.groupId)
        let owners = description.members.filter { !$0.assignment.isEmpty }.enumerated()
            .sorted { ($0.element.assignment.count, -$0.offset) > ($1.element.assignment.count, -$1.offset) }.map(\.element)
        var assigned = Set<TopicPartition>()
        for member in owners { assigned.formUnion(member.assignment) }
        let unowned = committed.keys.filter { !assigned.contains($0) }
        let all = Array(assigned) + unowned
        let ends = all.isEmpty ? [:] : try await listOffsets(all, spec: .latest)
        var rows: [ConsumerGroupCommandFormat.OffsetRow] = []
        for member in owners {
            for tp in Set(member.assignment).sorted() {
                rows.append(.init(
                    group: description.groupId, topic: tp.topic, partition: tp.partition, currentOffset: committed[tp]?.offset,
                    logEndOffset: ends[tp], consumerId: member.memberId, host: member.host, clientId: member.clientId))
            }
        }
        let missing = ConsumerGroupCommandFormat.missing
        for tp in unowned.sorted() {
            rows.append(.init(
                group: description.groupId, topic: tp.topic, partition: tp.partition, currentOffset: committed[tp]?.offset,
                logEndOffset: ends[tp], consumerId: missing, host: missing, clientId: missing))
        }
        return rows
    }

    /// The new offset of every partition in `scope` (Kafka's `prepareOffsetsToReset`; explicit and shifted
    /// offsets are kept within the log's start and end, as Kafka's `checkOffsetsRange` does). Changes nothing:
    /// `resetOffsets(group:to:)` applies the plan.
    public func planOffsetReset(
        group: String, scope: OffsetResetScope, scenario: OffsetResetScenario
    ) async throws(ClientError) -> [TopicPartition: Int64] {
        let committed = try await offsetFetch(group: group)
        let partitions = try await partitions(in: scope, committed: committed)
        guard !partitions.isEmpty else { return [:] }
        var requested: [TopicPartition: Int64] = [:]
        switch scenario {
        case .earliest: return try await listOffsets(partitions, spec: .earliest)
        case .latest: return try await listOffsets(partitions, spec: .latest)
        case .current:
            let withoutCommit = partitions.filter { committed[$0] == nil }
            let ends = withoutCommit.isEmpty ? [:] : try await listOffsets(withoutCommit, spec: .latest)
            for tp in partitions { requested[tp] = committed[tp]?.offset ?? ends[tp] }
            return requested
        case .offset(let offset):
            for tp in partitions { requested[tp] = offset }
        case .shiftBy(let n):
            for tp in partitions {
                guard let current = committed[tp] else {
                    throw .invalidConfig(
                        name: "--shift-by", value: "\(n)",
                        reason: "Cannot shift offset for partition \(tp) since there is no current committed offset")
                }
                requested[tp] = current.offset + n
            }
        }
        let starts = try await listOffsets(partitions, spec: .earliest)
        let ends = try await listOffsets(partitions, spec: .latest)
        for (tp, offset) in requested {
            if let end = ends[tp], offset > end {
                requested[tp] = end
            } else if let start = starts[tp], offset < start {
                requested[tp] = start
            }
        }
        return requested
    }

    private func partitions(in scope: OffsetResetScope, committed: [TopicPartition: CommittedOffset]) async throws(ClientError) -> [TopicPartition] {
        switch scope {
        case .allTopics:
            return committed.keys.sorted()
        case .topics(let whole, let listed):
            var result = listed
            if !whole.isEmpty {
                for description in try await describeTopics(whole) {
                    result += description.partitions.map { TopicPartition(description.name, $0.partition) }
                }
            }
            return Array(Set(result)).sorted()
        }
    }
}
