import NIOCore
import SamsaProtocol

/// SyncGroup, Heartbeat and LeaveGroup (Kafka's `classicGroupSync`, `classicGroupHeartbeat`, `classicGroupLeave`).
extension GroupMetadataManager {
    /// Handles a SyncGroup whose group id was checked. The answer comes through `promise`: at once, or (for a
    /// follower while the leader has not sent the assignment yet) when the assignment arrives.
    func sync(_ request: SyncGroupRequest, promise: EventLoopPromise<SyncGroupResponse>) {
        func answer(_ error: ErrorCode) {
            outbox.append { promise.succeed(SyncGroupResponse(errorCode: error)) }
        }
        guard let group = groups[request.groupId], !group.isEmpty else { return answer(.unknownMemberId) }
        if group.isInState(.dead) { return answer(.coordinatorNotAvailable) }
        if let error = group.validateMember(request.memberId, groupInstanceId: request.groupInstanceId) { return answer(error) }
        guard request.generationId == group.generationId else { return answer(.illegalGeneration) }
        if Self.isInconsistent(request.protocolType, group.protocolType) || Self.isInconsistent(request.protocolName, group.protocolName) {
            return answer(.inconsistentGroupProtocol)
        }
        let member = group.member(request.memberId)!
        switch group.state {
        case .preparingRebalance:
            answer(.rebalanceInProgress)
        case .completingRebalance:
            group.parkSync(member, promise)
            removePendingSyncMember(group, request.memberId)
            guard group.isLeader(request.memberId) else { return }
            // The leader's assignment: bytes per member id, passed on untouched; members it left out get none.
            var assignment: [String: ByteBuffer] = [:]
            for entry in request.assignments { assignment[entry.memberId] = entry.assignment }
            for memberId in group.allMemberIds where assignment[memberId] == nil {
                assignment[memberId] = ByteBuffer()
                logger.warning("group \(group.groupId) generation \(group.generationId): no assignment for \(memberId)")
            }
            logger.info("group \(group.groupId): assignment for generation \(group.generationId) received from leader \(request.memberId)")
            let error = writeGroupMetadata(group, assignment: assignment)
            if error == .none {
                setAndPropagateAssignment(group, assignment)
                group.transition(to: .stable, nowMs: clock())
            } else {
                resetAndPropagateAssignment(group, error: error)
                maybePrepareRebalanceOrCompleteJoin(group, reason: "storing the assignment failed with \(error)")
            }
        case .stable:
            removePendingSyncMember(group, request.memberId)
            let response = SyncGroupResponse(
                errorCode: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                assignment: member.assignment)
            outbox.append { promise.succeed(response) }
        case .empty, .dead:
            answer(.unknownMemberId)
        }
    }

    /// A request's protocol type or name differs from the group's (nil on either side is no difference).
    static func isInconsistent(_ requested: String?, _ current: String?) -> Bool {
        guard let requested, let current else { return false }
        return requested != current
    }

    private func removePendingSyncMember(_ group: ClassicGroup, _ memberId: String) {
        group.removePendingSyncMember(memberId)
        switch group.state {
        case .dead, .empty, .preparingRebalance:
            cancelTimer(.sync(group: group.groupId))
        case .completingRebalance, .stable:
            if group.hasReceivedSyncFromAllMembers { cancelTimer(.sync(group: group.groupId)) }
        }
    }

    /// Handles a Heartbeat whose group id was checked.
    func heartbeat(_ request: HeartbeatRequest) -> ErrorCode {
        guard let group = groups[request.groupId] else { return .unknownMemberId }
        if group.isInState(.dead) { return .coordinatorNotAvailable }
        if let error = group.validateMember(request.memberId, groupInstanceId: request.groupInstanceId) { return error }
        guard request.generationId == group.generationId else { return .illegalGeneration }
        let member = group.member(request.memberId)!
        switch group.state {
        case .empty, .dead:
            return .unknownMemberId
        case .preparingRebalance:
            rescheduleHeartbeat(group, member)
            return .rebalanceInProgress
        case .completingRebalance, .stable:
            rescheduleHeartbeat(group, member)
            return .none
        }
    }

    /// Handles a LeaveGroup whose group id was checked: each member (v3+ may name several, by member id or, for
    /// static members, by instance id alone) gets its own result.
    func leave(groupId: String, members: [LeaveGroupRequest.MemberIdentity]) -> LeaveGroupResponse {
        guard let group = groups[groupId] else {
            return LeaveGroupResponse(
                errorCode: .none,
                members: members.map { .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, errorCode: .unknownMemberId) })
        }
        if group.isInState(.dead) { return LeaveGroupResponse(errorCode: .coordinatorNotAvailable) }
        var responses: [LeaveGroupResponse.MemberResponse] = []
        var left: [String] = []
        for identity in members {
            var error = ErrorCode.none
            if identity.memberId.isEmpty {
                if let instanceId = identity.groupInstanceId, let memberId = group.staticMemberId(instanceId) {
                    removeCurrentMember(group, memberId)
                    left.append(memberId)
                } else {
                    error = .unknownMemberId
                }
            } else if group.isPendingMember(identity.memberId) {
                group.remove(identity.memberId)
                cancelTimer(.heartbeat(group: groupId, member: identity.memberId))
                left.append(identity.memberId)
            } else if let invalid = group.validateMember(identity.memberId, groupInstanceId: identity.groupInstanceId) {
                error = invalid
            } else {
                removeCurrentMember(group, identity.memberId)
                left.append(identity.memberId)
            }
            responses.append(.init(memberId: identity.memberId, groupInstanceId: identity.groupInstanceId, errorCode: error))
        }
        if !left.isEmpty {
            logger.info("group \(groupId): \(left) left")
            switch group.state {
            case .stable, .completingRebalance:
                maybePrepareRebalanceOrCompleteJoin(group, reason: "members \(left) left")
            case .preparingRebalance:
                maybeCompleteJoinPhase(group)
            case .empty, .dead:
                break
            }
        }
        return LeaveGroupResponse(errorCode: .none, members: responses)
    }

    private func removeCurrentMember(_ group: ClassicGroup, _ memberId: String) {
        guard let member = group.member(memberId) else { return }
        cancelTimer(.heartbeat(group: group.groupId, member: memberId))
        group.completeJoin(member, JoinGroupResponse(errorCode: .unknownMemberId, memberId: ""))
        group.completeSync(member, SyncGroupResponse(errorCode: .unknownMemberId))
        group.remove(memberId)
    }
}
