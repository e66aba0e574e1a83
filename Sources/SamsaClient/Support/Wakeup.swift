import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A binary wake-up signal for one background loop: `signal` from anywhere, `wait` (with an optional
/// deadline) from the loop. A signal that arrives while nobody waits is kept for the next `wait`, so none is
/// lost; a wait may also return early (spuriously), and loops re-check their state after every wait.
final class Wakeup: Sendable {
    private struct State {
        var signaled = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func signal() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signaled = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after a signal, or at `deadline` (nil: no deadline).
    func wait(until deadline: NIODeadline?) async {
        let alreadySignaled = state.withLock { state in
            defer { state.signaled = false }
            return state.signaled
        }
        if alreadySignaled { return }
        if let deadline, deadline <= .now() { return }
        let timer = Mutex<Scheduled<Void>?>(nil)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.signaled {
                    state.signaled = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow {
                continuation.resume()
            } else if let deadline {
                let scheduled = eventLoop.scheduleTask(deadline: deadline) { [weak self] () -> Void in self?.timeOut() }
                timer.withLock { $0 = scheduled }
            }
        }
        timer.withLock { $0?.cancel() }
    }

    /// Resumes the waiter without leaving a signal behind.
    private func timeOut() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}

/// Wall-clock milliseconds since the Unix epoch (record timestamps).
@inline(__always)
func currentTimeMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
}
