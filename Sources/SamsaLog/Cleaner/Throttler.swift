#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Holds the cleaner's I/O to `log.cleaner.io.max.bytes.per.second` across all cleaner threads (Kafka's
/// `Throttler`): bytes are counted as they are read or written; every `checkIntervalNs` (or sooner, once an
/// interval's worth of bytes went by) the observed rate is compared with the desired one and the caller sleeps
/// long enough to bring it back down.
///
/// ```swift
/// let throttler = Throttler(bytesPerSecond: 10 << 20)
/// throttler.maybeThrottle(readBytes)      // may sleep
/// ```
final class Throttler: Sendable {
    let bytesPerSecond: Double
    let checkIntervalNs: UInt64
    private let state: Mutex<(periodStart: UInt64, observed: Double)>
    /// Total nanoseconds slept, for statistics.
    private let slept = Atomic<UInt64>(0)

    init(bytesPerSecond: Double, checkIntervalMs: Int = 300) {
        precondition(bytesPerSecond > 0, "a throttle rate must be positive")
        self.bytesPerSecond = bytesPerSecond
        self.checkIntervalNs = UInt64(checkIntervalMs) * 1_000_000
        self.state = Mutex((monotonicNanos(), 0))
    }

    var isUnlimited: Bool { bytesPerSecond >= Double(Int64.max) }
    var sleptNanos: UInt64 { slept.load(ordering: .relaxed) }

    /// Counts `bytes` and sleeps when the rate over the current period is above the limit. All threads share
    /// one budget: the sleep happens under the lock, as Kafka's does.
    func maybeThrottle(_ bytes: Int) {
        guard !isUnlimited else { return }
        state.withLock { state in
            state.observed += Double(bytes)
            let now = monotonicNanos()
            let elapsed = now - state.periodStart
            // Checked once per interval, or as soon as a whole interval's worth of bytes went by (a burst
            // shorter than the interval is held back too).
            guard elapsed > checkIntervalNs || state.observed >= bytesPerSecond * Double(checkIntervalNs) / 1e9 else {
                return
            }
            let rate = state.observed / (Double(elapsed) / 1e9)
            if rate > bytesPerSecond {
                let wanted = state.observed / bytesPerSecond * 1e9
                let sleepNs = UInt64(max(0, wanted - Double(elapsed)))
                if sleepNs > 0 {
                    sleepNanos(sleepNs)
                    slept.add(sleepNs, ordering: .relaxed)
                }
            }
            state.periodStart = monotonicNanos()
            state.observed = 0
        }
    }
}

/// Nanoseconds from a monotonic clock (for rates and durations, never for timestamps).
func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func sleepNanos(_ nanos: UInt64) {
    var request = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
