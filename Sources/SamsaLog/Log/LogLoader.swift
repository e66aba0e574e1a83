import Logging

/// What opening a partition directory found and did: the loader's report (also written to the log).
public struct LogOpenReport: Sendable, CustomStringConvertible {
    public struct Truncation: Sendable {
        public var segment: String
        public var droppedBytes: Int64
        /// The offset after the last batch kept.
        public var afterOffset: Int64
        public var reason: String
    }

    public var segmentsLoaded = 0
    /// Segments rescanned because they were past the recovery point (or had no clean shutdown).
    public var segmentsRecovered = 0
    public var indexesRebuilt: [String] = []
    public var truncations: [Truncation] = []
    /// Segments removed because they followed a damaged one.
    public var segmentsDropped: [String] = []
    /// Leftover `.deleted`, `.cleaned`, `.swap` and orphaned index files resolved.
    public var leftoversResolved: [String] = []

    public var description: String {
        var lines: [String] = []
        for t in truncations {
            lines.append("\(t.segment): dropped \(t.droppedBytes) bytes after offset \(t.afterOffset - 1): \(t.reason)")
        }
        if !segmentsDropped.isEmpty { lines.append("removed segments after the damage: \(segmentsDropped.joined(separator: ", "))") }
        if !indexesRebuilt.isEmpty { lines.append("rebuilt indexes: \(indexesRebuilt.joined(separator: ", "))") }
        if !leftoversResolved.isEmpty { lines.append("resolved leftovers: \(leftoversResolved.joined(separator: ", "))") }
        lines.append("\(segmentsLoaded) segments loaded, \(segmentsRecovered) recovered")
        return lines.joined(separator: "\n")
    }
}

