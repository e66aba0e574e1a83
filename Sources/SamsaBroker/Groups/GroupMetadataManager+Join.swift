import NIOCore
import SamsaProtocol

/// JoinGroup and the rebalance it drives (Kafka's `classicGroupJoin` and the methods it calls).
extension GroupMetadataManager {
    /// Handles a JoinGroup whose group id and session timeout were checked. The answer comes through `promise`,
    /// at once or when the join phase completes.
    func join(_ request: JoinGroupRequest, context: GroupRequestContext, promise: EventLoopPromise<JoinGroupResponse>) {
        let memberId = request.memberId
        let isUnknownMember = memberId.isEmpty
        let isNewGroup = groups[request.groupId] == nil
        guard let group = getOrCreateGroup(request.groupId, create: isUnknownMember) else {
            outbox.append { promise.succeed(JoinGroupResponse(errorCode: .unknownMemberId, memberId: memberId)) }
            return
        }
        var wroteRecord = false
        if !acceptJoiningMember(group, memberId: memberId) {
            group.remove(memberId)
            outbox.append { promise.succeed(JoinGroupResponse(errorCode: .groupMaxSizeReached, memberId: "")) }
        } else if isUnknownMember {
            wroteRecord = joinNewMember(group, request, context, promise)
        } else {
            wroteRecord = joinExistingMember(group, request, context, promise)
        }
        if isNewGroup && !wroteRecord && groups[request.groupId] === group {
            // A new group is written at once, so that it survives a restart before its first rebalance completes.
            // Written empty, as Kafka's `newEmptyGroupMetadataRecord` does: the member that just joined has no
            // generation and no selected protocol yet, and reloaded as a member of a Stable group it would refuse
            // every newcomer (INCONSISTENT_GROUP_PROTOCOL) until its session ran out.
            let error = write([.groupMetadata(group: group.groupId, group.emptyMetadataValue)], groupId: group.groupId)
            if error != .none {
                logger.warning("could not write the new group \(group.groupId): \(error)")
            }
        }
    }

