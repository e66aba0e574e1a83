import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Calls `onSignal` on SIGINT or SIGTERM instead of dying, so that a command can stop cleanly (print its
/// totals, flush its output). A second signal ends the process at once.
final class SignalWatcher: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(onSignal: @escaping @Sendable () -> Void) {
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            var seen = false
            source.setEventHandler {
                if seen { _exit(128 + sig) }
                seen = true
                onSignal()
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Restores the default handling.
    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
