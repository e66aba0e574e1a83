import NIOCore
import NIOPosix

/// Where work that may block for long (fsync, creating partition directories) runs: a thread pool, so the event
/// loops keep serving other connections; or inline, for tests on an `EmbeddedChannel`.
public enum BlockingExecutor: Sendable {
    case inline
    case threadPool(NIOThreadPool)

    /// Runs `work` and completes the future on `eventLoop`.
    func run<T: Sendable>(on eventLoop: any EventLoop, _ work: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        switch self {
        case .inline:
            return eventLoop.makeCompletedFuture { try work() }
        case .threadPool(let pool):
            return pool.runIfActive(eventLoop: eventLoop, work)
        }
    }
}
