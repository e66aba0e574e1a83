import Logging
import NIOCore
import SamsaLog
import SamsaProtocol
import Synchronization

/// The group coordinator of this broker (every group's: a single broker coordinates them all): the classic group
/// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), the admin group APIs, and committed offsets, kept in
/// `__consumer_offsets` and reloaded from it at start.
///
/// ```swift
/// let promise = eventLoop.makePromise(of: JoinGroupResponse.self)
/// coordinator.join(request, context: GroupRequestContext(clientId: "c1", clientHost: "/127.0.0.1", apiVersion: 9),
///                  promise: promise)                        // answered when the rebalance completes
/// let fetched = coordinator.fetchOffsets(groupId: "g", topics: nil)
/// ```
///
/// Concurrency: one lock around the state machine (`GroupMetadataManager`); requests from any event loop take
/// it briefly, and the few record appends to `__consumer_offsets` happen under it (page-cache writes, as Produce
/// does on the event loop). Timers (session, rebalance, sync, initial delay, offset expiration) are tasks on
/// `eventLoop`, never polled. Parked JoinGroups and SyncGroups are answered after the lock is released.
public final class GroupCoordinator: Sendable {
    let config: GroupCoordinatorConfig
    let offsetsTopic: OffsetsTopic
    let logger: Logger
    private let manager: Mutex<GroupMetadataManager>

    init(
        config: GroupCoordinatorConfig, logManager: LogManager, topics: TopicManager, eventLoop: any EventLoop,
        clock: @escaping Clock, logger: Logger
    ) {
        self.config = config
        self.logger = logger
        let offsetsTopic = OffsetsTopic(logManager: logManager, topics: topics, config: config, logger: logger)
        self.offsetsTopic = offsetsTopic
        manager = Mutex(
            GroupMetadataManager(
                config: config, offsetsTopic: offsetsTopic, topics: topics, eventLoop: eventLoop, clock: clock, logger: logger))
        perform { manager in
            manager.onTimer = { [weak self] key, id in
                self?.perform { $0.fire(key, id: id) }
            }
            var records = 0
            offsetsTopic.forEachRecord { record in
                records += 1
                manager.replay(record)
            }
            manager.onLoaded()
            if records > 0 {
                logger.info(
                    "loaded \(manager.groups.count) groups and \(manager.offsets.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }) committed offsets from \(records) records of \(OffsetsTopic.name)")
            }
        }
    }

    /// Runs `body` under the lock, then answers whatever requests it completed.
    @discardableResult
    func perform<R: Sendable>(_ body: (GroupMetadataManager) -> R) -> R {
        let (result, work) = manager.withLock { manager in
            let result = body(manager)
            return (result, manager.outbox.drain())
        }
        for item in work { item() }
        return result
    }

    /// Answers every parked request (NOT_COORDINATOR) and stops the timers; the broker is closing.
    func close() {
        perform { $0.shutdown() }
    }

    // MARK: The offsets topic

    /// Whether `__consumer_offsets` exists.
    var isReady: Bool { offsetsTopic.partitionCount != nil }

    /// Creates `__consumer_offsets` if needed (off the event loop); false if that failed.
    func ensureReady(on eventLoop: any EventLoop, executor: BlockingExecutor) -> EventLoopFuture<Bool> {
        if isReady { return eventLoop.makeSucceededFuture(true) }
        let offsetsTopic = self.offsetsTopic
        let logger = self.logger
        return executor.run(on: eventLoop) {
            do {
                try offsetsTopic.create()
                return true
            } catch {
                logger.error("cannot create \(OffsetsTopic.name): \(error)")
                return false
            }
        }
    }

    // MARK: Membership

    /// JoinGroup: checks the group id and session timeout, then joins (the answer may wait for the rebalance).
    func join(_ request: JoinGroupRequest, context: GroupRequestContext, promise: EventLoopPromise<JoinGroupResponse>) {
        guard !request.groupId.isEmpty else {
            return promise.succeed(JoinGroupResponse(errorCode: .invalidGroupId, memberId: request.memberId))
        }
        guard (config.minSessionTimeoutMs...config.maxSessionTimeoutMs).contains(request.sessionTimeoutMs) else {
            return promise.succeed(JoinGroupResponse(errorCode: .invalidSessionTimeout, memberId: request.memberId))
        }
        var request = request
        if context.apiVersion == 0 || request.rebalanceTimeoutMs < 0 {
            // v0 has no rebalance timeout: the session timeout serves as one.
            request.rebalanceTimeoutMs = request.sessionTimeoutMs
        }
        let checked = request
        perform { $0.join(checked, context: context, promise: promise) }
    }

    /// SyncGroup: the answer may wait for the leader's assignment.
    func sync(_ request: SyncGroupRequest, promise: EventLoopPromise<SyncGroupResponse>) {
        guard !request.groupId.isEmpty else { return promise.succeed(SyncGroupResponse(errorCode: .invalidGroupId)) }
        perform { $0.sync(request, promise: promise) }
    }

    func heartbeat(_ request: HeartbeatRequest) -> ErrorCode {
        guard !request.groupId.isEmpty else { return .invalidGroupId }
        return perform { $0.heartbeat(request) }
    }

    /// LeaveGroup for `members` (v0-2 name one member by `member_id`; v3+ a list).
    func leave(groupId: String, members: [LeaveGroupRequest.MemberIdentity]) -> LeaveGroupResponse {
        guard !groupId.isEmpty else { return LeaveGroupResponse(errorCode: .invalidGroupId) }
        return perform { $0.leave(groupId: groupId, members: members) }
    }

    // MARK: Groups

    func listGroups(states: [String]) -> [ListGroupsResponse.ListedGroup] {
        perform { $0.listGroups(states: states) }
    }

    func describeGroups(_ ids: [String], authorizedOperations: Int32) -> [DescribeGroupsResponse.DescribedGroup] {
        perform { $0.describeGroups(ids, authorizedOperations: authorizedOperations) }
    }

    func deleteGroups(_ ids: [String]) -> [DeleteGroupsResponse.DeletableGroupResult] {
        perform { $0.deleteGroups(ids) }
    }

    /// A group's state (nil when the coordinator does not have it), for tests and tools.
    func state(of groupId: String) -> ClassicGroupState? {
        perform { $0.groups[groupId]?.state }
    }

    // MARK: Offsets

    func commitOffsets(_ request: OffsetCommitRequest, apiVersion: Int16) -> OffsetCommitResponse {
        perform { $0.commitOffsets(request, apiVersion: apiVersion) }
    }

    func fetchOffsets(groupId: String, topics: [(name: String, partitions: [Int32])]?) -> OffsetFetchResponse.OffsetFetchResponseGroup {
        perform { $0.fetchOffsets(groupId: groupId, topics: topics) }
    }

    func deleteOffsets(_ request: OffsetDeleteRequest) -> OffsetDeleteResponse {
        guard !request.groupId.isEmpty else { return OffsetDeleteResponse(errorCode: .invalidGroupId) }
        return perform { $0.deleteOffsets(request) }
    }

    /// Runs offset expiration now (it also runs every `offsets.retention.check.interval.ms`).
    func expireOffsets() {
        perform { $0.cleanupGroupMetadata() }
    }
}
