/// Why retention deleted segments.
public enum SegmentDeletionReason: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Wholly below the log start offset (after DeleteRecords, or after earlier deletions).
    case logStartOffset = "log start offset breach"
    /// The partition was larger than `retention.bytes`.
    case retentionBytes = "retention.bytes breach"
    /// The segment's newest record was older than `retention.ms`.
    case retentionMs = "retention.ms breach"

    public var description: String { rawValue }
}

/// What one retention pass over a log did.
public struct RetentionResult: Sendable, Equatable {
    /// Segments deleted, by reason.
    public var deleted: [SegmentDeletionReason: Int] = [:]
    public var bytesDeleted: Int64 = 0
    /// The log start offset after the pass.
    public var logStartOffset: Int64 = 0

    public init() {}

    public var segmentsDeleted: Int { deleted.values.reduce(0, +) }
}

/// Retention for `cleanup.policy=delete` (and `compact,delete`), with Kafka's rules (`UnifiedLog.deleteOldSegments`):
/// whole segments go, oldest first, never the active one, while
/// - the next segment starts at or below the log start offset (every policy: DeleteRecords moved the start);
/// - the partition is larger than `retention.bytes` by at least the segment's size;
/// - the segment's largest timestamp is more than `retention.ms` old.
///
/// The log start offset moves to the first remaining segment's base (never back), the segment's files are
/// renamed `.deleted` and removed after `file.delete.delay.ms` (a reader holding a `FileSlice` keeps its
/// descriptor either way). `LogManager` runs a pass every `log.retention.check.interval.ms` and checkpoints the
/// new log start offsets.
///
/// ```swift
/// var config = LogConfig()
/// config.retentionMs = 3_600_000
/// log.updateConfig(config)
/// let result = try log.deleteOldSegments()          // result.segmentsDeleted, result.logStartOffset
/// ```
///
/// Unlike Kafka, the active segment is never deleted, even when it alone breaches retention (Kafka rolls it
/// first): it goes once `segment.ms` or `segment.bytes` rolls it.
extension Log {
    /// One retention pass (Kafka's `deleteOldSegments`): start offset, then size, then time.
    @discardableResult
    public func deleteOldSegments() throws(LogError) -> RetentionResult {
        var result = RetentionResult()
        try deleteLogStartOffsetBreachedSegments(&result)
        if config.cleanupPolicy.deletes {
            try deleteRetentionSizeBreachedSegments(&result)
            try deleteRetentionMsBreachedSegments(&result)
        }
        result.logStartOffset = logStartOffset
        return result
    }

    func deleteLogStartOffsetBreachedSegments(_ result: inout RetentionResult) throws(LogError) {
        try deleteOldSegments(.logStartOffset, &result) { _, next, logStartOffset in
            next.baseOffset <= logStartOffset
        }
    }

    func deleteRetentionSizeBreachedSegments(_ result: inout RetentionResult) throws(LogError) {
        let (limit, size) = state.withLock { state in
            (state.config.retentionBytes, state.segments.reduce(Int64(0)) { $0 + $1.size })
        }
        guard limit >= 0, size >= limit else { return }
        var excess = size - limit
        try deleteOldSegments(.retentionBytes, &result) { segment, _, _ in
            guard excess - segment.size >= 0 else { return false }
            excess -= segment.size
            return true
        }
    }

    func deleteRetentionMsBreachedSegments(_ result: inout RetentionResult) throws(LogError) {
        let limit = config.retentionMs
        guard limit >= 0 else { return }
        let now = clock()
        try deleteOldSegments(.retentionMs, &result) { segment, _, _ in
            // A segment without timestamps is measured from when it was created or opened (Kafka falls back to
            // the file's modification time).
            let newest = segment.largestTimestamp >= 0 ? segment.largestTimestamp : segment.createdMs
            return now - newest > limit
        }
    }

    /// Deletes segments from the oldest while `predicate(segment, next segment, log start offset)` holds, stopping at the
    /// first that does not and always before the active segment. Indexes are loaded first (the predicate may
    /// need the largest timestamp).
    private func deleteOldSegments(
        _ reason: SegmentDeletionReason, _ result: inout RetentionResult,
        _ predicate: (LogSegment, LogSegment, Int64) -> Bool
    ) throws(LogError) {
        let deleted = try state.withLock { (state) throws(LogError) -> [LogSegment] in
            guard !state.closed else { throw .closed(directory: directory) }
            var count = 0
            while count < state.segments.count - 1 {
                try ensureTimestampsKnown(count, state: &state)
                guard predicate(state.segments[count], state.segments[count + 1], state.logStartOffset) else { break }
                count += 1
            }
            guard count > 0 else { return [] }
            let doomed = Array(state.segments[0..<count])
            // The start moves first, so no read is let in below it once the segments are gone.
            let newStart = state.segments[count].baseOffset
            state.logStartOffset = max(state.logStartOffset, newStart)
            state.segments.removeFirst(count)
            let due = clock() + state.config.fileDeleteDelayMs
            do throws(FileSystemError) {
                for segment in doomed {
                    try segment.markDeleted()
                    state.pendingDeletions.append((segment, due))
                }
                // Producer snapshots older than the new first segment are no longer a starting point.
                try state.producerState.removeSnapshots(below: newStart)
                // The renames are durable before the recovery point is raised (below) and can reach a checkpoint:
                // a crash must not bring the segments back as live ones that recovery, trusting that point, never
                // rescans (their indexes may never have been synced).
                try fileSystem.syncDirectory(directory)
            } catch {
                state.offlineReason = "segment deletion failed: \(error)"
                logger.error("log \(directory) is offline for writes: segment deletion failed: \(error)")
                throw .io(error)
            }
            state.recoveryPoint = max(state.recoveryPoint, min(state.logStartOffset, state.logEndOffset))
            return doomed
        }
        guard !deleted.isEmpty else { return }
        result.deleted[reason, default: 0] += deleted.count
        result.bytesDeleted += deleted.reduce(0) { $0 + $1.size }
        let names = deleted.map { LogSegment.fileName($0.baseOffset, "log") }.joined(separator: ", ")
        logger.info("\(directory): deleting segments \(names) (\(reason)); log start offset \(logStartOffset)")
        if config.fileDeleteDelayMs == 0 { try removeDeletedSegmentFiles() }
    }

    /// Removes the files of deleted segments whose `file.delete.delay.ms` has passed (all of them with
    /// `force`). Returns how many segments' files were removed.
    @discardableResult
    public func removeDeletedSegmentFiles(force: Bool = false) throws(LogError) -> Int {
        let now = clock()
        let due = state.withLock { state -> [LogSegment] in
            let ready = state.pendingDeletions.filter { force || $0.dueMs <= now }.map(\.segment)
            state.pendingDeletions.removeAll { force || $0.dueMs <= now }
            return ready
        }
        do throws(FileSystemError) {
            for segment in due { try segment.removeFiles() }
        } catch {
            throw .io(error)
        }
        return due.count
    }

    /// Segments renamed `.deleted` whose files are not removed yet.
    public var pendingDeletionCount: Int { state.withLock { $0.pendingDeletions.count } }
}
