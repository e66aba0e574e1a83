import Logging
import NIOCore
import SamsaLog
import SamsaProtocol

/// Who sent a group request: what the coordinator records about a member and which version's rules apply.
struct GroupRequestContext: Sendable {
    var clientId: String
    /// Kafka's form: `/` and the peer's IP address.
    var clientHost: String
    var apiVersion: Int16
}

/// The classic group protocol's state machine and the committed offsets (Kafka's `GroupMetadataManager` and
/// `OffsetMetadataManager`, classic parts): groups, their members and timers, offsets by group, and the records
/// that make them durable in `__consumer_offsets`.
///
/// Everything here runs inside `GroupCoordinator`'s lock. Parked requests are answered through `outbox` once the
/// lock is released. Timers are scheduled on `eventLoop`; when one fires, the coordinator takes the lock and calls
/// `fire(_:id:)`, which ignores a timer replaced or cancelled meanwhile.
final class GroupMetadataManager {
    let config: GroupCoordinatorConfig
    let offsetsTopic: OffsetsTopic
    let topics: TopicManager
    let eventLoop: any EventLoop
    let clock: Clock
    let logger: Logger
    let outbox = Outbox()
    /// Called (without the lock) when a timer is due; set once by the coordinator.
    var onTimer: (@Sendable (TimerKey, UInt64) -> Void)?

    var groups: [String: ClassicGroup] = [:]
    /// group -> topic -> partition -> committed offset.
    var offsets: [String: [String: [Int32: OffsetAndMetadata]]] = [:]
    private var timers: [TimerKey: TimerEntry] = [:]
    private var nextTimerId: UInt64 = 0
    private(set) var isShutDown = false

    init(
        config: GroupCoordinatorConfig, offsetsTopic: OffsetsTopic, topics: TopicManager, eventLoop: any EventLoop,
        clock: @escaping Clock, logger: Logger
    ) {
        self.config = config
        self.offsetsTopic = offsetsTopic
        self.topics = topics
        self.eventLoop = eventLoop
        self.clock = clock
        self.logger = logger
    }

    // MARK: Timers

    /// A timer's slot: scheduling one with the same key replaces the previous one (as Kafka's timer keys do).
    enum TimerKey: Hashable, Sendable {
        case heartbeat(group: String, member: String)
        case join(group: String)
        case sync(group: String)
        case offsetExpiration
    }

    enum TimerAction {
        case heartbeatExpired(group: String, member: String)
        case completeJoin(group: String)
        case initialRebalance(group: String, delayMs: Int32, remainingMs: Int32)
        case syncExpired(group: String, generation: Int32)
        case expireOffsets
    }

    struct TimerEntry {
        let id: UInt64
        let action: TimerAction
        let task: Scheduled<Void>
    }

    func schedule(_ key: TimerKey, afterMs delayMs: Int64, _ action: TimerAction) {
        guard !isShutDown, let onTimer else { return }
        timers.removeValue(forKey: key)?.task.cancel()
        nextTimerId += 1
        let id = nextTimerId
        let task = eventLoop.scheduleTask(in: .milliseconds(max(0, delayMs))) { onTimer(key, id) }
        timers[key] = TimerEntry(id: id, action: action, task: task)
    }

    func cancelTimer(_ key: TimerKey) {
        timers.removeValue(forKey: key)?.task.cancel()
    }

    var scheduledTimerCount: Int { timers.count }

    func hasTimer(_ key: TimerKey) -> Bool { timers[key] != nil }

    /// Runs a due timer, unless it was replaced or cancelled after it was scheduled.
    func fire(_ key: TimerKey, id: UInt64) {
        guard let entry = timers[key], entry.id == id else { return }
        timers[key] = nil
        switch entry.action {
        case .heartbeatExpired(let group, let member): expireHeartbeat(groupId: group, memberId: member)
        case .completeJoin(let group):
            if let group = groups[group] { completeJoin(group) }
        case .initialRebalance(let group, let delayMs, let remainingMs):
            tryCompleteInitialRebalance(groupId: group, delayMs: delayMs, remainingMs: remainingMs)
        case .syncExpired(let group, let generation): expirePendingSync(groupId: group, generation: generation)
        case .expireOffsets:
            cleanupGroupMetadata()
            scheduleOffsetExpiration()
        }
    }

