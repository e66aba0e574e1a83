import Synchronization

/// The cleaner's bookkeeping for one data directory (Kafka's `LogCleanerManager`): the clean point of every
/// compacted partition (`cleaner-offset-checkpoint`), which partitions are being cleaned, which failed, and the
/// last statistics; and the choice of the next log to clean.
final class LogCleanerManager: Sendable {
    static let checkpointFileName = "cleaner-offset-checkpoint"

    let checkpointFile: OffsetCheckpointFile

    private struct State {
        var checkpoints: [TopicPartition: Int64]
        var inProgress: Set<TopicPartition> = []
        /// Partitions whose cleaning failed (I/O, damage): left alone until restart, as Kafka does.
        var uncleanable: Set<TopicPartition> = []
        var lastStats: [TopicPartition: CleanerStats] = [:]
    }

    private let state: Mutex<State>

    init(dataDirectory: String, fileSystem: any FileSystem) throws(LogError) {
        checkpointFile = OffsetCheckpointFile(path: dataDirectory + "/" + Self.checkpointFileName, fileSystem: fileSystem)
        let checkpoints: [TopicPartition: Int64]
        do { checkpoints = try checkpointFile.read() } catch {
            throw .invalidDirectory(path: dataDirectory, reason: "\(error)")
        }
        state = Mutex(State(checkpoints: checkpoints))
    }

    var checkpoints: [TopicPartition: Int64] { state.withLock { $0.checkpoints } }
    var lastStats: [TopicPartition: CleanerStats] { state.withLock { $0.lastStats } }
    var uncleanablePartitions: Set<TopicPartition> { state.withLock { $0.uncleanable } }

    /// Picks the compacted log with the highest dirty ratio above its `min.cleanable.dirty.ratio` (or past
    /// `max.compaction.lag.ms`, or holding tombstones whose horizon has passed), marks it in progress and
    /// returns it. Logs being cleaned, failed ones and empty ones are skipped.
    func grabFilthiestCompactedLog(_ logs: [TopicPartition: Log], now: Int64) -> (Log, LogToClean)? {
        state.withLock { state -> (Log, LogToClean)? in
            var best: (Log, LogToClean)?
            for (tp, log) in logs where log.config.cleanupPolicy.compacts {
                guard !state.inProgress.contains(tp), !state.uncleanable.contains(tp), !log.isClosed else { continue }
                guard let toClean = try? log.logToClean(lastCleanOffset: state.checkpoints[tp], now: now) else { continue }
                if toClean.checkpointReset { state.checkpoints[tp] = toClean.firstDirtyOffset }
                guard toClean.totalBytes > 0 else { continue }
                let cleanable =
                    (toClean.needCompactionNow && toClean.cleanableBytes > 0)
                    || toClean.cleanableRatio > log.config.minCleanableDirtyRatio || toClean.tombstonesDue
                guard cleanable else { continue }
                if best == nil || toClean.cleanableRatio > best!.1.cleanableRatio { best = (log, toClean) }
            }
            if let (log, _) = best, let tp = log.topicPartition { state.inProgress.insert(tp) }
            return best
        }
    }

    /// Marks a log in progress for a cleaning asked for by name (false when it already is).
    func beginCleaning(_ tp: TopicPartition) -> Bool {
        state.withLock { $0.inProgress.insert(tp).inserted }
    }

    func lastCleanOffset(_ tp: TopicPartition) -> Int64? { state.withLock { $0.checkpoints[tp] } }

    /// Ends a cleaning: a completed one moves the clean point and writes the checkpoint file.
    func doneCleaning(_ tp: TopicPartition, stats: CleanerStats?) throws(LogError) {
        let entries = state.withLock { state -> [TopicPartition: Int64]? in
            state.inProgress.remove(tp)
            guard let stats else { return nil }
            state.checkpoints[tp] = stats.endOffset
            state.lastStats[tp] = stats
            return state.checkpoints
        }
        if let entries { try write(entries) }
    }

    func markUncleanable(_ tp: TopicPartition) {
        state.withLock { state in
            state.inProgress.remove(tp)
            state.uncleanable.insert(tp)
        }
    }

    /// Forgets a deleted partition.
    func remove(_ tp: TopicPartition) throws(LogError) {
        let entries = state.withLock { state -> [TopicPartition: Int64]? in
            state.uncleanable.remove(tp)
            state.lastStats[tp] = nil
            return state.checkpoints.removeValue(forKey: tp) == nil ? nil : state.checkpoints
        }
        if let entries { try write(entries) }
    }

    /// Writes the checkpoint file with the current clean points.
    func checkpoint() throws(LogError) {
        try write(checkpoints)
    }

    private func write(_ entries: [TopicPartition: Int64]) throws(LogError) {
        do { try checkpointFile.write(entries) } catch {
            throw .invalidDirectory(path: checkpointFile.path, reason: "\(error)")
        }
    }
}
