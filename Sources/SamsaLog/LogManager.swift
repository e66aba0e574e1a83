import Dispatch
import Logging
import Synchronization

/// A data directory of many partition logs (`<topic>-<partition>/`), opened and closed together, with Kafka's
/// checkpoint files at the top and background work on its own queue: flushing by `flush.ms`, checkpointing,
/// retention every `log.retention.check.interval.ms` (Retention/), removal of deleted segment files after
/// `file.delete.delay.ms`; and the log cleaner's threads for compacted topics (Cleaner/).
///
/// ```swift
/// let manager = try LogManager.open(dataDirectory: "./data")
/// let log = try manager.getOrCreateLog(TopicPartition("orders", 0), config: LogConfig())
/// // ... append and read through `log` ...
/// try manager.close()        // flush, checkpoints, clean-shutdown marker
/// ```
public final class LogManager: Sendable {
    public let dataDirectory: String
    let fileSystem: any FileSystem
    let clock: Clock
    let logger: Logger
    let appendObserver: (@Sendable (TopicPartition, Int64) -> Void)?
    let logs = Mutex<[TopicPartition: Log]>([:])
    let closed = Mutex(false)
    let backgroundIntervalMs: Int?
    /// `log.retention.check.interval.ms`
    let retentionCheckIntervalMs: Int64
    let queue = DispatchQueue(label: "samsa.log-manager")
    /// The log cleaner (its threads run when background work is on and `log.cleaner.enable` is set).
    public let cleaner: LogCleaner
    /// What opening the directory found, per partition that needed recovery.
    public let openReports: [TopicPartition: LogOpenReport]

    public static let recoveryPointCheckpoint = "recovery-point-offset-checkpoint"
    public static let logStartOffsetCheckpoint = "log-start-offset-checkpoint"
    /// Kafka's marker of a clean shutdown: present, no segment needs rescanning.
    public static let cleanShutdownMarker = ".kafka_cleanshutdown"

