import NIOCore
import SamsaLog
import SamsaProtocol

/// A group as ListGroups names it.
public struct ConsumerGroupListing: Sendable, Equatable {
    public var groupId: String
    /// "consumer" for consumer groups; "" for groups that only commit offsets.
    public var protocolType: String
    /// The state (ListGroups v4+), nil before.
    public var state: String?

    public init(groupId: String, protocolType: String, state: String? = nil) {
        self.groupId = groupId
        self.protocolType = protocolType
        self.state = state
    }
}

/// One member of a described group.
public struct GroupMemberDescription: Sendable, Equatable {
    public var memberId: String
    public var groupInstanceId: String?
    public var clientId: String
    /// As the coordinator saw the connection (`/127.0.0.1`).
    public var host: String
    /// Decoded from the consumer protocol's assignment bytes (empty for other protocol types).
    public var assignment: [TopicPartition]

    public init(memberId: String, groupInstanceId: String?, clientId: String, host: String, assignment: [TopicPartition]) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.host = host
        self.assignment = assignment
    }
}

/// A group as DescribeGroups shows it.
public struct ConsumerGroupDescription: Sendable, Equatable {
    public var groupId: String
    /// Kafka's group states: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead (a group the
    /// coordinator does not know is Dead).
    public var state: String
    public var protocolType: String
    /// The assignor in use (the group's protocol name).
    public var assignor: String
    public var members: [GroupMemberDescription]
    public var coordinator: CoordinatorLocation

    public init(
        groupId: String, state: String, protocolType: String, assignor: String, members: [GroupMemberDescription],
        coordinator: CoordinatorLocation
    ) {
        self.groupId = groupId
        self.state = state
        self.protocolType = protocolType
        self.assignor = assignor
        self.members = members
        self.coordinator = coordinator
    }

    /// Whether offsets may be reset or the group deleted: nobody is a member.
    public var isInactive: Bool { state == "Empty" || state == "Dead" }
}

/// Consumer group administration: list, describe, read committed offsets, delete, reset offsets (what
/// `kafka-consumer-groups.sh` does).
///
/// ```swift
/// let admin = Admin(config: try ClientConfig(bootstrap: "127.0.0.1:9092"))
/// for group in try await admin.listGroups() { print(group.groupId) }
/// let offsets = try await admin.offsetFetch(group: "billing")        // [orders-0: 42, ...]
/// try await admin.resetOffsets(group: "billing", to: [TopicPartition("orders", 0): 0])
/// ```
extension Admin {
    /// Every group every broker coordinates, sorted by id.
    public func listGroups() async throws(ClientError) -> [ConsumerGroupListing] {
        let metadata = try await cluster.refreshMetadata(topics: [])
        var nodes = metadata.brokers.keys.sorted()
        if nodes.isEmpty { nodes = [-1] }
        var listings: [String: ConsumerGroupListing] = [:]
        for node in nodes {
            var attempt = 0
            while true {
                attempt += 1
                let connection: BrokerConnection
                if node < 0 {
                    connection = try await cluster.anyConnection()
                } else {
                    connection = try await cluster.connection(to: node)
                }
                let version = try connection.version(for: ListGroupsRequest.self)
                let response = try await connection.request(ListGroupsRequest(statesFilter: []))
                if response.errorCode == .coordinatorLoadInProgress && attempt < 10 {
                    try? await Task.sleep(for: .milliseconds(100))
                    continue
                }
                guard response.errorCode == .none else {
                    throw .broker(response.errorCode, context: "ListGroups at broker \(node)", message: nil)
                }
                for group in response.groups {
                    listings[group.groupId] = ConsumerGroupListing(
                        groupId: group.groupId, protocolType: group.protocolType,
                        state: version >= 4 && !group.groupState.isEmpty ? group.groupState : nil)
                }
                break
            }
        }
        return listings.values.sorted { $0.groupId < $1.groupId }
    }

    /// Describes groups, in the order asked. A group no coordinator knows comes back in state Dead.
    public func describeGroups(_ groupIds: [String]) async throws(ClientError) -> [ConsumerGroupDescription] {
        var result: [ConsumerGroupDescription] = []
        for groupId in groupIds {
            let (location, connection) = try await coordinatorConnection(groupId)
            let response = try await connection.request(DescribeGroupsRequest(groups: [groupId]))
            guard let group = response.groups.first(where: { $0.groupId == groupId }) ?? response.groups.first else {
                throw .protocolViolation("DescribeGroups response does not mention group '\(groupId)'")
            }
            if group.errorCode == .groupIdNotFound {
                result.append(ConsumerGroupDescription(
                    groupId: groupId, state: "Dead", protocolType: "", assignor: "", members: [], coordinator: location))
                continue
            }
            guard group.errorCode == .none else {
                throw .broker(group.errorCode, context: "DescribeGroups '\(groupId)'", message: nil)
            }
            let members = group.members.map { member in
                let assignment = group.protocolType == ConsumerProtocol.protocolType
                    ? (try? ConsumerProtocolAssignment.decode(member.memberAssignment))?.partitions ?? [] : []
                return GroupMemberDescription(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                    host: member.clientHost, assignment: assignment)
            }
            result.append(ConsumerGroupDescription(
                groupId: groupId, state: group.groupState, protocolType: group.protocolType, assignor: group.protocolData,
                members: members, coordinator: location))
        }
        return result
    }

