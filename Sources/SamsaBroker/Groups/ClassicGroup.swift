import NIOCore
import SamsaProtocol

/// A classic consumer group (Kafka's `ClassicGroup`): its state, generation, selected protocol, leader and
/// members, and the bookkeeping of a rebalance (who has rejoined, who still owes a SyncGroup).
///
/// Members are kept in the order they joined, so that leader re-election and the member lists in responses are
/// deterministic. Lives inside the coordinator's lock; not thread-safe.
final class ClassicGroup {
    let groupId: String
    private(set) var state: ClassicGroupState
    private(set) var previousState: ClassicGroupState = .dead
    /// When the group entered its current state (ms since the epoch); nil for groups loaded from records that
    /// did not say.
    private(set) var currentStateTimestampMs: Int64?
    /// Set by the first member; nil for a simple group (offsets committed without membership).
    private(set) var protocolType: String?
    var protocolName: String?
    private(set) var generationId: Int32
    private(set) var leaderId: String?
    private var members: [String: ClassicGroupMember] = [:]
    private var memberOrder: [String] = []
    /// group.instance.id -> member id.
    private var staticMembers: [String: String] = [:]
    /// Member ids handed out with MEMBER_ID_REQUIRED whose owners have not joined with them yet.
    private var pendingJoinMembers: Set<String> = []
    private(set) var numMembersAwaitingJoin = 0
    /// Protocol name -> how many members offer it.
    private var supportedProtocols: [String: Int] = [:]
    /// Members that have not sent their SyncGroup for the current generation.
    private(set) var pendingSyncMembers: Set<String> = []
    /// The topics the consumer-protocol members subscribe to, when known.
    private(set) var subscribedTopics: Set<String>?
    /// A member joined during the initial rebalance's delay: extend it.
    var newMemberAdded = false
    let outbox: Outbox

    init(
        groupId: String, state: ClassicGroupState, nowMs: Int64?, outbox: Outbox, generationId: Int32 = 0,
        protocolType: String? = nil, protocolName: String? = nil, leaderId: String? = nil
    ) {
        self.groupId = groupId
        self.state = state
        self.currentStateTimestampMs = nowMs
        self.outbox = outbox
        self.generationId = generationId
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.leaderId = leaderId
    }

    // MARK: Reading

    func isInState(_ s: ClassicGroupState) -> Bool { state == s }
    var isEmpty: Bool { state == .empty }
    /// A group used only to store offsets: no protocol, no members.
    var isSimpleGroup: Bool { protocolType == nil && members.isEmpty && pendingJoinMembers.isEmpty }
    var usesConsumerProtocol: Bool { protocolType == ConsumerProtocol.protocolType }
    var numMembers: Int { members.count }
    var allMembers: [ClassicGroupMember] { memberOrder.compactMap { members[$0] } }
    var allMemberIds: [String] { memberOrder }
    func member(_ memberId: String) -> ClassicGroupMember? { members[memberId] }
    func hasMember(_ memberId: String) -> Bool { members[memberId] != nil }
    func isLeader(_ memberId: String) -> Bool { leaderId == memberId }
    func isPendingMember(_ memberId: String) -> Bool { pendingJoinMembers.contains(memberId) }
    var numPendingJoinMembers: Int { pendingJoinMembers.count }
    func staticMemberId(_ groupInstanceId: String) -> String? { staticMembers[groupInstanceId] }
    func hasStaticMember(_ groupInstanceId: String) -> Bool { staticMembers[groupInstanceId] != nil }
    var hasReceivedSyncFromAllMembers: Bool { pendingSyncMembers.isEmpty }

    var hasAllMembersJoined: Bool {
        members.count == numMembersAwaitingJoin && pendingJoinMembers.isEmpty
    }

    /// The longest rebalance timeout of the members.
    var rebalanceTimeoutMs: Int32 { members.values.map(\.rebalanceTimeoutMs).max() ?? 0 }

    /// Members that have not rejoined in the current rebalance.
    var notYetRejoinedMembers: [ClassicGroupMember] { allMembers.filter { !$0.isAwaitingJoin } }

    /// Whether a rebalance may start from the current state.
    var canRebalance: Bool { ClassicGroupState.preparingRebalance.validPreviousStates.contains(state) }