    /// Opens every partition directory under `dataDirectory` (creating the directory if needed).
    /// `configFor` gives each partition's config (the broker's topic settings); `backgroundIntervalMs` is how
    /// often flushing by `flush.ms`, checkpointing and removal of deleted segment files run (nil: no background
    /// work at all, no retention and no cleaner threads, for tests and tools); retention runs every
    /// `retentionCheckIntervalMs` (`log.retention.check.interval.ms`).
    public static func open(
        dataDirectory: String, configFor: @Sendable (TopicPartition) -> LogConfig = { _ in LogConfig() },
        fileSystem: any FileSystem = PosixFileSystem(), clock: @escaping Clock = systemClock,
        logger: Logger = Logger(label: "samsa.log-manager"), backgroundIntervalMs: Int? = 1000,
        retentionCheckIntervalMs: Int64 = 300_000, cleanerConfig: CleanerConfig = CleanerConfig(),
        appendObserver: (@Sendable (TopicPartition, Int64) -> Void)? = nil
    ) throws(LogError) -> LogManager {
        do { try fileSystem.createDirectory(dataDirectory) } catch { throw .io(error) }
        let marker = dataDirectory + "/" + cleanShutdownMarker
        let clean = fileSystem.fileExists(marker)
        let recoveryPoints: [TopicPartition: Int64]
        let startOffsets: [TopicPartition: Int64]
        do {
            recoveryPoints = try OffsetCheckpointFile(path: dataDirectory + "/" + recoveryPointCheckpoint, fileSystem: fileSystem).read()
            startOffsets = try OffsetCheckpointFile(path: dataDirectory + "/" + logStartOffsetCheckpoint, fileSystem: fileSystem).read()
        } catch {
            throw .invalidDirectory(path: dataDirectory, reason: "\(error)")
        }
        let names: [String]
        do { names = try fileSystem.listDirectory(dataDirectory) } catch { throw .io(error) }
        var opened: [TopicPartition: Log] = [:]
        var reports: [TopicPartition: LogOpenReport] = [:]
        for name in names.sorted() {
            let path = dataDirectory + "/" + name
            guard fileSystem.isDirectory(path) else { continue }
            // A topic deletion in progress (renamed `<tp>.<id>-delete`): finish it.
            if name.hasSuffix("-delete") {
                try removeTree(path, fileSystem: fileSystem)
                continue
            }
            guard let tp = TopicPartition(directoryName: name) else { continue }
            let log = try Log.open(
                directory: path, config: configFor(tp), recoveryPoint: recoveryPoints[tp] ?? 0,
                logStartOffset: startOffsets[tp], cleanShutdown: clean, create: false, fileSystem: fileSystem,
                clock: clock, logger: logger, appendObserver: Self.observer(appendObserver, tp))
            opened[tp] = log
            if log.openReport.segmentsRecovered > 0 || !log.openReport.truncations.isEmpty { reports[tp] = log.openReport }
        }
        let cleanerManager = try LogCleanerManager(dataDirectory: dataDirectory, fileSystem: fileSystem)
        let cleanPoints = cleanerManager.checkpoints
        for (tp, log) in opened { log.setFirstDirtyOffset(cleanPoints[tp]) }
        // From here on the directory is live: a crash before `close` must lead to recovery, so the marker's
        // removal must be durable before anything is written (or a crash would bring it back and skip recovery).
        do {
            if clean {
                try fileSystem.removeFile(marker)
                try fileSystem.syncDirectory(dataDirectory)
            }
        } catch {
            throw .io(error)
        }
        let cleaner = LogCleaner(config: cleanerConfig, manager: cleanerManager, clock: clock, logger: logger)
        let manager = LogManager(
            dataDirectory: dataDirectory, fileSystem: fileSystem, clock: clock, logger: logger,
            appendObserver: appendObserver, logs: opened, reports: reports, backgroundIntervalMs: backgroundIntervalMs,
            retentionCheckIntervalMs: retentionCheckIntervalMs, cleaner: cleaner)
        // A log that came back shorter than its checkpointed recovery point (a crash during a truncation) must not
        // keep that checkpoint: it would vouch for what is appended next, and recovery would skip it.
        if opened.contains(where: { tp, log in log.recoveryPoint < (recoveryPoints[tp] ?? 0) }) {
            try manager.checkpoint()
        }
        return manager
    }

    private init(
        dataDirectory: String, fileSystem: any FileSystem, clock: @escaping Clock, logger: Logger,
        appendObserver: (@Sendable (TopicPartition, Int64) -> Void)?, logs opened: [TopicPartition: Log],
        reports: [TopicPartition: LogOpenReport], backgroundIntervalMs: Int?, retentionCheckIntervalMs: Int64,
        cleaner: LogCleaner
    ) {
        self.dataDirectory = dataDirectory
        self.fileSystem = fileSystem
        self.clock = clock
        self.logger = logger
        self.appendObserver = appendObserver
        self.openReports = reports
        self.backgroundIntervalMs = backgroundIntervalMs
        self.retentionCheckIntervalMs = retentionCheckIntervalMs
        self.cleaner = cleaner
        logs.withLock { $0 = opened }
        cleaner.setLogSource { [weak self] in self?.allLogs.filter { !$0.value.isClosed } ?? [:] }
        scheduleBackgroundTasks()
        if backgroundIntervalMs != nil {
            scheduleRetention()
            cleaner.startup()
        }
    }

    /// Binds a manager-wide append observer to one partition.
    static func observer(
        _ observe: (@Sendable (TopicPartition, Int64) -> Void)?, _ tp: TopicPartition
    ) -> (@Sendable (Int64) -> Void)? {
        guard let observe else { return nil }
        return { @Sendable offset in observe(tp, offset) }
    }

    private func scheduleBackgroundTasks() {
        guard let interval = backgroundIntervalMs else { return }
        queue.asyncAfter(deadline: .now() + .milliseconds(interval)) { [weak self] in
            guard let self, !self.closed.withLock({ $0 }) else { return }
            self.runBackgroundTasks()
            self.scheduleBackgroundTasks()
        }
    }

