import NIOCore
import NIOPosix
import SamsaLog
import SamsaProtocol

/// A member's place in its group: what the last JoinGroup gave it.
public struct GroupGeneration: Sendable, Equatable, CustomStringConvertible {
    /// -1 when the member is not part of a generation.
    public var generationId: Int32
    /// "" before the coordinator has given the member an id.
    public var memberId: String
    /// The assignor the coordinator chose.
    public var protocolName: String?

    public init(generationId: Int32, memberId: String, protocolName: String?) {
        self.generationId = generationId
        self.memberId = memberId
        self.protocolName = protocolName
    }

    public static let none = GroupGeneration(generationId: -1, memberId: "", protocolName: nil)

    public var description: String { "generation \(generationId), member '\(memberId)'" }
}

/// What the coordinator needs from its consumer.
struct GroupMemberHooks: Sendable {
    /// The positions to commit: for each assigned partition with a known position, the next offset to consume.
    var consumedPositions: @Sendable () -> [TopicPartition: Int64]
    /// An eager rebalance starts: forget every partition (stop fetching them, drop what is buffered).
    var revokeAll: @Sendable () -> Void
    /// The assignment of a new generation, with the committed offsets to start from (partitions without one
    /// start at `auto.offset.reset`).
    var assign: @Sendable ([TopicPartition], [TopicPartition: Int64]) -> Void
    /// Something changed that `poll` should act on now (a rebalance began, a fatal error).
    var wakeup: @Sendable () -> Void
}

/// The member side of Kafka's classic group protocol for one consumer (Kafka's `ConsumerCoordinator` on top of
/// `AbstractCoordinator`):
///
/// - finds the group's coordinator (FindCoordinator) and keeps a connection of its own to it, so that a
///   JoinGroup waiting for the whole group never delays fetches;
/// - joins (JoinGroup with one protocol per assignor, the subscription in the consumer protocol; a new dynamic
///   member answered MEMBER_ID_REQUIRED joins again with the id it was given), lets the leader compute every
///   member's assignment, and syncs (SyncGroup);
/// - then reads the committed offsets of its partitions (OffsetFetch) and hands the assignment to the consumer;
/// - heartbeats every `heartbeat.interval.ms` from a task of its own; REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION
///   and UNKNOWN_MEMBER_ID make the next `poll` rejoin (eager protocol: everything is revoked first, after the
///   consumed positions are committed when auto commit is on); a member that has not polled for
///   `max.poll.interval.ms` leaves the group;
/// - commits offsets (every `auto.commit.interval.ms` from `poll`, or when asked) and leaves on close (dynamic
///   members; a static member, `group.instance.id`, keeps its place for `session.timeout.ms`).
///
/// Joins run in a task of their own that `poll` waits for until its deadline: a join longer than one poll
/// carries on into the next.

