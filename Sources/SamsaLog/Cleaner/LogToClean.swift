/// One log as the cleaner sees it before a cleaning (Kafka's `LogToClean` with `cleanableOffsets` and
/// `calculateCleanableBytes`): the dirty section runs from the clean point to the first offset the cleaner may
/// not touch (the active segment, or the first segment younger than `min.compaction.lag.ms`).
struct LogToClean {
    var topicPartition: TopicPartition?
    var firstDirtyOffset: Int64
    /// Exclusive: the base offset of the first segment the cleaner leaves alone.
    var firstUncleanableOffset: Int64
    /// Bytes of the segments below the clean point, and of the dirty segments up to the first uncleanable one.
    var cleanBytes: Int64
    var cleanableBytes: Int64
    /// `max.compaction.lag.ms` has passed for the oldest dirty segment.
    var needCompactionNow: Bool
    /// A delete horizon the cleaner wrote has passed: expired tombstones can go.
    var tombstonesDue: Bool
    /// The checkpointed clean point was outside the log (reset to the log start) or above a truncation.
    var checkpointReset: Bool

    var totalBytes: Int64 { cleanBytes + cleanableBytes }
    var cleanableRatio: Double { totalBytes > 0 ? Double(cleanableBytes) / Double(totalBytes) : 0 }
}

/// A segment as a cleaning found it: the cleaner reads `size` bytes of it outside the log's lock, and the swap
/// checks that the log still holds exactly these segments at these sizes.
struct SegmentSnapshot {
    let segment: LogSegment
    let size: Int64
    /// The next segment's base offset (or the log end for the last one): no batch of this segment reaches it.
    let nextOffset: Int64
    let offsetIndexBytes: Int64
    let timeIndexBytes: Int64
    var baseOffset: Int64 { segment.baseOffset }
}

extension Log {
    /// What the cleaner would clean now, given the last clean point (`cleaner-offset-checkpoint`).
    func logToClean(lastCleanOffset: Int64?, now: Int64) throws(LogError) -> LogToClean {
        try state.withLock { (state) throws(LogError) -> LogToClean in
            guard !state.closed else { throw .closed(directory: directory) }
            let config = state.config
            // The checkpointed clean point, unless the log was cut below it since (then the cut is).
            let known = [lastCleanOffset, state.firstDirtyOffset].compactMap { $0 }.min()
            var firstDirty = known ?? state.logStartOffset
            var reset = known != lastCleanOffset && lastCleanOffset != nil
            if firstDirty < state.logStartOffset || firstDirty > state.logEndOffset {
                firstDirty = state.logStartOffset
                reset = true
            }
            let activeBase = state.active.baseOffset
            let lastNonActive = state.segments.count - 2
            let firstDirtySegment = state.segmentIndex(for: firstDirty) ?? 0
            // The first segment whose newest record is younger than min.compaction.lag.ms, if any.
            var uncleanable = activeBase
            if config.minCompactionLagMs > 0, firstDirtySegment <= lastNonActive {
                for i in firstDirtySegment...lastNonActive {
                    try ensureTimestampsKnown(i, state: &state)
                    if state.segments[i].largestTimestamp > now - config.minCompactionLagMs {
                        uncleanable = min(uncleanable, state.segments[i].baseOffset)
                        break
                    }
                }
            }
            uncleanable = max(firstDirty, uncleanable)
            // Round down to the base of the segment holding it (the cleaner works on whole segments).
            let firstUncleanable = state.segments[state.segmentIndex(for: uncleanable) ?? 0].baseOffset
            var cleanBytes: Int64 = 0
            var cleanableBytes: Int64 = 0
            let dirtyFrom = min(firstDirty, firstUncleanable)
            for (i, segment) in state.segments.enumerated() {
                let next = state.nextOffset(ofSegment: i)
                if segment.baseOffset < firstDirty { cleanBytes += segment.size }
                if next > dirtyFrom && segment.baseOffset < firstUncleanable { cleanableBytes += segment.size }
            }
            // max.compaction.lag.ms: the oldest first-batch timestamp among the dirty non-active segments.
            var needNow = false
            if config.maxCompactionLagMs != .max, firstDirtySegment <= lastNonActive {
                let cleanUntil = now - config.maxCompactionLagMs
                for i in firstDirtySegment...lastNonActive {
                    let segment = state.segments[i]
                    var scanner = BatchHeaderScanner(file: segment.log, from: 0, end: segment.size, bufferSize: RecordBatch.headerSize)
                    if let (header, _) = try scanner.next(), header.maxTimestamp > 0, header.maxTimestamp < cleanUntil {
                        needNow = true
                        break
                    }
                }
            }
            let due = state.earliestDeleteHorizonMs.map { now >= $0 } ?? false
            return LogToClean(
                topicPartition: topicPartition, firstDirtyOffset: firstDirty, firstUncleanableOffset: firstUncleanable,
                cleanBytes: cleanBytes, cleanableBytes: cleanableBytes, needCompactionNow: needNow, tombstonesDue: due,
                checkpointReset: reset)
        }
    }

    /// The segments, with their sizes and the offsets that bound them, for a cleaning to read.
    func cleanerSnapshot() throws(LogError) -> (segments: [SegmentSnapshot], config: LogConfig) {
        try state.withLock { (state) throws(LogError) in
            guard !state.closed else { throw .closed(directory: directory) }
            var snapshots: [SegmentSnapshot] = []
            snapshots.reserveCapacity(state.segments.count)
            for (i, segment) in state.segments.enumerated() {
                var indexBytes: Int64 = 0
                var timeBytes: Int64 = 0
                if i < state.segments.count - 1 {
                    do throws(FileSystemError) {
                        indexBytes = try segment.offsetIndex.storage.file.size()
                        timeBytes = try segment.timeIndex.storage.file.size()
                    } catch {
                        throw .io(error)
                    }
                }
                snapshots.append(
                    SegmentSnapshot(
                        segment: segment, size: segment.size, nextOffset: state.nextOffset(ofSegment: i),
                        offsetIndexBytes: indexBytes, timeIndexBytes: timeBytes))
            }
            return (snapshots, state.config)
        }
    }

