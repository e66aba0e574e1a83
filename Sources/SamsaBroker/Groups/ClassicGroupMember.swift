import NIOCore
import SamsaProtocol

/// One member of a classic group (Kafka's `ClassicGroupMember`): who it is, the protocols it offered (in its order
/// of preference, each with its opaque metadata), its assignment, and the JoinGroup or SyncGroup it has parked.
///
/// Lives inside the coordinator's lock; not thread-safe.
final class ClassicGroupMember {
    /// One protocol a member offers (the consumer protocol's assignor names, `range`, `cooperative-sticky`...).
    struct SupportedProtocol: Equatable {
        var name: String
        var metadata: ByteBuffer
    }

    let memberId: String
    let groupInstanceId: String?
    let clientId: String
    let clientHost: String
    let protocolType: String
    var rebalanceTimeoutMs: Int32
    var sessionTimeoutMs: Int32
    var protocols: [SupportedProtocol]
    /// The bytes the leader assigned, handed back untouched (empty until the first assignment).
    var assignment: ByteBuffer
    /// A JoinGroup waiting for the join phase to complete.
    var awaitingJoin: EventLoopPromise<JoinGroupResponse>?
    /// A SyncGroup waiting for the leader's assignment.
    var awaitingSync: EventLoopPromise<SyncGroupResponse>?
    /// Joined in the current rebalance: its heartbeat expectations are not satisfied by a parked JoinGroup, so a
    /// member that disconnected while parked is dropped after `newMemberJoinTimeoutMs`.
    var isNew = false

    init(
        memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, rebalanceTimeoutMs: Int32,
        sessionTimeoutMs: Int32, protocolType: String, protocols: [SupportedProtocol], assignment: ByteBuffer = ByteBuffer()
    ) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.sessionTimeoutMs = sessionTimeoutMs
        self.protocolType = protocolType
        self.protocols = protocols
        self.assignment = assignment
    }

    var isStatic: Bool { groupInstanceId != nil }
    var isAwaitingJoin: Bool { awaitingJoin != nil }
    var isAwaitingSync: Bool { awaitingSync != nil }

    /// A member whose heartbeat timer expires is dropped unless it is parked in a rebalance (and not new).
    var hasSatisfiedHeartbeat: Bool {
        isNew ? false : (isAwaitingJoin || isAwaitingSync)
    }

    /// The metadata this member gave for `protocolName` (empty if it did not offer it).
    func metadata(_ protocolName: String?) -> ByteBuffer {
        protocols.first { $0.name == protocolName }?.metadata ?? ByteBuffer()
    }

    var protocolNames: Set<String> { Set(protocols.map(\.name)) }

    /// Whether `protocols` is exactly what this member offered before (names, metadata and order).
    func matches(_ protocols: [SupportedProtocol]) -> Bool { self.protocols == protocols }

    /// This member's first choice among `candidates`.
    func vote(_ candidates: Set<String>) -> String? {
        protocols.first { candidates.contains($0.name) }?.name
    }
}
