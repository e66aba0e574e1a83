import NIOCore
import SamsaProtocol

/// ListGroups, DescribeGroups and DeleteGroups.
extension GroupMetadataManager {
    /// The groups, by id, in the states asked for (any state when `states` is empty; names ignore case).
    func listGroups(states: [String]) -> [ListGroupsResponse.ListedGroup] {
        let wanted = Set(states.map { $0.trimmingBlanks().lowercased() })
        return groups.keys.sorted().compactMap { id in
            let group = groups[id]!
            guard wanted.isEmpty || wanted.contains(group.state.rawValue.lowercased()) else { return nil }
            return .init(groupId: id, protocolType: group.protocolType ?? "", groupState: group.state.rawValue)
        }
    }

    /// Each group's state, protocol and members; a group this coordinator does not have is Dead.
    func describeGroups(_ ids: [String], authorizedOperations: Int32) -> [DescribeGroupsResponse.DescribedGroup] {
        ids.map { id in
            guard let group = groups[id] else {
                return .init(errorCode: .none, groupId: id, groupState: ClassicGroupState.dead.rawValue, authorizedOperations: authorizedOperations)
            }
            let stable = group.isInState(.stable)
            return .init(
                errorCode: .none, groupId: id, groupState: group.state.rawValue, protocolType: group.protocolType ?? "",
                protocolData: stable ? group.protocolName ?? "" : "",
                members: group.allMembers.map {
                    .init(
                        memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                        clientHost: $0.clientHost, memberMetadata: stable ? $0.metadata(group.protocolName) : ByteBuffer(),
                        memberAssignment: $0.assignment)
                },
                authorizedOperations: authorizedOperations)
        }
    }

    /// Deletes empty groups with their offsets (tombstones for each); NON_EMPTY_GROUP for groups with members,
    /// GROUP_ID_NOT_FOUND for groups this coordinator does not have.
    func deleteGroups(_ ids: [String]) -> [DeleteGroupsResponse.DeletableGroupResult] {
        ids.map { id in
            guard let group = groups[id], !group.isInState(.dead) else { return .init(groupId: id, errorCode: .groupIdNotFound) }
            switch group.state {
            case .stable, .preparingRebalance, .completingRebalance:
                return .init(groupId: id, errorCode: .nonEmptyGroup)
            case .empty, .dead:
                break
            }
            var records: [CoordinatorRecord] = []
            for (topic, partitions) in (offsets[id] ?? [:]).sorted(by: { $0.key < $1.key }) {
                for partition in partitions.keys.sorted() {
                    records.append(.offsetCommit(OffsetCommitKey(group: id, topic: topic, partition: partition), nil))
                }
            }
            records.append(.groupMetadata(group: id, nil))
            let error = write(records, groupId: id)
            guard error == .none else { return .init(groupId: id, errorCode: error) }
            offsets[id] = nil
            removeGroup(id)
            logger.info("group \(id) deleted with \(records.count - 1) offsets")
            return .init(groupId: id, errorCode: .none)
        }
    }
}