    /// The group's committed offsets: of `partitions`, or (nil) of every partition it has committed.
    public func offsetFetch(group: String, partitions: [TopicPartition]? = nil) async throws(ClientError) -> [TopicPartition: CommittedOffset] {
        var attempt = 0
        while true {
            attempt += 1
            let (_, connection) = try await coordinatorConnection(group)
            let version = try connection.version(for: OffsetFetchRequest.self)
            if partitions == nil && version < 2 {
                throw .unsupportedApi(api: .offsetFetch, brokerVersions: connection.versions.brokerRange(.offsetFetch), clientVersions: 2...8)
            }
            let request = GroupOffsetRequests.offsetFetch(group: group, partitions: partitions, requireStable: false)
            let fetched = GroupOffsetRequests.read(try await connection.request(request), version: version, group: group)
            let retriable = fetched.errorCode.isRetriable || fetched.partitionErrors.values.contains { $0.isRetriable }
            if retriable && attempt < 10 {
                if fetched.errorCode == .notCoordinator || fetched.errorCode == .coordinatorNotAvailable {
                    await cluster.forget(connection)
                }
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            guard fetched.errorCode == .none else {
                throw .broker(fetched.errorCode, context: "OffsetFetch for group '\(group)'", message: nil)
            }
            if let (tp, code) = fetched.partitionErrors.first(where: { $0.value != .unknownTopicOrPartition }) {
                throw .broker(code, context: "OffsetFetch \(tp) for group '\(group)'", message: nil)
            }
            return fetched.offsets
        }
    }

    /// Deletes groups (each must be empty); each group's outcome, nil for success.
    public func deleteGroups(_ groupIds: [String]) async throws(ClientError) -> [String: ClientError?] {
        var result: [String: ClientError?] = [:]
        for groupId in groupIds {
            let (_, connection) = try await coordinatorConnection(groupId)
            let response = try await connection.request(DeleteGroupsRequest(groupsNames: [groupId]))
            guard let entry = response.results.first(where: { $0.groupId == groupId }) else {
                throw .protocolViolation("DeleteGroups response does not mention group '\(groupId)'")
            }
            result[groupId] = entry.errorCode == .none
                ? nil : ClientError.broker(entry.errorCode, context: "Group '\(groupId)'", message: nil)
        }
        return result
    }

    /// Sets the group's committed offsets (OffsetCommit outside any generation: generation -1, no member), which
    /// the coordinator accepts only while the group has no members. Throws `groupFailed` for an active group.
    public func resetOffsets(group: String, to offsets: [TopicPartition: Int64]) async throws(ClientError) {
        guard let description = try await describeGroups([group]).first else { return }
        guard description.isInactive else {
            throw .groupFailed(
                group: group,
                reason: "Assignments can only be reset if the group '\(group)' is inactive, but the current state is \(description.state).")
        }
        guard !offsets.isEmpty else { return }
        var remaining = offsets
        var attempt = 0
        while !remaining.isEmpty {
            attempt += 1
            let (_, connection) = try await coordinatorConnection(group)
            let request = GroupOffsetRequests.offsetCommit(
                group: group, generationId: -1, memberId: "", groupInstanceId: nil, offsets: remaining)
            let errors = GroupOffsetRequests.read(try await connection.request(request))
            var retry = false
            for (tp, code) in errors {
                if code == .none {
                    remaining[tp] = nil
                } else if code.isRetriable && attempt < 10 {
                    retry = true
                } else {
                    throw .broker(code, context: "OffsetCommit \(tp) for group '\(group)'", message: nil)
                }
            }
            if !remaining.isEmpty && !retry {
                throw .protocolViolation("OffsetCommit response for group '\(group)' leaves out \(remaining.keys.sorted())")
            }
            if retry { try? await Task.sleep(for: .milliseconds(100)) }
        }
    }

    /// The log start (`.earliest`), end (`.latest`) or timestamp offsets of partitions.
    public func listOffsets(_ partitions: [TopicPartition], spec: OffsetSpec) async throws(ClientError) -> [TopicPartition: Int64] {
        try await cluster.listOffsets(partitions, spec: spec)
    }

    /// The group's coordinator and a connection to it.
    private func coordinatorConnection(_ group: String) async throws(ClientError) -> (CoordinatorLocation, BrokerConnection) {
        let location = try await cluster.findCoordinator(
            key: group, deadline: .now() + .milliseconds(Int64(operationTimeoutMs)), backoffMs: 100)
        let connection = try await cluster.connection(to: location.nodeId, at: location.address)
        return (location, connection)
    }
}
