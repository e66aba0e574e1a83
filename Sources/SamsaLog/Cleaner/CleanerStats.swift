/// What one cleaning of one log did (Kafka's `CleanerStats`, plus the dirty ratio before and after): the
/// cleaner logs it, keeps the last one per log (`Log.cleaningSummary`, `LogManager.cleanerStats`).
///
/// ```swift
/// if let stats = try manager.cleanFilthiestLog() {
///     print(stats)          // "orders-0: cleaned [0, 52311): 48.0 MB in 0.4 s (120.1 MB/s) ..."
/// }
/// ```
public struct CleanerStats: Sendable, Equatable, CustomStringConvertible {
    public var topicPartition: TopicPartition?
    /// The clean point before (the first offset of the dirty section) and after (the first offset not cleaned).
    public var firstDirtyOffset: Int64 = 0
    public var endOffset: Int64 = 0
    /// Bytes and records of log read and written while rewriting the segment groups (bytes and records of
    /// superseded runs left unread count as read: they were processed).
    public var bytesRead: Int64 = 0
    /// Of `bytesRead`, the bytes of runs of superseded records the rewrite pass stepped over unread.
    public var bytesSkipped: Int64 = 0
    public var bytesWritten: Int64 = 0
    public var messagesRead: Int64 = 0
    public var messagesWritten: Int64 = 0
    /// Records dropped because they had no key (they cannot be compacted).
    public var invalidMessagesRead: Int64 = 0
    /// Tombstones removed because their delete horizon had passed.
    public var tombstonesRemoved: Int64 = 0
    /// Bytes and records read to build the offset map (the dirty section).
    public var mapBytesRead: Int64 = 0
    public var mapMessagesRead: Int64 = 0
    /// The offset map's fill when it was complete, and whether it filled up before the dirty section's end.
    public var bufferUtilization: Double = 0
    public var mapFilled = false
    /// The largest offset map table the cleaner thread has used (within `log.cleaner.dedupe.buffer.size`).
    public var offsetMapBytes: Int64 = 0
    public var segmentsBefore = 0
    public var segmentsAfter = 0
    /// Groups of segments swapped for a cleaned one.
    public var groupsCleaned = 0
    /// The log's size and dirty ratio (dirty bytes / cleanable bytes) before and after.
    public var sizeBefore: Int64 = 0
    public var sizeAfter: Int64 = 0
    public var dirtyRatioBefore: Double = 0
    public var dirtyRatioAfter: Double = 0
    /// Wall time of the whole cleaning, and of building the map (monotonic clock).
    public var elapsedSeconds: Double = 0
    public var mapElapsedSeconds: Double = 0
    /// Time spent asleep in the I/O throttle.
    public var throttledSeconds: Double = 0
    /// The engine clock when the cleaning ended.
    public var endedAtMs: Int64 = 0

    public init() {}

    /// Megabytes (10^6 bytes) of log processed per second: what was read to rewrite the groups.
    public var throughputMBps: Double { elapsedSeconds > 0 ? Double(bytesRead) / 1e6 / elapsedSeconds : 0 }