extension Log {
    /// Opens (or creates) the partition log in `directory` (Kafka's `LogLoader`): resolves leftovers of
    /// interrupted deletes, cleanings and swaps; loads the segments; and, unless the previous shutdown was
    /// clean, rescans every segment from the one holding `recoveryPoint`, truncating a torn or corrupt tail at
    /// the last valid batch and rebuilding indexes. Missing or corrupt indexes are rebuilt from their `.log`.
    ///
    /// - Parameters:
    ///   - recoveryPoint: offsets below it are known durable (from `recovery-point-offset-checkpoint`); 0
    ///     rescans everything.
    ///   - logStartOffset: from `log-start-offset-checkpoint`; defaults to the first segment's base offset.
    ///   - cleanShutdown: the directory was closed cleanly, so no segment is rescanned.
    public static func open(
        directory: String, config: LogConfig = LogConfig(), recoveryPoint: Int64 = 0, logStartOffset: Int64? = nil,
        cleanShutdown: Bool = false, create: Bool = true, fileSystem: any FileSystem = PosixFileSystem(),
        clock: @escaping Clock = systemClock, logger: Logger = Logger(label: "samsa.log"),
        appendObserver: (@Sendable (Int64) -> Void)? = nil
    ) throws(LogError) -> Log {
        var report = LogOpenReport()
        let name = directory.split(separator: "/").last.map(String.init) ?? directory
        let topicPartition = TopicPartition(directoryName: name)
        if !fileSystem.isDirectory(directory) {
            guard create else { throw .invalidDirectory(path: directory, reason: "no such partition directory") }
            do { try fileSystem.createDirectory(directory) } catch { throw .io(error) }
        }
        let now = clock()
        var bases = try resolveLeftovers(directory: directory, fileSystem: fileSystem, report: &report)
        bases.sort()
        var segments: [LogSegment] = []
        var missingIndexes: Set<Int64> = []
        for base in bases {
            do {
                let (segment, missing) = try LogSegment.open(
                    directory: directory, baseOffset: base, config: config, fileSystem: fileSystem, nowMs: now)
                segments.append(segment)
                if missing { missingIndexes.insert(base) }
            } catch {
                throw .io(error)
            }
        }
        if segments.isEmpty {
            do {
                segments.append(
                    try LogSegment.create(
                        directory: directory, baseOffset: logStartOffset ?? 0, config: config, fileSystem: fileSystem,
                        nowMs: now))
            } catch {
                throw .io(error)
            }
        }
        report.segmentsLoaded = segments.count
        var state = State(
            config: config, segments: segments, logEndOffset: 0, logStartOffset: 0, recoveryPoint: recoveryPoint,
            lastFlushMs: now, producerState: ProducerStateManager(directory: directory, fileSystem: fileSystem))

        // Rescan from the segment holding the last flushed offset (the one below the recovery point: when a roll
        // started a segment exactly at the recovery point, the previous one's indexes were trimmed after the
        // flush and may not be on disk), unless the last shutdown was clean. (A log created just now has nothing to
        // rescan.)
        let recoverFrom = cleanShutdown || bases.isEmpty
            ? state.segments.count : (state.segmentIndex(for: max(recoveryPoint - 1, 0)) ?? 0)
        // Producer snapshots past the first rescanned segment's base describe batches that were not known to be
        // durable when the snapshot was written; the crash may have lost them. They go, and the producer state is
        // rebuilt by scanning the recovered segments (as Kafka's recovery writes fresh snapshots over them).
        if recoverFrom < state.segments.count {
            do { try state.producerState.removeSnapshots(above: state.segments[recoverFrom].baseOffset) } catch { throw .io(error) }
        }
        var i = 0
        while i < state.segments.count {
            let segment = state.segments[i]
            if i >= recoverFrom || missingIndexes.contains(segment.baseOffset) {
                let result = try segment.recover(indexIntervalBytes: config.indexIntervalBytes)
                if i >= recoverFrom { report.segmentsRecovered += 1 } else { report.indexesRebuilt.append(segment.path("log")) }
                if result.truncatedBytes > 0 {
                    let reason: String
                    switch result.reason {
                    case .corruptBatch(_, let position, let why): reason = "batch at byte \(position): \(why)"
                    case let other?: reason = "\(other)"
                    case nil: reason = "invalid data"
                    }
                    report.truncations.append(
                        .init(segment: segment.path("log"), droppedBytes: result.truncatedBytes, afterOffset: result.nextOffset, reason: reason))
                    logger.warning(
                        "\(segment.path("log")): dropped \(result.truncatedBytes) bytes after offset \(result.nextOffset - 1): \(reason)")
                    // Nothing after a damaged batch can be trusted: later segments go (durably, before the
                    // truncated segment grows back over their offsets).
                    if state.segments.count > i + 1 {
                        while state.segments.count > i + 1 {
                            let later = state.segments.removeLast()
                            report.segmentsDropped.append(later.path("log"))
                            do {
                                try later.markDeleted()
                                try later.removeFiles()
                            } catch {
                                throw .io(error)
                            }
                        }
                        do { try fileSystem.syncDirectory(directory) } catch { throw .io(error) }
                    }
                }
            }
            i += 1
        }

        // The log end: from the active segment (loaded and scanned from its last index entry).
        let last = state.segments.count - 1
        try ensureIndexesLoadedAtOpen(state.segments[last], nextOffset: .max, config: config, logger: logger, report: &report)
        state.logEndOffset = try scanNextOffset(state.segments[last])
        if state.segments[last].size > 0 && state.segments[last].indexesLoaded {
            // The active segment needs its max timestamp for later time index entries and segment.ms.
            try state.segments[last].recomputeMaxTimestamp()
        }
        do {
            try state.segments[last].offsetIndex.storage.preallocate()
            try state.segments[last].timeIndex.storage.preallocate()
        } catch {
            throw .io(error)
        }
        let firstBase = state.segments[0].baseOffset
        state.logStartOffset = min(max(logStartOffset ?? firstBase, firstBase), state.logEndOffset)
        state.recoveryPoint = cleanShutdown ? state.logEndOffset : min(recoveryPoint, state.logEndOffset)
        if recoverFrom < state.segments.count {
            // What recovery kept may be only in the page cache (the process died, not the machine) and the
            // recovery point checkpoint may lag behind what was flushed: make it durable now, so the recovery point
            // is the log end and nothing recovered is rescanned (or cut by a later failed flush) again.
            do throws(FileSystemError) {
                for segment in state.segments[recoverFrom...] {
                    try segment.flush()
                    try segment.offsetIndex.storage.file.sync()
                    try segment.timeIndex.storage.file.sync()
                }
                try fileSystem.syncDirectory(directory)
            } catch {
                throw .io(error)
            }
            state.recoveryPoint = state.logEndOffset
        }
        try rebuildProducerState(&state)
        state.producerState.removeExpired(nowMs: now, expirationMs: config.producerIdExpirationMs)
        if !report.truncations.isEmpty || report.segmentsRecovered > 0 {
            logger.info("\(directory): \(report.segmentsRecovered) segments recovered, log end offset \(state.logEndOffset)")
        }
        let log = Log(
            directory: directory, topicPartition: topicPartition, fileSystem: fileSystem, clock: clock, logger: logger,
            appendObserver: appendObserver, state: state)
        log.openReport = report
        return log
    }