    /// Whether a member offering `protocols` of `protocolType` may join: any non-empty offer when the group is
    /// empty; otherwise the group's type and at least one protocol every member offers.
    func supportsProtocols(_ memberProtocolType: String, _ names: Set<String>) -> Bool {
        if state == .empty { return !memberProtocolType.isEmpty && !names.isEmpty }
        guard protocolType == memberProtocolType else { return false }
        return names.contains { supportedProtocols[$0, default: 0] == members.count }
    }

    /// The protocol all members support that most members prefer (ties go to the leader's preference order).
    func selectProtocol() -> String? {
        precondition(!members.isEmpty, "cannot select a protocol for the empty group \(groupId)")
        let candidates = Set(supportedProtocols.filter { $0.value == members.count }.keys)
        var votes: [String: Int] = [:]
        for member in allMembers {
            if let vote = member.vote(candidates) { votes[vote, default: 0] += 1 }
        }
        let best = votes.values.max() ?? 0
        let order = (leaderId.flatMap { members[$0] } ?? allMembers[0]).protocols.map(\.name)
        return order.first { votes[$0] == best } ?? votes.first { $0.value == best }?.key
    }

    /// Whether the committed offsets of `topic` are in use by this group's subscriptions.
    func isSubscribedToTopic(_ topic: String) -> Bool {
        subscribedTopics.map { $0.contains(topic) } ?? usesConsumerProtocol
    }

    /// The subscribed topics of the consumer-protocol members; nil when unknown (not the consumer protocol, no
    /// selected protocol, or metadata that does not parse).
    func computeSubscribedTopics() -> Set<String>? {
        guard let protocolType, protocolType == ConsumerProtocol.protocolType else { return nil }
        if members.isEmpty { return [] }
        guard let protocolName else { return nil }
        var topics = Set<String>()
        for member in members.values {
            guard let subscribed = ConsumerProtocol.subscribedTopics(member.metadata(protocolName)) else { return nil }
            topics.formUnion(subscribed)
        }
        return topics
    }

    // MARK: Membership

    /// Adds a member (its protocols must be supported), parking `joinPromise` if given.
    func add(_ member: ClassicGroupMember, joinPromise: EventLoopPromise<JoinGroupResponse>?) {
        if let instanceId = member.groupInstanceId {
            precondition(staticMembers[instanceId] == nil, "static member \(instanceId) added twice to \(groupId)")
            staticMembers[instanceId] = member.memberId
        }
        if members.isEmpty { protocolType = member.protocolType }
        precondition(protocolType == member.protocolType, "member protocol type differs from the group's")
        precondition(members[member.memberId] == nil, "member \(member.memberId) added twice to \(groupId)")
        if leaderId == nil { leaderId = member.memberId }
        members[member.memberId] = member
        memberOrder.append(member.memberId)
        for p in member.protocols { supportedProtocols[p.name, default: 0] += 1 }
        member.awaitingJoin = joinPromise
        if member.isAwaitingJoin { numMembersAwaitingJoin += 1 }
        pendingJoinMembers.remove(member.memberId)
    }

    /// Removes a member (or a pending member id); a new leader is the longest-standing remaining member.
    func remove(_ memberId: String) {
        if let removed = members.removeValue(forKey: memberId) {
            memberOrder.removeAll { $0 == memberId }
            for p in removed.protocols { supportedProtocols[p.name, default: 0] -= 1 }
            if removed.isAwaitingJoin { numMembersAwaitingJoin -= 1 }
            if let instanceId = removed.groupInstanceId { staticMembers[instanceId] = nil }
        }
        if isLeader(memberId) { leaderId = memberOrder.first }
        pendingJoinMembers.remove(memberId)
        pendingSyncMembers.remove(memberId)
    }

    /// Keeps the leader if it rejoined; otherwise the first member that did becomes leader. False when none did.
    func maybeElectNewJoinedLeader() -> Bool {
        guard let leaderId, let leader = members[leaderId] else { return false }
        if leader.isAwaitingJoin { return true }
        if let joined = allMembers.first(where: { $0.isAwaitingJoin }) {
            self.leaderId = joined.memberId
            return true
        }
        return false
    }