    func scheduleOffsetExpiration() {
        schedule(.offsetExpiration, afterMs: config.offsetsRetentionCheckIntervalMs, .expireOffsets)
    }

    func rescheduleHeartbeat(_ group: ClassicGroup, _ member: ClassicGroupMember, timeoutMs: Int32? = nil) {
        schedule(
            .heartbeat(group: group.groupId, member: member.memberId), afterMs: Int64(timeoutMs ?? member.sessionTimeoutMs),
            .heartbeatExpired(group: group.groupId, member: member.memberId))
    }

    // MARK: Groups

    /// The group, created (Empty) if `create` and it does not exist.
    func getOrCreateGroup(_ groupId: String, create: Bool) -> ClassicGroup? {
        if let group = groups[groupId] { return group }
        guard create else { return nil }
        let group = ClassicGroup(groupId: groupId, state: .empty, nowMs: clock(), outbox: outbox)
        groups[groupId] = group
        return group
    }

    /// Writes `records` of `group`; the error a client gets if that failed.
    func write(_ records: [CoordinatorRecord], groupId: String) -> ErrorCode {
        offsetsTopic.append(records, groupId: groupId, nowMs: clock())
    }

    /// Writes the group's metadata with `assignment`.
    func writeGroupMetadata(_ group: ClassicGroup, assignment: [String: ByteBuffer]) -> ErrorCode {
        write([.groupMetadata(group: group.groupId, group.metadataValue(assignment: assignment))], groupId: group.groupId)
    }

    /// Removes a group from memory (its tombstones are written by the caller).
    func removeGroup(_ groupId: String) {
        guard let group = groups.removeValue(forKey: groupId) else { return }
        for memberId in group.allMemberIds { cancelTimer(.heartbeat(group: groupId, member: memberId)) }
        cancelTimer(.join(group: groupId))
        cancelTimer(.sync(group: groupId))
        group.completeAll(.coordinatorNotAvailable)
        if group.state != .dead { group.transition(to: .dead, nowMs: clock()) }
    }

    // MARK: Loading

    /// Applies one record read from `__consumer_offsets` (Kafka's `replay`).
    func replay(_ record: CoordinatorRecord) {
        switch record {
        case .offsetCommit(let key, let value?):
            if groups[key.group] == nil {
                // Offsets without a group: a simple consumer's (commits without membership).
                groups[key.group] = ClassicGroup(groupId: key.group, state: .empty, nowMs: nil, outbox: outbox)
            }
            offsets[key.group, default: [:]][key.topic, default: [:]][key.partition] = value
        case .offsetCommit(let key, nil):
            removeOffset(group: key.group, topic: key.topic, partition: key.partition)
        case .groupMetadata(let groupId, let value?):
            groups[groupId] = ClassicGroup.loaded(groupId: groupId, value: value, outbox: outbox)
        case .groupMetadata(let groupId, nil):
            groups[groupId] = nil
        }
    }

    /// After loading: every loaded member must heartbeat within its session timeout (Kafka's `onLoaded`), and
    /// offsets start expiring.
    func onLoaded() {
        for group in groups.values {
            for member in group.allMembers { rescheduleHeartbeat(group, member) }
        }
        scheduleOffsetExpiration()
    }

    func removeOffset(group: String, topic: String, partition: Int32) {
        offsets[group]?[topic]?[partition] = nil
        if offsets[group]?[topic]?.isEmpty == true { offsets[group]?[topic] = nil }
        if offsets[group]?.isEmpty == true { offsets[group] = nil }
    }

    // MARK: Shutdown

    /// Answers every parked request with NOT_COORDINATOR and cancels every timer.
    func shutdown() {
        isShutDown = true
        for group in groups.values { group.completeAll(.notCoordinator) }
        for entry in timers.values { entry.task.cancel() }
        timers.removeAll()
    }
}