actor ConsumerCoordinator {
    enum MemberState: Sendable, Equatable { case unjoined, rebalancing, stable }

    let groupId: String
    let config: ConsumerConfig
    let cluster: Cluster
    private let eventLoopGroup: any EventLoopGroup
    private let hooks: GroupMemberHooks

    private var coordinator: (location: CoordinatorLocation, connection: BrokerConnection)?
    private var connecting: Task<(CoordinatorLocation, BrokerConnection), any Error>?
    private(set) var generation = GroupGeneration.none
    private(set) var state = MemberState.unjoined
    /// Why the member must (re)join; nil while its membership is current.
    private(set) var rejoinReason: String? = "the consumer subscribed"
    private(set) var subscription: [String] = []
    private(set) var assignment: [TopicPartition] = []
    private var joining: Task<Void, Never>?
    private let joinDone: Wakeup
    private var failure: ClientError?
    /// `close` has begun: no new join starts, a join in progress stops.
    private var closing = false
    private var closed = false
    private var lastPoll = NIODeadline.now()
    private var lastHeartbeatAck = NIODeadline.now()
    private var heartbeat: Task<Void, Never>?
    private let heartbeatWakeup: Wakeup
    private var nextAutoCommit = NIODeadline.now()
    private var autoCommit: Task<Void, Never>?
    /// Partition counts of the subscribed topics when the assignment was made (0: the topic did not exist).
    private var metadataSnapshot: [String: Int32] = [:]
    private var nextMetadataCheck = NIODeadline.now()
    /// How many JoinGroup requests this member sent (for tests and logs).
    private(set) var joinCount = 0

    init(groupId: String, config: ConsumerConfig, cluster: Cluster, eventLoopGroup: any EventLoopGroup, hooks: GroupMemberHooks) {
        self.groupId = groupId
        self.config = config
        self.cluster = cluster
        self.eventLoopGroup = eventLoopGroup
        self.hooks = hooks
        let loop = eventLoopGroup.next()
        self.joinDone = Wakeup(eventLoop: loop)
        self.heartbeatWakeup = Wakeup(eventLoop: loop)
    }

    private var requestTimeout: TimeAmount { .milliseconds(config.client.requestTimeoutMs) }
    private var backoff: TimeAmount { .milliseconds(config.retryBackoffMs) }
    /// JoinGroup and SyncGroup may wait for the whole group: the rebalance timeout, plus a margin (Kafka's).
    private var joinTimeout: TimeAmount {
        .milliseconds(max(config.client.requestTimeoutMs, Int64(config.maxPollIntervalMs) + 5_000))
    }

    // MARK: Subscription

    /// Replaces the subscription; a change makes the member rejoin. An empty list leaves the group.
    func subscribe(_ topics: [String]) async {
        let sorted = Array(Set(topics)).sorted()
        guard sorted != subscription else { return }
        subscription = sorted
        if sorted.isEmpty {
            await leaveGroup(reason: "the consumer unsubscribed")
            hooks.revokeAll()
            assignment = []
            rejoinReason = nil
            return
        }
        requestRejoin("the subscription changed to \(sorted)")
    }

    private func requestRejoin(_ reason: String) {
        if rejoinReason == nil { rejoinReason = reason }
        hooks.wakeup()
    }

    // MARK: Poll

    /// Called from every consumer poll: rejoins if needed (waiting for the join until `deadline`), and commits
    /// when auto commit is due. Returns whether the member holds a current assignment (true as well without a
    /// subscription: a consumer of assigned partitions only uses the coordinator for commits).
    func poll(until deadline: NIODeadline) async throws(ClientError) -> Bool {
        if let failure { throw failure }
        if closing { throw .closed }
        lastPoll = .now()
        guard !subscription.isEmpty else {
            maybeAutoCommit()
            return true
        }
        if rejoinReason != nil || state != .stable {
            if joining == nil { startJoin() }
            while joining != nil, NIODeadline.now() < deadline {
                await joinDone.wait(until: deadline)
            }
            if let failure { throw failure }
            if joining != nil || state != .stable || rejoinReason != nil { return false }
        }
        maybeAutoCommit()
        return true
    }

    // MARK: Joining

    private func startJoin() {
        // Eager protocol: the consumed positions are committed with the old generation (the coordinator accepts
        // them while it prepares the rebalance), then every partition is revoked.
        let revoking = state == .stable || !assignment.isEmpty
        let positions = revoking && config.enableAutoCommit && generation.generationId >= 0 ? hooks.consumedPositions() : [:]
        joining = Task { await self.join(commitFirst: positions, revoke: revoking) }
    }

    private enum JoinStep { case done, again, afterBackoff }

    private func join(commitFirst positions: [TopicPartition: Int64], revoke: Bool) async {
        defer {
            joining = nil
            joinDone.signal()
        }
        if !positions.isEmpty {
            await autoCommit?.value
            do {
                try await commit(positions, deadline: .now() + .milliseconds(min(config.defaultApiTimeoutMs, Int64(config.sessionTimeoutMs))))
            } catch {
                if case .groupFailed = error { return fail(error) }
                // As Kafka's consumer: a failed commit before a rebalance is logged, not fatal; the records since
                // the last commit may be delivered again.
            }
        }
        if revoke {
            hooks.revokeAll()
            assignment = []
        }
        state = .rebalancing
        while !closing && failure == nil {
            let step: JoinStep
            do throws(ClientError) {
                let connection = try await ensureCoordinator()
                step = try await joinAndSync(connection)
            } catch {
                if !error.isRetriable { return fail(error) }
                if case .connectionClosed = error { markCoordinatorUnknown() }
                if case .connectionFailed = error { markCoordinatorUnknown() }
                if case .requestTimedOut = error { markCoordinatorUnknown() }
                step = .afterBackoff
            }
            switch step {
            case .done: return
            case .again: continue
            case .afterBackoff: try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
            }
        }
    }

    private func fail(_ error: ClientError) {
        if failure == nil { failure = error }
        hooks.wakeup()
    }

    /// One JoinGroup, and the SyncGroup that follows it.
    private func joinAndSync(_ connection: BrokerConnection) async throws(ClientError) -> JoinStep {
        let metadata = try subscriptionBytes()
        let request = JoinGroupRequest(
            groupId: groupId, sessionTimeoutMs: config.sessionTimeoutMs, rebalanceTimeoutMs: config.maxPollIntervalMs,
            memberId: generation.memberId, groupInstanceId: config.groupInstanceId,
            protocolType: ConsumerProtocol.protocolType,
            protocols: config.assignors.map { JoinGroupRequest.JoinGroupRequestProtocol(name: $0.name, metadata: metadata) },
            reason: rejoinReason)
        joinCount += 1
        let response = try await connection.request(request, timeout: joinTimeout)
        if closing || closed { return .done }
        switch response.errorCode {
        case .memberIdRequired:
            // KIP-394: a new member gets its id first and joins again with it.
            generation = GroupGeneration(generationId: -1, memberId: response.memberId, protocolName: nil)
            return .again
        case .rebalanceInProgress:
            return .afterBackoff
        default:
            if let step = try step(after: response.errorCode, of: "JoinGroup") { return step }
        }
        if let type = response.protocolType, type != ConsumerProtocol.protocolType {
            throw .groupFailed(group: groupId, reason: "JoinGroup answered protocol type '\(type)', not 'consumer'")
        }
        generation = GroupGeneration(
            generationId: response.generationId, memberId: response.memberId, protocolName: response.protocolName)
        var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
        if response.leader == response.memberId && !response.skipAssignment {
            assignments = try await performAssignment(protocol: response.protocolName, members: response.members)
        }
        let sync = SyncGroupRequest(
            groupId: groupId, generationId: generation.generationId, memberId: generation.memberId,
            groupInstanceId: config.groupInstanceId, protocolType: ConsumerProtocol.protocolType,
            protocolName: generation.protocolName, assignments: assignments)
        let synced = try await connection.request(sync, timeout: joinTimeout)
        if closing || closed { return .done }
        if synced.errorCode == .rebalanceInProgress { return .again }  // the group moved on: join its next generation
        if let step = try step(after: synced.errorCode, of: "SyncGroup") { return step }
        let decoded: ConsumerProtocolAssignment
        do {
            decoded = try ConsumerProtocolAssignment.decode(synced.assignment)
        } catch {
            throw .groupFailed(group: groupId, reason: "the assignment from the group leader is malformed: \(error)")
        }
        let subscribed = Set(subscription)
        let partitions = Array(Set(decoded.partitions.filter { subscribed.contains($0.topic) })).sorted()
        let joinedGeneration = generation
        state = .stable
        rejoinReason = nil
        lastHeartbeatAck = .now()
        nextAutoCommit = .now() + .milliseconds(config.autoCommitIntervalMs)
        startHeartbeat()
        await takeMetadataSnapshot()
        // The committed offsets of the new partitions are where consumption resumes.
        let committed: [TopicPartition: Int64]
        do {
            committed = try await fetchCommitted(partitions, deadline: .now() + .milliseconds(config.defaultApiTimeoutMs))
        } catch {
            if !error.isRetriable { throw error }
            requestRejoin("the committed offsets could not be read: \(error)")
            return .afterBackoff
        }
        guard generation == joinedGeneration, state == .stable else { return .again }
        assignment = partitions
        hooks.assign(partitions, committed)
        return .done
    }

    /// What the join loop does after a JoinGroup or SyncGroup error both requests share (nil for no error):
    /// rejoin at once with a reset member id or generation, retry after a backoff while the coordinator loads
    /// or moves, or give up on anything else.
    private func step(after code: ErrorCode, of request: String) throws(ClientError) -> JoinStep? {
        switch code {
        case .none:
            return nil
        case .unknownMemberId:
            generation = .none
            return .again
        case .illegalGeneration:
            generation.generationId = -1
            return .again
        case .coordinatorLoadInProgress:
            return .afterBackoff
        case .coordinatorNotAvailable, .notCoordinator:
            markCoordinatorUnknown()
            return .afterBackoff
        default:
            throw groupError("\(request) failed", code)
        }
    }

    private func subscriptionBytes() throws(ClientError) -> ByteBuffer {
        do {
            return try ConsumerProtocolSubscription(
                topics: subscription, ownedPartitions: [], generationId: generation.generationId, rackId: config.clientRack
            ).encode()
        } catch {
            throw .protocolError(error)
        }
    }

    /// The leader's work: every member's share, from the chosen assignor, the subscriptions and the partition
    /// counts of every subscribed topic.
    private func performAssignment(
        protocol name: String?, members: [JoinGroupResponse.JoinGroupResponseMember]
    ) async throws(ClientError) -> [SyncGroupRequest.SyncGroupRequestAssignment] {
        guard let name, let assignor = config.assignors.first(where: { $0.name == name }) else {
            throw .groupFailed(group: groupId, reason: "the coordinator chose assignor '\(name ?? "")', which this consumer does not offer")
        }
        var subscriptions: [GroupMemberSubscription] = []
        var versions: [String: Int16] = [:]
        for member in members {
            do {
                let subscription = try ConsumerProtocolSubscription.decode(member.metadata)
                subscriptions.append(GroupMemberSubscription(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, subscription: subscription))
                versions[member.memberId] = member.metadata.getInteger(at: member.metadata.readerIndex, as: Int16.self) ?? 0
            } catch {
                throw .groupFailed(group: groupId, reason: "member '\(member.memberId)' sent a malformed subscription: \(error)")
            }
        }
        var topics = Set<String>()
        for member in subscriptions { topics.formUnion(member.subscription.topics) }
        let metadata = try await cluster.refreshMetadata(topics: topics.sorted())
        var partitionsPerTopic: [String: Int32] = [:]
        for topic in topics {
            if let known = metadata.topics[topic], !known.partitions.isEmpty {
                partitionsPerTopic[topic] = Int32(known.partitions.count)
            }
        }
        let result = assignor.assign(partitionsPerTopic: partitionsPerTopic, members: subscriptions)
        var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
        for member in subscriptions {
            // Each member gets the version it subscribed with (all versions of an assignment share one layout).
            let version = min(max(versions[member.memberId] ?? 0, 0), ConsumerProtocol.assignmentVersion)
            do {
                let bytes = try ConsumerProtocolAssignment(partitions: result[member.memberId] ?? []).encode(version: version)
                assignments.append(.init(memberId: member.memberId, assignment: bytes))
            } catch {
                throw .protocolError(error)
            }
        }
        return assignments
    }

    private func takeMetadataSnapshot() async {
        let topics = subscription
        guard let metadata = try? await cluster.refreshMetadata(topics: topics) else { return }
        var snapshot: [String: Int32] = [:]
        for topic in topics { snapshot[topic] = Int32(metadata.topics[topic]?.partitions.count ?? 0) }
        metadataSnapshot = snapshot
        nextMetadataCheck = .now() + .milliseconds(config.client.metadataMaxAgeMs)
    }

    /// A partition count that changed since the assignment (a topic created, partitions added) means a new one.
    private func checkMetadata() async {
        guard NIODeadline.now() >= nextMetadataCheck, state == .stable, !subscription.isEmpty else { return }
        nextMetadataCheck = .now() + .milliseconds(config.client.metadataMaxAgeMs)
        guard let metadata = try? await cluster.refreshMetadata(topics: subscription) else { return }
        for topic in subscription {
            let count = Int32(metadata.topics[topic]?.partitions.count ?? 0)
            if count != metadataSnapshot[topic, default: 0] {
                requestRejoin("topic '\(topic)' now has \(count) partitions")
                return
            }
        }
    }

    private func groupError(_ what: String, _ code: ErrorCode) -> ClientError {
        .groupFailed(group: groupId, reason: "\(what): \(code.name ?? "error \(code.rawValue)"): \(code.explanation)")
    }

    // MARK: The coordinator's connection

    /// The coordinator's connection, found (FindCoordinator) and made if needed. Concurrent callers share one
    /// lookup.
    private func ensureCoordinator() async throws(ClientError) -> BrokerConnection {
        if closed { throw .closed }
        if let coordinator, coordinator.connection.isActive { return coordinator.connection }
        if coordinator != nil { markCoordinatorUnknown() }
        let task: Task<(CoordinatorLocation, BrokerConnection), any Error>
        if let existing = connecting {
            task = existing
        } else {
            let (cluster, group, config, loops) = (self.cluster, groupId, self.config, eventLoopGroup)
            task = Task {
                let location = try await cluster.findCoordinator(
                    key: group, deadline: .now() + .milliseconds(config.client.requestTimeoutMs), backoffMs: config.retryBackoffMs)
                // A connection of the member's own: JoinGroup may wait minutes, and must not hold up fetches.
                let connection = try await BrokerConnection.connect(
                    to: location.address, nodeId: Int32.max - location.nodeId, config: config.client, group: loops)
                return (location, connection)
            }
            connecting = task
        }
        let result: Result<(CoordinatorLocation, BrokerConnection), any Error> = await task.result
        if connecting == task { connecting = nil }
        switch result {
        case .success(let (location, connection)):
            if closed {
                connection.close()
                throw .closed
            }
            if let current = coordinator, current.connection.isActive {
                if current.connection !== connection { connection.close() }
                return current.connection
            }
            coordinator = (location, connection)
            return connection
        case .failure(let error):
            throw (error as? ClientError) ?? .protocolViolation("\(error)")
        }
    }

    private func markCoordinatorUnknown() {
        coordinator?.connection.close()
        coordinator = nil
    }

    /// The coordinator this member talks to, if known.
    var coordinatorLocation: CoordinatorLocation? { coordinator?.location }

    // MARK: Heartbeats

    private func startHeartbeat() {
        guard heartbeat == nil else { return }
        heartbeat = Task { await self.heartbeatLoop() }
    }

    private func heartbeatLoop() async {
        while !closed {
            await heartbeatWakeup.wait(until: .now() + .milliseconds(config.heartbeatIntervalMs))
            if closed { return }
            guard state == .stable, rejoinReason == nil, generation.generationId >= 0 else { continue }
            let now = NIODeadline.now()
            if now - lastPoll > .milliseconds(Int64(config.maxPollIntervalMs)) {
                // Kafka's consumer does the same: a member that stopped polling gives its partitions back.
                await leaveGroup(reason: "consumer poll timeout has expired (max.poll.interval.ms \(config.maxPollIntervalMs))")
                requestRejoin("the consumer did not poll within max.poll.interval.ms")
                continue
            }
            if now - lastHeartbeatAck > .milliseconds(Int64(config.sessionTimeoutMs)) {
                markCoordinatorUnknown()
            }
            await sendHeartbeat()
            await checkMetadata()
        }
    }

    private func sendHeartbeat() async {
        let sent = generation
        let response: HeartbeatResponse
        do {
            let connection = try await ensureCoordinator()
            response = try await connection.request(HeartbeatRequest(
                groupId: groupId, generationId: sent.generationId, memberId: sent.memberId,
                groupInstanceId: config.groupInstanceId))
        } catch {
            if !error.isRetriable && error != .closed { fail(error) }
            markCoordinatorUnknown()
            return
        }
        guard generation == sent, state == .stable else { return }
        switch response.errorCode {
        case .none:
            lastHeartbeatAck = .now()
        case .rebalanceInProgress:
            lastHeartbeatAck = .now()
            requestRejoin("the group is rebalancing")
        case .illegalGeneration:
            generation.generationId = -1
            requestRejoin("generation \(sent.generationId) is no longer the group's (ILLEGAL_GENERATION)")
        case .unknownMemberId:
            generation = .none
            requestRejoin("the coordinator no longer knows member '\(sent.memberId)' (UNKNOWN_MEMBER_ID)")
        case .coordinatorNotAvailable, .notCoordinator:
            markCoordinatorUnknown()
        case .coordinatorLoadInProgress:
            break
        default:
            fail(groupError("Heartbeat failed", response.errorCode))
        }
    }

    // MARK: Offsets

    private func maybeAutoCommit() {
        guard config.enableAutoCommit, autoCommit == nil, NIODeadline.now() >= nextAutoCommit else { return }
        guard subscription.isEmpty || (state == .stable && rejoinReason == nil) else { return }
        nextAutoCommit = .now() + .milliseconds(config.autoCommitIntervalMs)
        let positions = hooks.consumedPositions()
        guard !positions.isEmpty else { return }
        let deadline = NIODeadline.now() + requestTimeout
        autoCommit = Task {
            // Failures are not fatal: the next interval commits again.
            try? await self.commit(positions, deadline: deadline)
            self.autoCommitFinished()
        }
    }

    private func autoCommitFinished() { autoCommit = nil }

    /// Commits `offsets` (the next offset to consume, per partition) for this member's generation, retrying
    /// coordinator errors until `deadline`. Throws `commitFailed` when the group has moved on.
    func commit(_ offsets: [TopicPartition: Int64], deadline: NIODeadline) async throws(ClientError) {
        guard !offsets.isEmpty else { return }
        var remaining = offsets
        while true {
            if let failure { throw failure }
            let generation: GroupGeneration
            if subscription.isEmpty {
                generation = .none
            } else if state == .stable, self.generation.generationId >= 0 {
                generation = self.generation
            } else if state == .rebalancing {
                throw .commitFailed(group: groupId, reason: "the group is rebalancing; the records will be delivered again after the rebalance")
            } else {
                throw .commitFailed(group: groupId, reason: "the consumer is not part of an active group")
            }
            var retry = false
            do throws(ClientError) {
                let connection = try await ensureCoordinator()
                let request = GroupOffsetRequests.offsetCommit(
                    group: groupId, generationId: generation.generationId, memberId: generation.memberId,
                    groupInstanceId: config.groupInstanceId, offsets: remaining)
                let errors = GroupOffsetRequests.read(try await connection.request(request))
                for (tp, code) in errors {
                    switch code {
                    case .none:
                        remaining[tp] = nil
                    case .coordinatorLoadInProgress, .unstableOffsetCommit, .requestTimedOut:
                        retry = true
                    case .coordinatorNotAvailable, .notCoordinator:
                        markCoordinatorUnknown()
                        retry = true
                    case .rebalanceInProgress:
                        requestRejoin("the group is rebalancing")
                        throw ClientError.commitFailed(group: groupId, reason: "the group is rebalancing (REBALANCE_IN_PROGRESS)")
                    case .unknownMemberId, .illegalGeneration:
                        if self.generation == generation {
                            if code == .unknownMemberId { self.generation = .none } else { self.generation.generationId = -1 }
                        }
                        requestRejoin("OffsetCommit: \(code.name ?? "")")
                        throw ClientError.commitFailed(
                            group: groupId,
                            reason: "the group has already rebalanced and assigned the partitions to another member (\(code.name ?? ""))")
                    case .fencedInstanceId:
                        let error = groupError("OffsetCommit failed", code)
                        fail(error)
                        throw error
                    default:
                        throw ClientError.broker(code, context: "OffsetCommit \(tp) for group '\(groupId)'", message: nil)
                    }
                }
                if remaining.isEmpty { return }
                if errors.isEmpty { throw ClientError.protocolViolation("OffsetCommit response names no partition") }
            } catch {
                if !error.isRetriable { throw error }
                markCoordinatorUnknown()
                retry = true
            }
            guard retry, NIODeadline.now() + backoff < deadline else {
                throw .timedOut(what: "OffsetCommit for group '\(groupId)'", afterMs: config.defaultApiTimeoutMs)
            }
            try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
        }
    }

    /// The committed offsets of `partitions` (those without one are absent), retrying coordinator errors until
    /// `deadline`.
    func fetchCommitted(_ partitions: [TopicPartition], deadline: NIODeadline) async throws(ClientError) -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        while true {
            if closed { throw .closed }
            var lastError: ClientError
            do throws(ClientError) {
                let connection = try await ensureCoordinator()
                let version = try connection.version(for: OffsetFetchRequest.self)
                let request = GroupOffsetRequests.offsetFetch(group: groupId, partitions: partitions, requireStable: true)
                let fetched = GroupOffsetRequests.read(try await connection.request(request), version: version, group: groupId)
                switch fetched.errorCode {
                case .none:
                    var retriable: ErrorCode?
                    for (tp, code) in fetched.partitionErrors where code != .unknownTopicOrPartition {
                        guard code.isRetriable else {
                            throw ClientError.broker(code, context: "OffsetFetch \(tp) for group '\(groupId)'", message: nil)
                        }
                        retriable = code
                    }
                    if retriable == nil { return fetched.offsets.mapValues(\.offset) }
                    lastError = .broker(retriable!, context: "OffsetFetch for group '\(groupId)'", message: nil)
                case .coordinatorNotAvailable, .notCoordinator:
                    markCoordinatorUnknown()
                    lastError = .broker(fetched.errorCode, context: "OffsetFetch for group '\(groupId)'", message: nil)
                default:
                    let error = ClientError.broker(fetched.errorCode, context: "OffsetFetch for group '\(groupId)'", message: nil)
                    if !fetched.errorCode.isRetriable { throw error }
                    lastError = error
                }
            } catch {
                if !error.isRetriable { throw error }
                markCoordinatorUnknown()
                lastError = error
            }
            guard NIODeadline.now() + backoff < deadline else { throw lastError }
            try? await Task.sleep(for: .milliseconds(config.retryBackoffMs))
        }
    }

    // MARK: Leaving

    /// LeaveGroup for a dynamic member (static members keep their place until their session times out), and
    /// forgetting the generation either way.
    private func leaveGroup(reason: String) async {
        let leaving = generation
        generation = .none
        state = .unjoined
        guard config.groupInstanceId == nil, !leaving.memberId.isEmpty,
            let connection = try? await ensureCoordinator()
        else { return }
        let request = LeaveGroupRequest(
            groupId: groupId, memberId: leaving.memberId,
            members: [LeaveGroupRequest.MemberIdentity(memberId: leaving.memberId, groupInstanceId: nil, reason: reason)])
        _ = try? await connection.request(request)
    }

    /// Commits the consumed positions (with auto commit), leaves the group, and closes the coordinator's
    /// connection. Waits at most `timeout` for the commit.
    func close(timeout: TimeAmount) async {
        guard !closing else { return }
        closing = true
        // A JoinGroup waiting for the group holds up whatever follows it on its connection: drop that connection
        // (the member's LeaveGroup goes on a new one).
        if joining != nil { markCoordinatorUnknown() }
        await autoCommit?.value
        if config.enableAutoCommit, failure == nil,
            subscription.isEmpty || (state == .stable && generation.generationId >= 0) {
            let positions = hooks.consumedPositions()
            if !positions.isEmpty { try? await commit(positions, deadline: .now() + timeout) }
        }
        if !subscription.isEmpty { await leaveGroup(reason: "the consumer is being closed") }
        closed = true
        heartbeatWakeup.signal()
        joinDone.signal()
        markCoordinatorUnknown()
        connecting?.cancel()
        await joining?.value
        await heartbeat?.value
    }
}