    /// Replaces the member of a static instance by a new member id, fencing the old one's parked requests with
    /// FENCED_INSTANCE_ID; the new member keeps the old one's protocols, timeouts and assignment.
    func replaceStaticMember(_ groupInstanceId: String, oldMemberId: String, newMemberId: String) -> ClassicGroupMember {
        guard let old = members.removeValue(forKey: oldMemberId) else {
            preconditionFailure("cannot replace the unknown member \(oldMemberId) of \(groupId)")
        }
        completeJoin(
            old,
            JoinGroupResponse(
                errorCode: .fencedInstanceId, generationId: -1, protocolType: nil, protocolName: nil, leader: "",
                memberId: oldMemberId))
        completeSync(old, SyncGroupResponse(errorCode: .fencedInstanceId, protocolType: nil, protocolName: nil))
        let replacement = ClassicGroupMember(
            memberId: newMemberId, groupInstanceId: old.groupInstanceId, clientId: old.clientId, clientHost: old.clientHost,
            rebalanceTimeoutMs: old.rebalanceTimeoutMs, sessionTimeoutMs: old.sessionTimeoutMs,
            protocolType: old.protocolType, protocols: old.protocols, assignment: old.assignment)
        members[newMemberId] = replacement
        if let index = memberOrder.firstIndex(of: oldMemberId) { memberOrder[index] = newMemberId }
        if isLeader(oldMemberId) { leaderId = newMemberId }
        staticMembers[groupInstanceId] = newMemberId
        pendingSyncMembers.remove(oldMemberId)
        return replacement
    }

    /// Updates a rejoining member's protocols and timeouts and parks (or clears) its JoinGroup. A JoinGroup already
    /// parked for it is answered with REBALANCE_IN_PROGRESS: only the newest waits.
    func updateMember(
        _ member: ClassicGroupMember, protocols: [ClassicGroupMember.SupportedProtocol], rebalanceTimeoutMs: Int32,
        sessionTimeoutMs: Int32, joinPromise: EventLoopPromise<JoinGroupResponse>?
    ) {
        for p in member.protocols { supportedProtocols[p.name, default: 0] -= 1 }
        member.protocols = protocols
        for p in protocols { supportedProtocols[p.name, default: 0] += 1 }
        member.rebalanceTimeoutMs = rebalanceTimeoutMs
        member.sessionTimeoutMs = sessionTimeoutMs
        if let superseded = member.awaitingJoin, joinPromise != nil {
            let response = JoinGroupResponse(errorCode: .rebalanceInProgress, memberId: member.memberId)
            outbox.append { superseded.succeed(response) }
        }
        if joinPromise != nil && !member.isAwaitingJoin {
            numMembersAwaitingJoin += 1
        } else if joinPromise == nil && member.isAwaitingJoin {
            numMembersAwaitingJoin -= 1
        }
        member.awaitingJoin = joinPromise
    }

    func addPendingMember(_ memberId: String) {
        precondition(!hasMember(memberId), "pending member \(memberId) is already a member of \(groupId)")
        pendingJoinMembers.insert(memberId)
    }

    func addPendingSyncMember(_ memberId: String) {
        precondition(hasMember(memberId), "pending sync for the unknown member \(memberId) of \(groupId)")
        pendingSyncMembers.insert(memberId)
    }

    func removePendingSyncMember(_ memberId: String) { pendingSyncMembers.remove(memberId) }
    func clearPendingSyncMembers() { pendingSyncMembers.removeAll() }

    /// Checks that `memberId` (and `groupInstanceId`, for a static member) is a current member:
    /// UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID otherwise.
    func validateMember(_ memberId: String, groupInstanceId: String?) -> ErrorCode? {
        if let groupInstanceId {
            guard let existing = staticMembers[groupInstanceId] else { return .unknownMemberId }
            guard existing == memberId else { return .fencedInstanceId }
        }
        return hasMember(memberId) ? nil : .unknownMemberId
    }

    // MARK: Parked requests

    /// Answers a member's parked JoinGroup; false if it had none.
    @discardableResult
    func completeJoin(_ member: ClassicGroupMember, _ response: JoinGroupResponse) -> Bool {
        guard let promise = member.awaitingJoin else { return false }
        member.awaitingJoin = nil
        numMembersAwaitingJoin -= 1
        outbox.append { promise.succeed(response) }
        return true
    }

    /// Answers a member's parked SyncGroup; false if it had none.
    @discardableResult
    func completeSync(_ member: ClassicGroupMember, _ response: SyncGroupResponse) -> Bool {
        guard let promise = member.awaitingSync else { return false }
        member.awaitingSync = nil
        outbox.append { promise.succeed(response) }
        return true
    }

    /// Parks a member's SyncGroup; one parked before it is answered with REBALANCE_IN_PROGRESS.
    func parkSync(_ member: ClassicGroupMember, _ promise: EventLoopPromise<SyncGroupResponse>) {
        if let superseded = member.awaitingSync {
            outbox.append { superseded.succeed(SyncGroupResponse(errorCode: .rebalanceInProgress)) }
        }
        member.awaitingSync = promise
    }

