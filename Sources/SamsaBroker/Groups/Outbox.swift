/// Work that must wait until the coordinator's lock is released: completing the promises of parked JoinGroup and
/// SyncGroup requests (their callbacks write to connections and must never run under the lock).
///
/// Used inside the lock only; `GroupCoordinator` drains it after each operation.
final class Outbox {
    private(set) var work: [@Sendable () -> Void] = []

    func append(_ item: @escaping @Sendable () -> Void) { work.append(item) }

    func drain() -> [@Sendable () -> Void] {
        defer { work.removeAll() }
        return work
    }
}