    private func scheduleRetention() {
        let interval = Int(clamping: max(retentionCheckIntervalMs, 1))
        queue.asyncAfter(deadline: .now() + .milliseconds(interval)) { [weak self] in
            guard let self, !self.closed.withLock({ $0 }) else { return }
            self.runRetention()
            self.scheduleRetention()
        }
    }

    /// One retention pass over every log (Retention/): segments past `retention.ms` or `retention.bytes`, or
    /// below the log start offset, are deleted; the new log start offsets are checkpointed.
    @discardableResult
    public func runRetention() -> [TopicPartition: RetentionResult] {
        var results: [TopicPartition: RetentionResult] = [:]
        for (tp, log) in allLogs where !log.isClosed {
            do {
                let result = try log.deleteOldSegments()
                if result.segmentsDeleted > 0 { results[tp] = result }
            } catch {
                logger.error("\(tp): retention failed: \(error)")
            }
        }
        if !results.isEmpty {
            do { try checkpoint() } catch { logger.error("checkpoint failed: \(error)") }
        }
        return results
    }

    /// Cleans the dirtiest compacted log that needs it, now, on the calling thread (nil when none does).
    @discardableResult
    public func cleanFilthiestLog() throws(CleanerError) -> CleanerStats? {
        try cleaner.cleanFilthiestLog()
    }

    /// The last cleaning of each partition in this process.
    public var cleanerStats: [TopicPartition: CleanerStats] { cleaner.stats }

    /// The log of a partition, if it exists.
    public func log(_ tp: TopicPartition) -> Log? { logs.withLock { $0[tp] } }

    /// Every open log.
    public var allLogs: [TopicPartition: Log] { logs.withLock { $0 } }

    /// The partition's log, created (empty) if it does not exist.
    public func getOrCreateLog(_ tp: TopicPartition, config: LogConfig) throws(LogError) -> Log {
        try logs.withLock { (logs) throws(LogError) -> Log in
            if let log = logs[tp] { return log }
            guard !closed.withLock({ $0 }) else { throw .closed(directory: dataDirectory) }
            let log = try Log.open(
                directory: dataDirectory + "/" + tp.directoryName, config: config, fileSystem: fileSystem, clock: clock,
                logger: logger, appendObserver: Self.observer(appendObserver, tp))
            do throws(FileSystemError) { try fileSystem.syncDirectory(dataDirectory) } catch { throw .io(error) }
            logs[tp] = log
            return log
        }
    }

    /// Closes and removes a partition's log: the directory is renamed `<tp>.<time>-delete` first (so a crash
    /// finishes the removal on the next open), then deleted.
    public func deleteLog(_ tp: TopicPartition) throws(LogError) {
        guard let log = logs.withLock({ $0.removeValue(forKey: tp) }) else { return }
        try? log.close()
        try cleaner.manager.remove(tp)
        let doomed = dataDirectory + "/" + tp.directoryName + ".\(clock())-delete"
        do {
            try fileSystem.rename(log.directory, to: doomed)
            try fileSystem.syncDirectory(dataDirectory)
        } catch {
            throw .io(error)
        }
        try Self.removeTree(doomed, fileSystem: fileSystem)
    }

    static func removeTree(_ path: String, fileSystem: any FileSystem) throws(LogError) {
        do {
            for name in try fileSystem.listDirectory(path) {
                let child = path + "/" + name
                if fileSystem.isDirectory(child) { try removeTree(child, fileSystem: fileSystem) } else { try fileSystem.removeFile(child) }
            }
            try fileSystem.removeDirectory(path)
        } catch let error as FileSystemError {
            throw .io(error)
        } catch let error as LogError {
            throw error
        } catch {
            preconditionFailure("\(error)")
        }
    }

