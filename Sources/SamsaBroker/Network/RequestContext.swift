import Logging
import NIOCore
import SamsaProtocol

/// What the requests in flight on one connection share. Used on the connection's event loop only.
final class Connection {
    let eventLoop: any EventLoop
    /// The listener the client came through (its advertised address goes into Metadata responses).
    let listenerName: String
    let remoteDescription: String
    /// The peer's address, once the channel knows it.
    var remoteAddress: SocketAddress?
    private(set) var isClosed = false
    private var closeHooks: [UInt64: () -> Void] = [:]
    private var nextHookId: UInt64 = 0
    private var serialTail: EventLoopFuture<Void>?
    private var serialPending = 0

    init(eventLoop: any EventLoop, listenerName: String, remoteDescription: String) {
        self.eventLoop = eventLoop
        self.listenerName = listenerName
        self.remoteDescription = remoteDescription
    }

    /// Runs `hook` when the connection closes (at once if it is closed); returns an id for `removeCloseHook`.
    @discardableResult
    func onClose(_ hook: @escaping () -> Void) -> UInt64 {
        eventLoop.preconditionInEventLoop()
        guard !isClosed else {
            hook()
            return 0
        }
        nextHookId += 1
        closeHooks[nextHookId] = hook
        return nextHookId
    }

    func removeCloseHook(_ id: UInt64) {
        closeHooks[id] = nil
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        let hooks = closeHooks
        closeHooks = [:]
        for (_, hook) in hooks.sorted(by: { $0.key < $1.key }) { hook() }
    }

    /// Runs `work` after every earlier call's work on this connection: inline when `offload` is false and
    /// nothing is queued, else on `executor`. Produce uses it so that appends from one connection keep their order
    /// even when some must go off the event loop (flush on append).
    func runInOrder<T: Sendable>(
        executor: BlockingExecutor, offload: Bool, _ work: @escaping @Sendable () throws -> T
    ) -> EventLoopFuture<T> {
        if !offload && serialPending == 0 {
            return eventLoop.makeCompletedFuture { try work() }
        }
        serialPending += 1
        let loop = eventLoop
        let previous = serialTail ?? eventLoop.makeSucceededVoidFuture()
        let result = previous.flatMap { executor.run(on: loop, work) }
        serialTail = result.map { _ in () }.recover { _ in () }
        result.assumeIsolated().whenComplete { _ in self.serialPending -= 1 }
        return result
    }
}

/// One request as a handler sees it: its header, where to answer, and how to run blocking work.
public struct RequestContext {
    public let header: RequestHeader
    public let eventLoop: any EventLoop
    let connection: Connection
    let executor: BlockingExecutor
    let logger: Logger

    public var apiVersion: Int16 { header.requestApiVersion }
    /// The client's host as Kafka reports it in group descriptions: `/` and its IP address.
    var clientHost: String { "/" + (connection.remoteAddress?.ipAddress ?? "unknown") }
    public var encoder: ResponseEncoder {
        ResponseEncoder(version: header.requestApiVersion, correlationId: header.correlationId)
    }

    /// The response, encoded now.
    public func reply<M: KafkaResponseMessage>(_ message: M) -> EventLoopFuture<Reply> {
        do {
            return eventLoop.makeSucceededFuture(try encoder.encode(message))
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// Runs blocking work off the event loop; the future completes on it.
    public func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        executor.run(on: eventLoop, work)
    }
}