    private static func ensureIndexesLoadedAtOpen(
        _ segment: LogSegment, nextOffset: Int64, config: LogConfig, logger: Logger, report: inout LogOpenReport
    ) throws(LogError) {
        guard !segment.indexesLoaded else { return }
        do {
            try segment.loadIndexes(nextOffset: nextOffset)
        } catch {
            logger.warning("\(error); rebuilding the indexes of \(segment.path("log"))")
            report.indexesRebuilt.append(segment.path("log"))
            _ = try segment.recover(indexIntervalBytes: config.indexIntervalBytes)
        }
    }

    /// Deletes `.deleted` and `.cleaned` files and orphaned indexes, completes interrupted swaps, and returns the
    /// base offsets of the live segments.
    ///
    /// This matches the cleaner's swap protocol (`Log.replaceSegments`): a cleaned group is written as
    /// `<base>.log.cleaned` (+ indexes), renamed `.swap` (the log first: the commit point), the replaced segments
    /// are renamed `.deleted`, then the swap files get their live names. A `.cleaned` file means the swap never
    /// committed: it goes, the old segments stay. A `<base>.log.swap` means it did: every live segment whose base
    /// lies in [base, the swap's next offset) is one it replaces (the cleaner always keeps a group's last batch,
    /// so that range covers the whole group) and goes; the swap gets its live name; its indexes are rebuilt.
    static func resolveLeftovers(
        directory: String, fileSystem: any FileSystem, report: inout LogOpenReport
    ) throws(LogError) -> [Int64] {
        let names: [String]
        do { names = try fileSystem.listDirectory(directory) } catch { throw .io(error) }
        let path = { (name: String) in directory + "/" + name }
        var logs = Set<Int64>()
        var swaps: [Int64] = []
        do {
            for name in names {
                if name.hasSuffix(".deleted") || name.hasSuffix(".cleaned") {
                    try fileSystem.removeFile(path(name))
                    report.leftoversResolved.append(name)
                } else if name.hasSuffix(".log.swap"), let base = LogSegment.baseOffset(fromFileName: String(name.dropLast(5))) {
                    swaps.append(base)
                } else if let base = LogSegment.baseOffset(fromFileName: name) {
                    logs.insert(base)
                }
            }
            // A swap file is a cleaned group that was about to replace the segments in its offset range: finish the
            // job (remove those segments, give the swap its real name). Its indexes are rebuilt.
            for base in swaps.sorted() {
                let swapLog = path(LogSegment.fileName(base, "log") + ".swap")
                let file = try fileSystem.openFile(swapLog, create: false)
                var scanner = BatchHeaderScanner(file: file, from: 0, end: try file.size())
                var next = base
                while let (header, _) = try scanner.next() { next = header.nextOffset }
                for covered in logs where covered >= base && covered < max(next, base + 1) {
                    for ext in ["log", "index", "timeindex"] { try fileSystem.removeFile(path(LogSegment.fileName(covered, ext))) }
                    logs.remove(covered)
                    report.leftoversResolved.append("\(LogSegment.fileName(covered, "log")) (replaced by swap)")
                }
                try fileSystem.rename(swapLog, to: path(LogSegment.fileName(base, "log")))
                for ext in ["index", "timeindex"] {
                    try fileSystem.removeFile(path(LogSegment.fileName(base, ext) + ".swap"))
                    try fileSystem.removeFile(path(LogSegment.fileName(base, ext)))
                }
                logs.insert(base)
                report.leftoversResolved.append(LogSegment.fileName(base, "log") + ".swap")
            }
            // Index `.swap` files without their log's `.swap` (a crash between renaming a cleaned segment's log
            // and its indexes, either way round): the indexes are rebuilt from the log.
            for name in names where name.hasSuffix(".index.swap") || name.hasSuffix(".timeindex.swap") {
                if fileSystem.fileExists(path(name)) {
                    try fileSystem.removeFile(path(name))
                    report.leftoversResolved.append(name)
                }
            }
            // Index files whose log is gone.
            for name in names {
                for ext in ["index", "timeindex"] {
                    if let base = LogSegment.baseOffset(fromFileName: name, ext: ext), !logs.contains(base),
                        fileSystem.fileExists(path(name))
                    {
                        try fileSystem.removeFile(path(name))
                        report.leftoversResolved.append(name)
                    }
                }
            }
            try fileSystem.syncDirectory(directory)
        } catch let error as FileSystemError {
            throw .io(error)
        } catch let error as LogError {
            throw error
        } catch {
            preconditionFailure("\(error)")
        }
        return Array(logs)
    }
}