    /// Truncates a partition's log (`Log.truncate`) with the recovery-point checkpoint lowered first and rewritten
    /// after, as Kafka does: a checkpoint above the truncation point would vouch, after a crash, for segments the
    /// truncation changed (or for offsets written later and never flushed), and they would not be rescanned.
    /// Returns the new log end offset.
    @discardableResult
    public func truncate(_ tp: TopicPartition, to offset: Int64) throws(LogError) -> Int64 {
        guard let log = log(tp) else { throw .invalidDirectory(path: dataDirectory + "/" + tp.directoryName, reason: "no such partition") }
        let previous = log.state.withLock { state in
            defer { state.recoveryPoint = min(state.recoveryPoint, max(offset, state.logStartOffset)) }
            return state.recoveryPoint
        }
        do {
            try checkpoint()
        } catch {
            // Nothing was truncated: the recovery point was right.
            log.state.withLock { $0.recoveryPoint = max($0.recoveryPoint, previous) }
            throw error
        }
        let end = try log.truncate(to: offset)
        do {
            try checkpoint()
        } catch {
            // The checkpoint may be above the new log end: writes are no longer safe.
            log.state.withLock { $0.offlineReason = "truncated, but the checkpoints could not be written: \(error)" }
            throw error
        }
        return end
    }

    /// Writes the recovery-point and log-start-offset checkpoints of every open log.
    public func checkpoint() throws(LogError) {
        let all = allLogs.filter { !$0.value.isClosed }
        do {
            try OffsetCheckpointFile(path: dataDirectory + "/" + Self.recoveryPointCheckpoint, fileSystem: fileSystem)
                .write(all.mapValues(\.recoveryPoint))
            try OffsetCheckpointFile(path: dataDirectory + "/" + Self.logStartOffsetCheckpoint, fileSystem: fileSystem)
                .write(all.mapValues(\.logStartOffset))
        } catch {
            throw .invalidDirectory(path: dataDirectory, reason: "\(error)")
        }
    }

    /// Background work: flush logs whose `flush.ms` has passed, remove deleted segments' files whose
    /// `file.delete.delay.ms` has passed, then checkpoint.
    func runBackgroundTasks() {
        guard !closed.withLock({ $0 }) else { return }
        for (tp, log) in allLogs {
            do { try log.flushIfDue() } catch { logger.error("\(tp): flush failed: \(error)") }
            do { try log.removeDeletedSegmentFiles() } catch { logger.error("\(tp): removing deleted segments failed: \(error)") }
        }
        do { try checkpoint() } catch { logger.error("checkpoint failed: \(error)") }
    }

    /// Flushes and closes every log, writes the checkpoints and the clean-shutdown marker.
    public func close() throws(LogError) {
        let first = closed.withLock { was in
            defer { was = true }
            return !was
        }
        guard first else { return }
        cleaner.shutdown()  // aborts cleanings in progress and waits for the threads
        queue.sync {}  // waits for a background pass in progress
        var failure: LogError?
        var cleanLogs: [TopicPartition: Log] = [:]
        for (tp, log) in allLogs {
            do {
                try log.close()
                if log.offlineReason == nil { cleanLogs[tp] = log }
            } catch {
                logger.error("\(tp): close failed: \(error)")
                failure = error
            }
        }
        do {
            try OffsetCheckpointFile(path: dataDirectory + "/" + Self.recoveryPointCheckpoint, fileSystem: fileSystem)
                .write(allLogs.mapValues { $0.state.withLock { $0.recoveryPoint } })
            try OffsetCheckpointFile(path: dataDirectory + "/" + Self.logStartOffsetCheckpoint, fileSystem: fileSystem)
                .write(allLogs.mapValues { $0.state.withLock { $0.logStartOffset } })
        } catch {
            throw .invalidDirectory(path: dataDirectory, reason: "\(error)")
        }
        try cleaner.manager.checkpoint()
        if let failure { throw failure }
        // Only a directory whose every log closed cleanly skips recovery next time.
        guard cleanLogs.count == allLogs.count else { return }
        do {
            let marker = try fileSystem.openFile(dataDirectory + "/" + Self.cleanShutdownMarker, create: true)
            try marker.sync()
            try fileSystem.syncDirectory(dataDirectory)
        } catch {
            throw .io(error)
        }
    }
}
