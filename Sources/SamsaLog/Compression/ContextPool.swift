import Synchronization

/// A small free list of library contexts (ZSTD_CCtx, ZSTD_DCtx, LZ4F_cctx) shared by all threads.
///
/// Creating a zstd context costs about as much as compressing 16 KiB with it, so contexts are reused.
/// A context is owned by exactly one caller between `take` and `give`; the lock guards only the list.
/// Contexts that grew large (a high level, a huge window) are freed instead of kept.
final class ContextPool: Sendable {
    /// A context pointer in transit between the pool and its one user.
    struct Context: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private let idle: Mutex<[Context]>
    private let capacity: Int
    private let make: @Sendable () -> OpaquePointer?
    private let destroy: @Sendable (OpaquePointer) -> Void
    private let worthKeeping: @Sendable (OpaquePointer) -> Bool

    init(
        capacity: Int = 8,
        make: @escaping @Sendable () -> OpaquePointer?,
        destroy: @escaping @Sendable (OpaquePointer) -> Void,
        worthKeeping: @escaping @Sendable (OpaquePointer) -> Bool = { _ in true }
    ) {
        self.idle = Mutex([])
        self.capacity = capacity
        self.make = make
        self.destroy = destroy
        self.worthKeeping = worthKeeping
    }

    /// An idle context, or a new one; `nil` only when the library cannot allocate one.
    func take() -> OpaquePointer? {
        if let context = idle.withLock({ $0.popLast() }) { return context.pointer }
        return make()
    }

    /// Returns a context taken from this pool; the caller must not use it afterwards.
    func give(_ pointer: OpaquePointer) {
        guard worthKeeping(pointer) else { return destroy(pointer) }
        let kept = idle.withLock { contexts in
            guard contexts.count < capacity else { return false }
            contexts.append(Context(pointer: pointer))
            return true
        }
        if !kept { destroy(pointer) }
    }
}