    /// The position to start reading `segment` at to find `offset` (its offset index, under the lock).
    func cleanerStartPosition(_ segment: LogSegment, offset: Int64) throws(LogError) -> Int64 {
        try state.withLock { (state) throws(LogError) -> Int64 in
            guard !state.closed else { throw .closed(directory: directory) }
            guard let i = state.segments.firstIndex(where: { $0 === segment }) else { return 0 }
            try ensureIndexesLoaded(i, state: &state)
            return segment.indexedPosition(for: offset)
        }
    }

    /// Swaps a cleaned segment in for `old` (consecutive, non-active), crash-safely:
    /// 1. `<base>.log.cleaned` -> `.swap` (the commit point), then its indexes; the directory is synced;
    /// 2. each old segment's files -> `.deleted` (removed after `file.delete.delay.ms`);
    /// 3. the swap files get their live names; the directory is synced.
    /// A crash before 1 leaves the old segments (opening deletes `.cleaned` files); after it, opening finishes the
    /// swap (`LogLoader.resolveLeftovers`). Returns false, touching nothing, when the log no longer holds exactly
    /// these segments at these sizes (retention, truncation or close got there first).
    func replaceSegments(
        _ old: [SegmentSnapshot], with cleaned: LogSegment, observer: (@Sendable (CleanerPhase) -> Void)?
    ) throws(LogError) -> Bool {
        precondition(!old.isEmpty && cleaned.baseOffset == old[0].baseOffset, "a cleaned segment replaces its group")
        return try state.withLock { (state) throws(LogError) -> Bool in
            guard !state.closed, state.offlineReason == nil,
                let first = state.segments.firstIndex(where: { $0 === old[0].segment }),
                first + old.count < state.segments.count
            else { return false }
            for (j, snapshot) in old.enumerated() {
                let live = state.segments[first + j]
                guard live === snapshot.segment, live.size == snapshot.size else { return false }
            }
            let now = clock()
            do throws(FileSystemError) {
                try cleaned.changeSuffix(to: ".swap") { observer?(.swapLogRenamed) }
                try fileSystem.syncDirectory(directory)
                observer?(.swapRenamed)
                for (j, snapshot) in old.enumerated() {
                    try snapshot.segment.markDeleted { if j == 0 { observer?(.oldPartiallyDeleted) } }
                }
                observer?(.oldDeleted)
                try cleaned.changeSuffix(to: "") { observer?(.liveLogRenamed) }
                try fileSystem.syncDirectory(directory)
                observer?(.swapped)
                // Reopened under its live name (the cleaned files were opened as `.cleaned`); indexes load lazily.
                let (live, _) = try LogSegment.open(
                    directory: directory, baseOffset: cleaned.baseOffset, config: state.config, fileSystem: fileSystem,
                    nowMs: now)
                state.segments.replaceSubrange(first..<(first + old.count), with: [live])
                let due = now + state.config.fileDeleteDelayMs
                for snapshot in old { state.pendingDeletions.append((snapshot.segment, due)) }
            } catch {
                state.offlineReason = "segment swap failed: \(error)"
                logger.error("log \(directory) is offline for writes: segment swap failed: \(error)")
                throw .io(error)
            }
            return true
        }
    }

    /// Records a completed cleaning: the new clean point, its statistics and the earliest delete horizon left.
    func recordCleaning(_ stats: CleanerStats, earliestDeleteHorizonMs: Int64?) {
        state.withLock { state in
            state.firstDirtyOffset = stats.endOffset
            state.lastCleaning = stats
            state.earliestDeleteHorizonMs = earliestDeleteHorizonMs
        }
    }

    /// Sets the clean point (from `cleaner-offset-checkpoint`).
    func setFirstDirtyOffset(_ offset: Int64?) {
        state.withLock { $0.firstDirtyOffset = offset }
    }

    /// Where this log stands with the cleaner: the clean point (from this process's cleanings, else from the
    /// `cleaner-offset-checkpoint` beside the partition directory, else the log start), the dirty ratio now, and
    /// the last cleaning.
    public var cleaningSummary: CleaningSummary {
        var known = state.withLock { $0.firstDirtyOffset }
        if known == nil, let tp = topicPartition {
            let checkpoint = OffsetCheckpointFile(
                path: PosixFileSystem.parent(of: directory) + "/" + LogCleanerManager.checkpointFileName, fileSystem: fileSystem)
            known = (try? checkpoint.read())?[tp]
        }
        let last = state.withLock { $0.lastCleaning }
        guard let toClean = try? logToClean(lastCleanOffset: known, now: clock()) else {
            return CleaningSummary(
                firstDirtyOffset: known ?? 0, cleanBytes: 0, dirtyBytes: 0, dirtyRatio: 0, firstUncleanableOffset: 0,
                lastCleaning: last)
        }
        return CleaningSummary(
            firstDirtyOffset: toClean.firstDirtyOffset, cleanBytes: toClean.cleanBytes, dirtyBytes: toClean.cleanableBytes,
            dirtyRatio: toClean.cleanableRatio, firstUncleanableOffset: toClean.firstUncleanableOffset, lastCleaning: last)
    }
}
