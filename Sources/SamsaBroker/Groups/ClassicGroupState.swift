/// The states of a classic group (Kafka's `ClassicGroupState`) and which transitions are allowed.
///
/// ```
///              +----------------------------------------------+
///              v                                              |
/// Empty -> PreparingRebalance -> CompletingRebalance -> Stable +
///   ^              |  ^  ^______________|________________________|
///   +--------------+  (members join or leave, a leader rejoins)
/// any state -> Dead (the group is deleted, or its offsets expired while it was empty)
/// ```
/// - Empty: no members (a new group, or one whose members all left); offsets may still be kept.
/// - PreparingRebalance: waiting for members to (re)join; JoinGroups are parked until all have, or the rebalance
///   timeout passes.
/// - CompletingRebalance: every member has its JoinGroup answer; waiting for the leader's SyncGroup with the
///   assignment.
/// - Stable: the assignment is out; heartbeats keep members alive.
/// - Dead: the group is gone from the coordinator.
public enum ClassicGroupState: String, Sendable, CaseIterable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"

    /// The states a group may move to this one from.
    var validPreviousStates: Set<ClassicGroupState> {
        switch self {
        case .empty: [.preparingRebalance]
        case .preparingRebalance: [.stable, .completingRebalance, .empty]
        case .completingRebalance: [.preparingRebalance]
        case .stable: [.completingRebalance]
        case .dead: [.stable, .preparingRebalance, .completingRebalance, .empty, .dead]
        }
    }

    /// The state named `name`, ignoring case (ListGroups' states filter).
    init?(caseInsensitive name: String) {
        let lowered = name.lowercased()
        guard let state = Self.allCases.first(where: { $0.rawValue.lowercased() == lowered }) else { return nil }
        self = state
    }
}