    /// A random UUID in Java's `UUID.toString()` form (what Kafka puts after the client id in member ids).
    static func randomUUIDString() -> String {
        var g = SystemRandomNumberGenerator()
        let bytes = Uuid.random(using: &g).bytes
        let hex = bytes.map { b -> String in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }

    private static func protocols(_ request: JoinGroupRequest) -> [ClassicGroupMember.SupportedProtocol] {
        request.protocols.map { .init(name: $0.name, metadata: $0.metadata) }
    }

    /// Kafka's `acceptJoiningMember`: group.max.size counts parked joins while preparing, members otherwise.
    private func acceptJoiningMember(_ group: ClassicGroup, memberId: String) -> Bool {
        switch group.state {
        case .empty, .dead: return true
        case .preparingRebalance:
            return (group.member(memberId)?.isAwaitingJoin ?? false) || group.numMembersAwaitingJoin < Int(config.maxSize)
        case .completingRebalance, .stable:
            return group.hasMember(memberId) || group.numMembers < Int(config.maxSize)
        }
    }

    /// Returns whether a record was written.
    private func joinNewMember(
        _ group: ClassicGroup, _ request: JoinGroupRequest, _ context: GroupRequestContext,
        _ promise: EventLoopPromise<JoinGroupResponse>
    ) -> Bool {
        if group.isInState(.dead) {
            respond(promise, JoinGroupResponse(errorCode: .coordinatorNotAvailable, memberId: ""))
            return false
        }
        guard group.supportsProtocols(request.protocolType, Set(request.protocols.map(\.name))) else {
            respond(promise, JoinGroupResponse(errorCode: .inconsistentGroupProtocol, memberId: ""))
            return false
        }
        let newMemberId = (request.groupInstanceId ?? context.clientId) + "-" + Self.randomUUIDString()
        if let instanceId = request.groupInstanceId {
            if let existing = group.staticMemberId(instanceId) {
                logger.info("static member \(instanceId) of group \(group.groupId) rejoins: \(existing) becomes \(newMemberId)")
                return updateStaticMemberThenRebalanceOrCompleteJoin(group, request, context, old: existing, new: newMemberId, promise)
            }
            addMemberThenRebalanceOrCompleteJoin(group, request, context, memberId: newMemberId, promise)
            return false
        }
        if context.apiVersion >= 4 {
            // The member must come back with this id, so that a client that gave up on a parked JoinGroup
            // does not leave a stranger behind in the group.
            group.addPendingMember(newMemberId)
            schedule(
                .heartbeat(group: group.groupId, member: newMemberId), afterMs: Int64(request.sessionTimeoutMs),
                .heartbeatExpired(group: group.groupId, member: newMemberId))
            respond(promise, JoinGroupResponse(errorCode: .memberIdRequired, memberId: newMemberId))
            return false
        }
        addMemberThenRebalanceOrCompleteJoin(group, request, context, memberId: newMemberId, promise)
        return false
    }

    private func joinExistingMember(
        _ group: ClassicGroup, _ request: JoinGroupRequest, _ context: GroupRequestContext,
        _ promise: EventLoopPromise<JoinGroupResponse>
    ) -> Bool {
        let memberId = request.memberId
        if group.isInState(.dead) {
            respond(promise, JoinGroupResponse(errorCode: .coordinatorNotAvailable, memberId: memberId))
            return false
        }
        let protocols = Self.protocols(request)
        guard group.supportsProtocols(request.protocolType, Set(protocols.map(\.name))) else {
            respond(promise, JoinGroupResponse(errorCode: .inconsistentGroupProtocol, memberId: memberId))
            return false
        }
        if group.isPendingMember(memberId) {
            guard request.groupInstanceId == nil else {
                // Kafka treats this as an illegal state (a pending member is never static) and fails the request.
                respond(promise, JoinGroupResponse(errorCode: .unknownServerError, memberId: memberId))
                return false
            }
            addMemberThenRebalanceOrCompleteJoin(group, request, context, memberId: memberId, promise)
            return false
        }
        if let error = group.validateMember(memberId, groupInstanceId: request.groupInstanceId) {
            respond(promise, JoinGroupResponse(errorCode: error, protocolType: nil, protocolName: nil, memberId: memberId))
            return false
        }
        let member = group.member(memberId)!
        switch group.state {
        case .preparingRebalance:
            updateMemberThenRebalanceOrCompleteJoin(group, member, request, promise)
        case .completingRebalance:
            if member.matches(protocols) {
                // The same metadata again (the member missed its JoinGroup answer): the current generation.
                respond(promise, currentGenerationResponse(group, memberId: memberId, withMembers: group.isLeader(memberId)))
            } else {
                updateMemberThenRebalanceOrCompleteJoin(group, member, request, promise)
            }
        case .stable:
            if group.isLeader(memberId) || !member.matches(protocols) {
                // A leader rejoining forces a rebalance (it may see changes the metadata does not show).
                updateMemberThenRebalanceOrCompleteJoin(group, member, request, promise)
            } else {
                respond(promise, currentGenerationResponse(group, memberId: memberId, withMembers: false))
            }
        case .empty, .dead:
            respond(promise, JoinGroupResponse(errorCode: .unknownMemberId, memberId: memberId))
        }
        return false
    }

    func currentGenerationResponse(_ group: ClassicGroup, memberId: String, withMembers: Bool) -> JoinGroupResponse {
        JoinGroupResponse(
            errorCode: .none, generationId: group.generationId, protocolType: group.protocolType,
            protocolName: group.protocolName, leader: group.leaderId ?? "", skipAssignment: false, memberId: memberId,
            members: withMembers ? group.currentMembers() : [])
    }

    func respond(_ promise: EventLoopPromise<JoinGroupResponse>, _ response: JoinGroupResponse) {
        outbox.append { promise.succeed(response) }
    }

    private func addMemberThenRebalanceOrCompleteJoin(
        _ group: ClassicGroup, _ request: JoinGroupRequest, _ context: GroupRequestContext, memberId: String,
        _ promise: EventLoopPromise<JoinGroupResponse>
    ) {
        let member = ClassicGroupMember(
            memberId: memberId, groupInstanceId: request.groupInstanceId, clientId: context.clientId,
            clientHost: context.clientHost, rebalanceTimeoutMs: request.rebalanceTimeoutMs,
            sessionTimeoutMs: request.sessionTimeoutMs, protocolType: request.protocolType,
            protocols: Self.protocols(request))
        member.isNew = true
        if group.isInState(.preparingRebalance) && group.previousState == .empty { group.newMemberAdded = true }
        group.add(member, joinPromise: promise)
        // A parked JoinGroup of a new member cannot be kept alive by heartbeats (the member has no id yet, and a
        // client that timed out will retry): it is dropped if the rebalance takes this long.
        rescheduleHeartbeat(group, member, timeoutMs: config.newMemberJoinTimeoutMs)
        maybePrepareRebalanceOrCompleteJoin(group, reason: "adding member \(memberId)")
    }

    private func updateMemberThenRebalanceOrCompleteJoin(
        _ group: ClassicGroup, _ member: ClassicGroupMember, _ request: JoinGroupRequest,
        _ promise: EventLoopPromise<JoinGroupResponse>
    ) {
        group.updateMember(
            member, protocols: Self.protocols(request), rebalanceTimeoutMs: request.rebalanceTimeoutMs,
            sessionTimeoutMs: request.sessionTimeoutMs, joinPromise: promise)
        maybePrepareRebalanceOrCompleteJoin(group, reason: "member \(member.memberId) rejoins")
    }

    /// A known static instance joins with an unknown member id: it takes over the old member id's place.
    /// Returns whether a record was written.
    private func updateStaticMemberThenRebalanceOrCompleteJoin(
        _ group: ClassicGroup, _ request: JoinGroupRequest, _ context: GroupRequestContext, old oldMemberId: String,
        new newMemberId: String, _ promise: EventLoopPromise<JoinGroupResponse>
    ) -> Bool {
        let instanceId = request.groupInstanceId!
        let currentLeader = group.leaderId
        let member = group.replaceStaticMember(instanceId, oldMemberId: oldMemberId, newMemberId: newMemberId)
        cancelTimer(.heartbeat(group: group.groupId, member: oldMemberId))
        rescheduleHeartbeat(group, member)
        let oldProtocols = member.protocols
        let oldRebalanceTimeoutMs = member.rebalanceTimeoutMs
        let oldSessionTimeoutMs = member.sessionTimeoutMs
        group.updateMember(
            member, protocols: Self.protocols(request), rebalanceTimeoutMs: request.rebalanceTimeoutMs,
            sessionTimeoutMs: request.sessionTimeoutMs, joinPromise: promise)
        switch group.state {
        case .stable:
            guard group.protocolName == group.selectProtocol() else {
                maybePrepareRebalanceOrCompleteJoin(group, reason: "static member \(instanceId) changed its protocols")
                return false
            }
            // The same protocol: no rebalance, the new member id takes the old one's assignment.
            let error = writeGroupMetadata(group, assignment: group.groupAssignment)
            if error != .none {
                group.updateMember(
                    member, protocols: oldProtocols, rebalanceTimeoutMs: oldRebalanceTimeoutMs,
                    sessionTimeoutMs: oldSessionTimeoutMs, joinPromise: nil)
                let restored = group.replaceStaticMember(instanceId, oldMemberId: newMemberId, newMemberId: oldMemberId)
                cancelTimer(.heartbeat(group: group.groupId, member: newMemberId))
                rescheduleHeartbeat(group, restored)
                respond(
                    promise,
                    JoinGroupResponse(
                        errorCode: error, generationId: group.generationId, protocolType: group.protocolType,
                        protocolName: group.protocolName, leader: currentLeader ?? "", memberId: ""))
                return true
            }
            if context.apiVersion >= 9 {
                let isLeader = group.isLeader(newMemberId)
                var response = currentGenerationResponse(group, memberId: newMemberId, withMembers: isLeader)
                response.skipAssignment = isLeader
                group.completeJoin(member, response)
            } else {
                var response = currentGenerationResponse(group, memberId: newMemberId, withMembers: false)
                response.leader = currentLeader ?? ""
                group.completeJoin(member, response)
            }
            return true
        case .completingRebalance:
            // The leader may already be computing an assignment naming the old member id: start over.
            prepareRebalance(group, reason: "static member \(instanceId) rejoins during CompletingRebalance")
        case .preparingRebalance:
            maybeCompleteJoinPhase(group)
        case .empty, .dead:
            preconditionFailure("group \(group.groupId) has the static member \(instanceId) but is \(group.state.rawValue)")
        }
        return false
    }

    // MARK: Rebalancing

    func maybePrepareRebalanceOrCompleteJoin(_ group: ClassicGroup, reason: String) {
        if group.canRebalance {
            prepareRebalance(group, reason: reason)
        } else {
            maybeCompleteJoinPhase(group)
        }
    }

    func prepareRebalance(_ group: ClassicGroup, reason: String) {
        if group.isInState(.completingRebalance) {
            resetAndPropagateAssignment(group, error: .rebalanceInProgress)
        }
        removeSyncExpiration(group)
        let isInitialRebalance = group.isInState(.empty)
        if isInitialRebalance {
            // A new group: give more members the time to join before the first generation.
            let delayMs = config.initialRebalanceDelayMs
            let remainingMs = max(group.rebalanceTimeoutMs - delayMs, 0)
            schedule(
                .join(group: group.groupId), afterMs: Int64(delayMs),
                .initialRebalance(group: group.groupId, delayMs: delayMs, remainingMs: remainingMs))
        }
        group.transition(to: .preparingRebalance, nowMs: clock())
        logger.info(
            "preparing to rebalance group \(group.groupId) (generation \(group.generationId), \(group.numMembers) members): \(reason)")
        if !isInitialRebalance { maybeCompleteJoinElseSchedule(group) }
    }

    private func maybeCompleteJoinElseSchedule(_ group: ClassicGroup) {
        if group.hasAllMembersJoined {
            completeJoin(group)
        } else {
            schedule(.join(group: group.groupId), afterMs: Int64(group.rebalanceTimeoutMs), .completeJoin(group: group.groupId))
        }
    }

    func tryCompleteInitialRebalance(groupId: String, delayMs: Int32, remainingMs: Int32) {
        guard let group = groups[groupId] else { return }
        if group.newMemberAdded && remainingMs != 0 {
            group.newMemberAdded = false
            let newDelayMs = min(config.initialRebalanceDelayMs, remainingMs)
            let newRemainingMs = max(remainingMs - delayMs, 0)
            schedule(
                .join(group: groupId), afterMs: Int64(newDelayMs),
                .initialRebalance(group: groupId, delayMs: newDelayMs, remainingMs: newRemainingMs))
        } else {
            completeJoin(group)
        }
    }

    /// Completes the join phase when every member has rejoined (not during the initial rebalance's delay).
    func maybeCompleteJoinPhase(_ group: ClassicGroup) {
        guard group.isInState(.preparingRebalance), group.previousState != .empty, group.hasAllMembersJoined else { return }
        completeJoin(group)
    }

    /// Ends the join phase: dynamic members that did not rejoin are dropped, the next generation starts, every
    /// parked JoinGroup is answered (the leader's with the members and their metadata), and the group waits for
    /// SyncGroups.
    func completeJoin(_ group: ClassicGroup) {
        cancelTimer(.join(group: group.groupId))
        for member in group.notYetRejoinedMembers where !member.isStatic {
            group.completeSync(member, SyncGroupResponse(errorCode: .unknownMemberId))
            group.remove(member.memberId)
            cancelTimer(.heartbeat(group: group.groupId, member: member.memberId))
            logger.info("group \(group.groupId): member \(member.memberId) did not rejoin in time and was removed")
        }
        guard !group.isInState(.dead) else { return }
        if !group.maybeElectNewJoinedLeader() && group.numMembers > 0 {
            // Only static members that have not rejoined are left: wait for them, or for their sessions to end.
            schedule(.join(group: group.groupId), afterMs: Int64(group.rebalanceTimeoutMs), .completeJoin(group: group.groupId))
            return
        }
        group.initNextGeneration(nowMs: clock())
        if group.isInState(.empty) {
            logger.info("group \(group.groupId) with generation \(group.generationId) is now empty")
            let error = writeGroupMetadata(group, assignment: [:])
            if error != .none { logger.warning("could not write the empty group \(group.groupId): \(error)") }
            return
        }
        logger.info("group \(group.groupId) generation \(group.generationId): \(group.numMembers) members, protocol \(group.protocolName ?? "-")")
        for member in group.allMembers {
            let response = currentGenerationResponse(group, memberId: member.memberId, withMembers: group.isLeader(member.memberId))
            group.completeJoin(member, response)
            rescheduleHeartbeat(group, member)
            member.isNew = false
            group.addPendingSyncMember(member.memberId)
        }
        let generation = group.generationId
        schedule(
            .sync(group: group.groupId), afterMs: Int64(group.rebalanceTimeoutMs),
            .syncExpired(group: group.groupId, generation: generation))
    }

    func removeSyncExpiration(_ group: ClassicGroup) {
        group.clearPendingSyncMembers()
        cancelTimer(.sync(group: group.groupId))
    }

    /// Members that never sent their SyncGroup are removed, and the group rebalances without them.
    func expirePendingSync(groupId: String, generation: Int32) {
        guard let group = groups[groupId], generation == group.generationId else { return }
        guard group.isInState(.completingRebalance) || group.isInState(.stable), !group.hasReceivedSyncFromAllMembers else {
            return
        }
        let late = group.pendingSyncMembers.sorted()
        for memberId in late {
            if let member = group.member(memberId) {
                group.completeJoin(member, JoinGroupResponse(errorCode: .unknownMemberId, memberId: ""))
                group.completeSync(member, SyncGroupResponse(errorCode: .unknownMemberId))
            }
            group.remove(memberId)
            cancelTimer(.heartbeat(group: groupId, member: memberId))
        }
        logger.info("group \(groupId): removed \(late) who did not send their SyncGroup in time")
        prepareRebalance(group, reason: "members \(late) did not sync")
    }

    /// A member's session (or a pending member's join window) ran out.
    func expireHeartbeat(groupId: String, memberId: String) {
        guard let group = groups[groupId], !group.isInState(.dead) else { return }
        if group.isPendingMember(memberId) {
            logger.info("group \(groupId): pending member \(memberId) did not join within its session timeout")
            group.remove(memberId)
            if group.isInState(.preparingRebalance) && group.hasAllMembersJoined { completeJoin(group) }
            return
        }
        guard let member = group.member(memberId), !member.hasSatisfiedHeartbeat else { return }
        logger.info("group \(groupId): member \(memberId) failed (no heartbeat within \(member.sessionTimeoutMs) ms) and was removed")
        removeMemberAndUpdateGroup(group, member, reason: "heartbeat expired for \(memberId)")
    }

    func removeMemberAndUpdateGroup(_ group: ClassicGroup, _ member: ClassicGroupMember, reason: String) {
        group.completeJoin(member, JoinGroupResponse(errorCode: .unknownMemberId, memberId: ""))
        group.completeSync(member, SyncGroupResponse(errorCode: .unknownMemberId))
        group.remove(member.memberId)
        switch group.state {
        case .stable, .completingRebalance: maybePrepareRebalanceOrCompleteJoin(group, reason: reason)
        case .preparingRebalance where group.hasAllMembersJoined: completeJoin(group)
        default: break
        }
    }

    // MARK: Assignments

    /// Clears every assignment and answers parked SyncGroups with `error`.
    func resetAndPropagateAssignment(_ group: ClassicGroup, error: ErrorCode) {
        precondition(group.isInState(.completingRebalance), "group \(group.groupId) resets assignments in \(group.state.rawValue)")
        for member in group.allMembers { member.assignment = ByteBuffer() }
        propagateAssignment(group, error: error)
    }

    func setAndPropagateAssignment(_ group: ClassicGroup, _ assignment: [String: ByteBuffer]) {
        precondition(group.isInState(.completingRebalance), "group \(group.groupId) sets assignments in \(group.state.rawValue)")
        for member in group.allMembers { member.assignment = assignment[member.memberId] ?? ByteBuffer() }
        propagateAssignment(group, error: .none)
    }

    private func propagateAssignment(_ group: ClassicGroup, error: ErrorCode) {
        let ok = error == .none
        for member in group.allMembers {
            let response = SyncGroupResponse(
                errorCode: error, protocolType: ok ? group.protocolType : nil, protocolName: ok ? group.protocolName : nil,
                assignment: member.assignment)
            if group.completeSync(member, response) {
                // Sessions restart once a member has its assignment.
                rescheduleHeartbeat(group, member)
            }
        }
    }
}