    /// Answers every parked request with `error` (the coordinator is shutting down, or the group is deleted).
    func completeAll(_ error: ErrorCode) {
        for member in allMembers {
            completeJoin(member, JoinGroupResponse(errorCode: error, memberId: member.memberId))
            completeSync(member, SyncGroupResponse(errorCode: error))
        }
    }

    // MARK: Generations

    func transition(to next: ClassicGroupState, nowMs: Int64) {
        precondition(
            next.validPreviousStates.contains(state),
            "group \(groupId) cannot move from \(state.rawValue) to \(next.rawValue)")
        previousState = state
        state = next
        currentStateTimestampMs = nowMs
    }

    /// Starts the next generation: CompletingRebalance with a selected protocol, or Empty without members.
    func initNextGeneration(nowMs: Int64) {
        generationId &+= 1
        if !members.isEmpty {
            protocolName = selectProtocol()
            subscribedTopics = computeSubscribedTopics()
            transition(to: .completingRebalance, nowMs: nowMs)
        } else {
            protocolName = nil
            subscribedTopics = computeSubscribedTopics()
            transition(to: .empty, nowMs: nowMs)
        }
        clearPendingSyncMembers()
    }

    /// The members as a JoinGroup response lists them for the leader: id, instance id, metadata of the selected
    /// protocol.
    func currentMembers() -> [JoinGroupResponse.JoinGroupResponseMember] {
        allMembers.map {
            JoinGroupResponse.JoinGroupResponseMember(
                memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(protocolName))
        }
    }

    /// member id -> assignment.
    var groupAssignment: [String: ByteBuffer] {
        Dictionary(uniqueKeysWithValues: allMembers.map { ($0.memberId, $0.assignment) })
    }

    /// The group as a record value, with `assignment` for its members.
    func metadataValue(assignment: [String: ByteBuffer]) -> GroupMetadataValue {
        GroupMetadataValue(
            protocolType: protocolType ?? "", generation: generationId, protocolName: protocolName, leader: leaderId,
            currentStateTimestampMs: currentStateTimestampMs ?? -1,
            members: allMembers.map {
                GroupMetadataValue.Member(
                    memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                    clientHost: $0.clientHost, rebalanceTimeoutMs: $0.rebalanceTimeoutMs,
                    sessionTimeoutMs: $0.sessionTimeoutMs, subscription: $0.metadata(protocolName),
                    assignment: assignment[$0.memberId] ?? ByteBuffer())
            })
    }

    /// The record of a group that has just been created: no members, generation 0, no protocol, no leader.
    var emptyMetadataValue: GroupMetadataValue {
        GroupMetadataValue(
            protocolType: "", generation: 0, protocolName: nil, leader: nil,
            currentStateTimestampMs: currentStateTimestampMs ?? -1, members: [])
    }

    /// A group as loaded from its record: Empty without members, Stable with them.
    static func loaded(groupId: String, value: GroupMetadataValue, outbox: Outbox) -> ClassicGroup {
        let group = ClassicGroup(
            groupId: groupId, state: value.members.isEmpty ? .empty : .stable,
            nowMs: value.currentStateTimestampMs == -1 ? nil : value.currentStateTimestampMs, outbox: outbox,
            generationId: value.generation, protocolType: value.protocolType.isEmpty ? nil : value.protocolType,
            protocolName: value.protocolName, leaderId: value.leader)
        for m in value.members {
            let member = ClassicGroupMember(
                memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost,
                rebalanceTimeoutMs: m.rebalanceTimeoutMs, sessionTimeoutMs: m.sessionTimeoutMs,
                protocolType: value.protocolType,
                protocols: [.init(name: value.protocolName ?? "", metadata: m.subscription)], assignment: m.assignment)
            group.members[member.memberId] = member
            group.memberOrder.append(member.memberId)
            for p in member.protocols { group.supportedProtocols[p.name, default: 0] += 1 }
            if let instanceId = member.groupInstanceId { group.staticMembers[instanceId] = member.memberId }
        }
        if group.leaderId.map({ group.members[$0] == nil }) ?? !group.members.isEmpty {
            group.leaderId = group.memberOrder.first
        }
        group.subscribedTopics = group.computeSubscribedTopics()
        return group
    }
}