    public var description: String {
        func mb(_ bytes: Int64) -> String { formatted(Double(bytes) / 1e6) }
        func formatted(_ value: Double, _ digits: Int = 1) -> String {
            var scale = 1.0
            for _ in 0..<digits { scale *= 10 }
            let rounded = (value * scale).rounded() / scale
            return "\(rounded)"
        }
        func percent(_ ratio: Double) -> String { formatted(ratio * 100) + "%" }
        let name = topicPartition.map { "\($0)" } ?? "log"
        let cleanSeconds = max(elapsedSeconds - mapElapsedSeconds, 0)
        var lines = [
            "\(name): cleaned offsets [\(firstDirtyOffset), \(endOffset)) in \(groupsCleaned) segment groups",
            "  \(mb(bytesRead)) MB of log processed in \(formatted(elapsedSeconds, 3)) s (\(formatted(throughputMBps)) MB/s)",
            "  indexed \(mb(mapBytesRead)) MB in \(formatted(mapElapsedSeconds, 3)) s, buffer utilization \(percent(bufferUtilization))"
                + " of a \(mb(offsetMapBytes)) MB map"
                + (mapFilled ? " (map full: stopped early)" : ""),
            "  cleaned \(mb(bytesRead)) MB in \(formatted(cleanSeconds, 3)) s"
                + (bytesSkipped > 0 ? ", \(mb(bytesSkipped)) MB of it superseded runs left unread" : ""),
            "  log size \(mb(sizeBefore)) MB -> \(mb(sizeAfter)) MB; records read \(messagesRead), kept \(messagesWritten)",
            "  dirty ratio \(percent(dirtyRatioBefore)) -> \(percent(dirtyRatioAfter)), segments \(segmentsBefore) -> \(segmentsAfter)",
        ]
        if tombstonesRemoved > 0 || invalidMessagesRead > 0 {
            lines.append("  \(tombstonesRemoved) expired tombstones removed, \(invalidMessagesRead) records without a key dropped")
        }
        if throttledSeconds > 0 { lines.append("  throttled for \(formatted(throttledSeconds, 3)) s") }
        return lines.joined(separator: "\n")
    }
}

/// Where a log stands with the cleaner: its clean point, how dirty it is, and the last cleaning (for `samsa
/// dump-log`'s summary and the broker's metrics).
///
/// ```swift
/// let summary = log.cleaningSummary
/// print(summary.dirtyRatio, summary.lastCleaning?.throughputMBps ?? 0)
/// ```
public struct CleaningSummary: Sendable, CustomStringConvertible {
    /// Offsets below this were cleaned (from `cleaner-offset-checkpoint`, or the log start when unknown).
    public var firstDirtyOffset: Int64
    /// Bytes of the segments before the clean point, and of the dirty segments the cleaner may clean now.
    public var cleanBytes: Int64
    public var dirtyBytes: Int64
    /// dirtyBytes / (cleanBytes + dirtyBytes): the cleaner picks logs by it (`min.cleanable.dirty.ratio`).
    public var dirtyRatio: Double
    /// The first offset the cleaner may not touch now (the active segment, `min.compaction.lag.ms`).
    public var firstUncleanableOffset: Int64
    /// The last cleaning in this process, if any.
    public var lastCleaning: CleanerStats?

    public var description: String {
        var text = "clean point \(firstDirtyOffset), \(cleanBytes) clean bytes, \(dirtyBytes) dirty bytes, dirty ratio "
            + "\((dirtyRatio * 1000).rounded() / 10)%"
        if let last = lastCleaning {
            text += "; last cleaning: \((last.throughputMBps * 10).rounded() / 10) MB/s, dirty ratio "
                + "\((last.dirtyRatioBefore * 1000).rounded() / 10)% -> \((last.dirtyRatioAfter * 1000).rounded() / 10)%"
        }
        return text
    }
}

/// Why a cleaning did not complete.
public enum CleanerError: Error, Sendable, CustomStringConvertible {
    /// The log changed under the cleaner (closed, truncated, segments deleted) or the cleaner is stopping.
    /// Nothing was lost; the cleaning is retried later.
    case aborted(reason: String)
    /// A read or write failed, or a batch is damaged: the partition is left alone until restart.
    case log(LogError)
    /// The offset map cannot hold even the first batch of the dirty section (`log.cleaner.dedupe.buffer.size`).
    case offsetMapTooSmall(slots: Int, offset: Int64)

    public var description: String {
        switch self {
        case .aborted(let reason): "cleaning aborted: \(reason)"
        case .log(let error): "\(error)"
        case .offsetMapTooSmall(let slots, let offset):
            "the offset map (\(slots) slots) cannot hold the keys of the batch at offset \(offset): raise log.cleaner.dedupe.buffer.size"
        }
    }
}
