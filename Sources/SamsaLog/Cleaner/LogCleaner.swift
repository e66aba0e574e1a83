import Dispatch
import Logging
import Synchronization

/// The background cleaner of a data directory (Kafka's `LogCleaner`): `log.cleaner.threads` threads, each
/// picking the dirtiest compacted log in turn, cleaning it, and recording the new clean point in
/// `cleaner-offset-checkpoint`; an idle thread sleeps `log.cleaner.backoff.ms`. Reads and writes of all threads
/// together are throttled to `log.cleaner.io.max.bytes.per.second`. Each cleaning is logged with its
/// throughput and the dirty ratio before and after.
///
/// `LogManager` owns one:
/// ```swift
/// let manager = try LogManager.open(dataDirectory: "./data")    // threads start when background work is on
/// let stats = try manager.cleanFilthiestLog()                     // or one cleaning, now, on this thread
/// ```
public final class LogCleaner: Sendable {
    public let config: CleanerConfig
    let manager: LogCleanerManager
    let throttler: Throttler
    let clock: Clock
    let logger: Logger
    /// Where the logs to clean come from (the manager's open logs), set once the manager exists.
    private let logSource = Mutex<(@Sendable () -> [TopicPartition: Log])?>(nil)
    /// Idle cleaners (each with its offset map), taken for one cleaning by a thread or a synchronous call. There
    /// are never more than `log.cleaner.threads` of them, so their maps never take more than the dedupe buffer.
    private let pool = Mutex<[Cleaner]>([])
    private let available: DispatchSemaphore
    private let created = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchGroup()

    init(config: CleanerConfig, manager: LogCleanerManager, clock: @escaping Clock, logger: Logger) {
        self.config = config
        self.manager = manager
        self.throttler = Throttler(bytesPerSecond: config.maxIoBytesPerSecond)
        self.clock = clock
        self.logger = logger
        self.available = DispatchSemaphore(value: max(config.threads, 1))
    }

    func setLogSource(_ source: @escaping @Sendable () -> [TopicPartition: Log]) {
        logSource.withLock { $0 = source }
    }

    private func logs() -> [TopicPartition: Log] {
        logSource.withLock { $0 }?() ?? [:]
    }

    /// The last cleaning of each partition in this process.
    public var stats: [TopicPartition: CleanerStats] { manager.lastStats }

    /// Starts the cleaner threads (once).
    func startup() {
        guard config.enable, !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for i in 0..<max(config.threads, 1) {
            finished.enter()
            DispatchQueue(label: "samsa.log-cleaner-\(i)").async { [self] in
                defer { finished.leave() }
                while !stopping.load(ordering: .acquiring) {
                    let cleaner = takeCleaner()
                    let cleaned = (try? cleanFilthiestLog(using: cleaner)) ?? nil
                    giveBack(cleaner)
                    if cleaned == nil {
                        _ = wakeup.wait(timeout: .now() + .milliseconds(Int(clamping: config.backoffMs)))
                    }
                }
            }
        }
    }

    /// Stops the threads, aborting cleanings in progress (their `.cleaned` files are removed), and waits for them.
    func shutdown() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for _ in 0..<max(config.threads, 1) { wakeup.signal() }
        finished.wait()
    }

    /// Cleans the dirtiest compacted log that needs it, on the calling thread; nil when none does. A failed
    /// cleaning leaves its partition alone until restart (and is thrown); an aborted one is retried later.
    @discardableResult
    public func cleanFilthiestLog() throws(CleanerError) -> CleanerStats? {
        let cleaner = takeCleaner()
        defer { giveBack(cleaner) }
        return try cleanFilthiestLog(using: cleaner)
    }

    /// Cleans one log now, whatever its dirty ratio (nil when another thread is cleaning it).
    @discardableResult
    public func clean(_ log: Log) throws(CleanerError) -> CleanerStats? {
        guard let tp = log.topicPartition, manager.beginCleaning(tp) else { return nil }
        let toClean: LogToClean
        do {
            toClean = try log.logToClean(lastCleanOffset: manager.lastCleanOffset(tp), now: clock())
        } catch {
            try? manager.doneCleaning(tp, stats: nil)
            throw .log(error)
        }
        let cleaner = takeCleaner()
        defer { giveBack(cleaner) }
        return try run(cleaner, log, toClean)
    }

    private func cleanFilthiestLog(using cleaner: Cleaner) throws(CleanerError) -> CleanerStats? {
        guard let (log, toClean) = manager.grabFilthiestCompactedLog(logs(), now: clock()) else { return nil }
        return try run(cleaner, log, toClean)
    }

    private func run(_ cleaner: Cleaner, _ log: Log, _ toClean: LogToClean) throws(CleanerError) -> CleanerStats {
        let tp = log.topicPartition!
        do throws(CleanerError) {
            // The records that supersede older ones must be durable before the older ones go: otherwise a crash that
            // loses the newer value after the cleaner removed the older (flushed, acknowledged) one loses the key.
            if log.recoveryPoint < toClean.firstUncleanableOffset {
                do { try log.flush() } catch { throw CleanerError.log(error) }
            }
            let stats = try cleaner.clean(log, toClean, now: clock())
            do { try manager.doneCleaning(tp, stats: stats) } catch { throw CleanerError.log(error) }
            config.phaseObserver?(.checkpointed)
            logger.info("cleaner \(cleaner.id): \(stats)")
            return stats
        } catch {
            switch error {
            case .aborted:
                try? manager.doneCleaning(tp, stats: nil)
                logger.info("cleaner \(cleaner.id): \(tp): \(error)")
            case .log, .offsetMapTooSmall:
                manager.markUncleanable(tp)
                logger.error("cleaner \(cleaner.id): \(tp): \(error); the partition will not be cleaned until restart")
            }
            throw error
        }
    }

    /// An idle cleaner, waiting for one when all are busy.
    private func takeCleaner() -> Cleaner {
        available.wait()
        if let cleaner = pool.withLock({ $0.popLast() }) { return cleaner }
        let id = created.wrappingAdd(1, ordering: .relaxed).oldValue
        return Cleaner(
            id: id, config: config, throttler: throttler, logger: logger,
            shouldStop: { [weak self] in self?.stopping.load(ordering: .relaxed) ?? true })
    }

    private func giveBack(_ cleaner: Cleaner) {
        pool.withLock { $0.append(cleaner) }
        available.signal()
    }
}
