import SamsaLog
import Synchronization

/// Fetches waiting for data (Kafka's fetch purgatory). A waiting fetch registers a wake-up for each partition it
/// reads; an append to one of them (the `LogManager`'s append observer calls `notify`) runs the wake-ups, which
/// re-read on their own event loops. Nothing polls: a fetch with nothing to read sleeps until an append or
/// its `max_wait_ms` timer.
public final class DelayedFetches: Sendable {
    public typealias WakeUp = @Sendable () -> Void
    private let waiters = Mutex<[TopicPartition: [UInt64: WakeUp]]>([:])
    /// Registered fetches, so that appends pay one atomic load when nobody waits.
    private let waiting = Atomic<Int>(0)
    private let nextId = Atomic<UInt64>(1)

    public init() {}

    /// Registers `wake` for each partition; returns the id to unregister with.
    func register(_ partitions: [TopicPartition], wake: @escaping WakeUp) -> UInt64 {
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue
        waiters.withLock { waiters in
            for tp in partitions { waiters[tp, default: [:]][id] = wake }
        }
        waiting.add(1, ordering: .releasing)
        return id
    }

    func unregister(_ id: UInt64, partitions: [TopicPartition]) {
        waiters.withLock { waiters in
            for tp in partitions {
                waiters[tp]?[id] = nil
                if waiters[tp]?.isEmpty == true { waiters[tp] = nil }
            }
        }
        waiting.subtract(1, ordering: .releasing)
    }

    /// Something changed in `tp` (an append, a deletion): wake the fetches waiting on it.
    public func notify(_ tp: TopicPartition) {
        guard waiting.load(ordering: .acquiring) > 0 else { return }
        let wakes = waiters.withLock { $0[tp].map { Array($0.values) } ?? [] }
        for wake in wakes { wake() }
    }

    /// How many fetches wait (for tests and metrics).
    public var count: Int { waiting.load(ordering: .acquiring) }
}
