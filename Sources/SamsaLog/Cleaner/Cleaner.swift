import Logging

/// Cleans one compacted log at a time (Kafka's `Cleaner`): one cleaner thread owns one of these, with its
/// offset map and I/O buffers, so its memory is fixed whatever the log holds.
///
/// A cleaning has two passes:
/// 1. **Map** the dirty section (from the clean point to the first uncleanable segment): every batch's CRC is
///    checked, and for every keyed record its key's 16-byte digest -> its offset goes in a `SkimpyOffsetMap`.
///    When the map reaches its load factor the pass stops there: `latestOffset` says how far it got, and only
///    that far is cleaned. At the end, `OffsetStates` learns which offsets are still their key's latest.
/// 2. **Rewrite** every segment from the log's first up to that point, grouped so that a group fits one
///    segment (`segment.bytes`, index sizes, offsets within 2^31 of the base), into one `<base>.log.cleaned` per
///    group, keeping a record when it is past the map, or is its key's latest and is not a tombstone past its
///    delete horizon; then swap the group for it (`Log.replaceSegments`). Runs of superseded offsets are
///    stepped over unread (the offset index says where the next record that stays begins), and a batch of
///    superseded records is dropped without being walked: the map pass has already read and checked them.
///
/// Offsets never change: a batch keeps its base offset and last offset delta, even when its first or last
/// records go. A batch whose records all stay is copied byte for byte; otherwise its kept records are copied
/// (re-encoded only when the batch gets a delete horizon) into a batch with the same codec, producer id,
/// epoch, sequence and flags. Control batches are kept whole.
///
/// Tombstones: the first cleaning that keeps a tombstone stamps its batch with a delete horizon (now +
/// `delete.retention.ms`, attribute bit 6, carried in the base timestamp); a cleaning after the horizon drops
/// it. Records without a key cannot be compacted and are dropped (Kafka counts them as invalid).
///
/// Not thread-safe: one thread uses a cleaner at a time (they are pooled by `LogCleaner`).
final class Cleaner: @unchecked Sendable {
    let id: Int
    let config: CleanerConfig
    let offsetMap: SkimpyOffsetMap
    /// What the map pass learned of each dirty offset, so the rewrite pass hashes and probes only the rest (and
    /// drops a batch of superseded records unread).
    let offsetStates: OffsetStates
    let throttler: Throttler
    let logger: Logger
    /// Checked between batches: the cleaner is stopping.
    let shouldStop: @Sendable () -> Bool
    let ioBufferSize: Int

    private var readBuffer: [UInt8]
    private var filter = BatchFilter()
    private let mapper = RecordMapper()
    private var transactions = TransactionIndex()
    /// The producers' last batches' last offsets after the map pass, ascending (batches the rewrite pass must
    /// read), and the first of them not yet behind the rewrite pass (which only moves forward).
    private var producerLastOffsets: [Int64] = []
    private var nextProducerLast = 0

    init(
        id: Int, config: CleanerConfig, throttler: Throttler, logger: Logger,
        shouldStop: @escaping @Sendable () -> Bool = { false }
    ) {
        self.id = id
        self.config = config
        self.offsetMap = SkimpyOffsetMap(memory: config.offsetMapMemoryPerThread)
        // Two bits per offset: an eighth of the map's memory on top of it, at most 16 MiB (64 Mi offsets).
        self.offsetStates = OffsetStates(maxOffsets: min(64 << 20, config.offsetMapMemoryPerThread / 2))
        self.throttler = throttler
        self.logger = logger
        self.shouldStop = shouldStop
        self.ioBufferSize = config.ioBufferSizePerThread
        self.readBuffer = [UInt8](repeating: 0, count: config.ioBufferSizePerThread)
        precondition(
            Double(offsetMap.maxSlots) * config.dedupeBufferLoadFactor > 1,
            "the offset map is too small to hold one key: raise log.cleaner.dedupe.buffer.size")
    }

    /// The most keys the map takes before the pass stops.
    var maxDesiredMapSize: Int { Int(Double(offsetMap.maxSlots) * config.dedupeBufferLoadFactor) }

    // MARK: One cleaning

    /// Cleans `log` from `toClean.firstDirtyOffset` (as far as the offset map reaches) at time `now`.
    func clean(_ log: Log, _ toClean: LogToClean, now: Int64) throws(CleanerError) -> CleanerStats {
        let started = monotonicNanos()
        let sleptBefore = throttler.sleptNanos
        var stats = CleanerStats()
        stats.topicPartition = log.topicPartition
        stats.firstDirtyOffset = toClean.firstDirtyOffset
        stats.dirtyRatioBefore = toClean.cleanableRatio
        let (segments, config) = try wrap { () throws(LogError) in try log.cleanerSnapshot() }
        stats.segmentsBefore = segments.count
        stats.sizeBefore = segments.reduce(0) { $0 + $1.size }
        let nonActive = segments.dropLast()

        // 1. Map the dirty section.
        try buildOffsetMap(
            log, Array(nonActive), from: toClean.firstDirtyOffset, to: toClean.firstUncleanableOffset, stats: &stats)
        let endOffset = offsetMap.latestOffset + 1
        producerLastOffsets = transactions.producerLast.values.sorted()
        nextProducerLast = 0
        stats.bufferUtilization = offsetMap.utilization
        stats.offsetMapBytes = Int64(offsetMap.peakSlots * SkimpyOffsetMap.bytesPerEntry)
        stats.mapElapsedSeconds = Double(monotonicNanos() - started) / 1e9
        if endOffset <= toClean.firstDirtyOffset && stats.mapFilled {
            throw .offsetMapTooSmall(slots: offsetMap.maxSlots, offset: toClean.firstDirtyOffset)
        }
        logger.debug(
            "cleaner \(id): \(log.directory): offset map of \(offsetMap.size) keys over [\(toClean.firstDirtyOffset), \(endOffset))")

        // 2. Rewrite the segments below the map's end, group by group.
        let groups = Self.groupSegmentsBySize(
            nonActive.filter { $0.baseOffset < endOffset }, maxSize: Int64(config.segmentBytes),
            maxIndexSize: Int64(config.segmentIndexBytes))
        var earliestHorizon: Int64?
        for group in groups {
            let horizon = try cleanSegments(log, group, config: config, now: now, stats: &stats)
            if let horizon { earliestHorizon = min(earliestHorizon ?? .max, horizon) }
        }
        stats.endOffset = endOffset
        stats.elapsedSeconds = Double(monotonicNanos() - started) / 1e9
        stats.throttledSeconds = Double(throttler.sleptNanos - sleptBefore) / 1e9
        stats.endedAtMs = log.clock()
        if let after = try? log.logToClean(lastCleanOffset: endOffset, now: now) {
            stats.dirtyRatioAfter = after.cleanableRatio
        }
        stats.sizeAfter = log.size
        stats.segmentsAfter = log.segmentCount
        log.recordCleaning(stats, earliestDeleteHorizonMs: earliestHorizon)
        // Replaced segments whose file.delete.delay.ms is 0 go now; the others when the manager's pass finds them due.
        do { try log.removeDeletedSegmentFiles() } catch { logger.warning("\(log.directory): \(error)") }
        return stats
    }

    private func wrap<T>(_ body: () throws(LogError) -> T) throws(CleanerError) -> T {
        do { return try body() } catch { throw .log(error) }
    }

    // MARK: Pass 1: the offset map

    /// Maps keys to their latest offsets over the non-active segments holding [from, to), stopping early when
    /// the map is full. Afterwards `offsetMap.latestOffset` is the last offset fully considered.
    func buildOffsetMap(
        _ log: Log, _ segments: [SegmentSnapshot], from start: Int64, to end: Int64, stats: inout CleanerStats
    ) throws(CleanerError) {
        offsetMap.clear()
        offsetMap.latestOffset = start - 1
        offsetStates.reset(base: start, span: end - start)
        transactions.clear()
        // However the pass ends, the states learn which put offsets are still their key's latest.
        defer { offsetStates.markLatest(in: offsetMap) }
        let dirty = segments.filter { $0.nextOffset > start && $0.baseOffset < end }
        for (k, snapshot) in dirty.enumerated() {
            let position = k == 0 ? try wrap { () throws(LogError) in try log.cleanerStartPosition(snapshot.segment, offset: start) } : 0
            let full = try mapSegment(snapshot, from: position, startOffset: start, stats: &stats)
            if full {
                stats.mapFilled = true
                logger.debug("cleaner \(id): offset map full in segment \(snapshot.baseOffset) at \(offsetMap.latestOffset)")
                return
            }
            // Offsets in a gap at the segment's end (left by an earlier cleaning) are covered too.
            offsetMap.updateLatestOffset(snapshot.nextOffset - 1)
        }
    }

    /// Maps one segment's records; returns true when the map filled up before its end.
    private func mapSegment(
        _ snapshot: SegmentSnapshot, from position: Int64, startOffset: Int64, stats: inout CleanerStats
    ) throws(CleanerError) -> Bool {
        let maxSize = maxDesiredMapSize
        let map = offsetMap
        let states = offsetStates
        let path = snapshot.segment.log.path
        var full = false
        try forEachBatch(snapshot, from: position) { (batch, at) throws(CleanerError) -> Bool in
            // Checked here, before anything is written: the rewrite pass drops superseded batches unread.
            try verifyChecksum(batch, file: path, position: at)
            stats.mapBytesRead += Int64(batch.sizeInBytes)
            stats.mapMessagesRead += Int64(batch.recordCount)
            let producerId = batch.producerId
            if batch.isControl {
                try mapControlBatch(batch, path: path, position: at)
            } else if batch.isTransactional && producerId >= 0 {
                transactions.onTransactionalBatch(producerId: producerId, baseOffset: batch.baseOffset)
                if try mapTransactionalBatch(batch, startOffset: startOffset, maxSize: maxSize, path: path, position: at) {
                    full = true
                    return true
                }
            } else {
                // The common case, kept tight: keys straight into the map, the budget checked per record.
                let budget = maxSize - transactions.entryCount
                let base = batch.baseOffset
                let count = Int(batch.recordCount)
                let outcome = try filter.withRecordsSection(batch, file: path, position: at) { (section) -> MapOutcome in
                    mapper.mapRecords(
                        section, count: count, baseOffset: base, startOffset: startOffset, map: map, states: states,
                        budget: budget)
                }
                switch outcome {
                case .done: break
                case .full:
                    full = true
                    return true
                case .corrupt(let index, let recordPosition):
                    throw .log(
                        .corruptBatch(
                            file: path, position: at,
                            reason: .corruptRecord(index: index, position: recordPosition, reason: "malformed record")))
                }
            }
            transactions.onBatch(producerId: producerId, lastOffset: batch.lastOffset)
            if batch.lastOffset >= startOffset { map.updateLatestOffset(batch.lastOffset) }
            return false
        }
        return full
    }

    enum MapOutcome {
        case done
        case full
        case corrupt(index: Int, position: Int)
    }

    /// The map pass's inner loop, with its reused scratch.
    final class RecordMapper {
        /// The batch's keyed records, written in place (grown to the largest batch seen, never shrunk; raw
        /// allocations, so the loop below keeps its cursors in registers): each key's span in the section (start,
        /// count), its digest (two words) and its offset.
        private var spans = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
        private var digests = UnsafeMutablePointer<UInt64>.allocate(capacity: 0)
        private var offsets = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
        private var capacity = 0

        deinit {
            spans.deallocate()
            digests.deallocate()
            offsets.deallocate()
        }

        /// Puts every keyed record at or past `startOffset` into the map, stopping when it holds `budget` keys.
        /// The batch's keys are located first, then digested together (their AES rounds interleave), then their
        /// slots touched (the map's cache misses overlap), then put.
        func mapRecords(
            _ section: UnsafeRawBufferPointer, count: Int, baseOffset: Int64, startOffset: Int64, map: SkimpyOffsetMap,
            states: OffsetStates, budget: Int
        ) -> MapOutcome {
            // No more slots than records the section could hold, whatever count the header claims.
            let most = min(count, section.count / Record.minimumSize + 1)
            if capacity < most {
                spans.deallocate()
                digests.deallocate()
                offsets.deallocate()
                spans = .allocate(capacity: 2 * most)
                digests = .allocate(capacity: 2 * most)
                offsets = .allocate(capacity: most)
                capacity = most
            }
            let (spans, digests, offsets) = (self.spans, self.digests, self.offsets)
            var mapped = 0
            var p = 0
            for i in 0..<count {
                guard let record = RawRecord.locate(section, at: p) else { return .corrupt(index: i, position: p) }
                p = record.end
                guard record.keyStart >= 0 else { continue }
                let offset = baseOffset &+ Int64(record.offsetDelta)
                guard offset >= startOffset else { continue }
                // At most `most` keyed records: each took at least `Record.minimumSize` bytes of the section.
                precondition(mapped < most, "more keyed records than the section holds")
                spans[2 &* mapped] = Int64(record.keyStart)
                spans[2 &* mapped &+ 1] = Int64(record.keyCount)
                offsets[mapped] = offset
                mapped &+= 1
            }
            guard p == section.count else { return .corrupt(index: count, position: p) }
            guard mapped > 0 else { return .done }
            map.digests(section, spans: spans, count: mapped, into: digests)
            map.touch((0..<mapped).lazy.map { KeyDigest(low: digests[2 &* $0], high: digests[2 &* $0 &+ 1]) })
            for j in 0..<mapped {
                if map.size >= budget { return .full }
                map.put(KeyDigest(low: digests[2 &* j], high: digests[2 &* j &+ 1]), offset: offsets[j])
                states.notePut(offsets[j])
            }
            return .done
        }
    }

    /// A transaction marker: a COMMIT hands its transaction's records to the map, an ABORT marks them aborted.
    private func mapControlBatch(_ batch: RecordBatch, path: String, position at: Int64) throws(CleanerError) {
        guard batch.recordCount > 0 else { return }
        let map = offsetMap
        let states = offsetStates
        let producerId = batch.producerId
        let marker = try filter.withRecordsSection(batch, file: path, position: at) { (section) -> (Int16, Int64)? in
            guard let record = RawRecord.locate(section, at: 0), record.keyStart >= 0, record.keyCount >= 4 else { return nil }
            let key = UnsafeRawBufferPointer(rebasing: section[record.keyStart..<(record.keyStart + record.keyCount)])
            return (key.loadBigEndian(at: 2, as: Int16.self), batch.baseOffset + Int64(record.offsetDelta))
        }
        guard let (type, offset) = marker else {
            throw .log(.corruptBatch(file: path, position: at, reason: .invalidControlRecord(reason: "no control record key")))
        }
        switch type {
        case ControlRecord.Kind.commit.rawValue:
            transactions.onCommit(producerId: producerId) { digest, offset in
                map.put(digest, offset: offset)
                states.notePut(offset)
            }
        case ControlRecord.Kind.abort.rawValue:
            transactions.onAbort(producerId: producerId, markerOffset: offset)
        default: break
        }
    }

    /// A batch of an open transaction: its keys wait for the marker. Returns true when the budget ran out.
    private func mapTransactionalBatch(
        _ batch: RecordBatch, startOffset: Int64, maxSize: Int, path: String, position at: Int64
    ) throws(CleanerError) -> Bool {
        let map = offsetMap
        let base = batch.baseOffset
        let producerId = batch.producerId
        var found: [(KeyDigest, Int64)] = []
        var full = false
        let budget = maxSize - map.size - transactions.entryCount
        let count = Int(batch.recordCount)
        try filter.withRecordsSection(batch, file: path, position: at) { (section) throws(CleanerError) in
            var p = 0
            for i in 0..<count {
                guard let record = RawRecord.locate(section, at: p) else {
                    throw .log(.corruptBatch(file: path, position: at, reason: .corruptRecord(index: i, position: p, reason: "malformed record")))
                }
                p = record.end
                guard let key = record.key(in: section) else { continue }
                let offset = base + Int64(record.offsetDelta)
                guard offset >= startOffset else { continue }
                if found.count >= budget {
                    full = true
                    return
                }
                found.append((map.digest(key), offset))
            }
        }
        for (digest, offset) in found { transactions.addPending(producerId: producerId, digest: digest, offset: offset) }
        return full
    }

    // MARK: Pass 2: rewriting

    /// Cleans one group of segments into a `.cleaned` segment and swaps it in. Returns the earliest delete
    /// horizon among the batches written that still hold tombstones.
    private func cleanSegments(
        _ log: Log, _ group: [SegmentSnapshot], config: LogConfig, now: Int64, stats: inout CleanerStats
    ) throws(CleanerError) -> Int64? {
        let observer = self.config.phaseObserver
        let destination: LogSegment
        do {
            destination = try LogSegment.create(
                directory: log.directory, baseOffset: group[0].baseOffset, config: config, fileSystem: log.fileSystem,
                nowMs: now, suffix: ".cleaned")
        } catch {
            throw .log(.io(error))
        }
        var swapped = false
        defer {
            // An abandoned cleaning leaves nothing behind (only files still named `.cleaned`).
            if !swapped && destination.suffix == ".cleaned" { try? destination.removeFiles() }
        }
        filter.horizon = nil
        filter.deleteRetentionMs = config.deleteRetentionMs
        filter.now = now
        var reportedPartial = false
        let mappedFrom = offsetStates.base
        let mappedThrough = offsetMap.latestOffset
        for (k, snapshot) in group.enumerated() {
            let lastSegment = k == group.count - 1
            // Records the skip leaves unread, counted when the batch it lands on is read.
            var skippedFrom: Int64?
            try forEachBatch(snapshot, from: 0, skip: { (position, nextOffset) throws(CleanerError) -> Int64? in
                guard let target = try self.skipSuperseded(log, snapshot, from: position, nextOffset: nextOffset) else { return nil }
                stats.bytesRead += target - position
                stats.bytesSkipped += target - position
                skippedFrom = nextOffset
                return target
            }) { (batch, at) throws(CleanerError) -> Bool in
                let lastOfGroup = lastSegment && at + Int64(batch.sizeInBytes) == snapshot.size
                if let from = skippedFrom {
                    stats.messagesRead += batch.baseOffset - from
                    skippedFrom = nil
                }
                // The map pass checked the batches it read; the others (the clean section, past the map) here.
                if batch.lastOffset < mappedFrom || batch.lastOffset > mappedThrough {
                    try verifyChecksum(batch, file: snapshot.segment.log.path, position: at)
                }
                try filter.filter(
                    batch, map: offsetMap, states: offsetStates, transactions: transactions, keepIfEmptied: lastOfGroup,
                    file: snapshot.segment.log.path, position: at, stats: &stats)
                if filter.output.count >= ioBufferSize {
                    try flush(into: destination, indexIntervalBytes: config.indexIntervalBytes, stats: &stats)
                    if !reportedPartial {
                        reportedPartial = true
                        observer?(.cleanedPartial)
                    }
                }
                return false
            }
        }
        try flush(into: destination, indexIntervalBytes: config.indexIntervalBytes, stats: &stats)
        if !reportedPartial { observer?(.cleanedPartial) }
        guard destination.size > 0 else { return nil }  // the group held no batch at all
        do throws(FileSystemError) {
            try destination.onBecomeInactive()
            try destination.flush()
            try destination.offsetIndex.storage.file.sync()
            try destination.timeIndex.storage.file.sync()
        } catch {
            throw .log(.io(error))
        }
        observer?(.cleanedWritten)
        let replaced = try wrap { () throws(LogError) in try log.replaceSegments(group, with: destination, observer: observer) }
        guard replaced else { throw .aborted(reason: "the log changed while segment \(group[0].baseOffset) was cleaned") }
        swapped = true
        stats.groupsCleaned += 1
        let first = LogSegment.fileName(group[0].baseOffset, "log")
        logger.debug("cleaner \(id): \(log.directory): swapped \(first) in for \(group.count) segments")
        return filter.horizon
    }

    /// Where the rewrite pass may go on reading `snapshot` instead of `position`, whose next batch starts at or
    /// after `nextOffset`: the indexed batch at or below the first offset that is not superseded (or is a
    /// producer's last batch, which stays as a header). Every batch before it holds only superseded offsets, so
    /// it keeps nothing and is not read. Nil when there is nothing worth skipping.
    private func skipSuperseded(
        _ log: Log, _ snapshot: SegmentSnapshot, from position: Int64, nextOffset: Int64
    ) throws(CleanerError) -> Int64? {
        guard nextOffset >= offsetStates.base, nextOffset <= offsetMap.latestOffset else { return nil }
        var stop = min(offsetStates.firstNotSuperseded(from: nextOffset), offsetMap.latestOffset + 1)
        while nextProducerLast < producerLastOffsets.count && producerLastOffsets[nextProducerLast] < nextOffset {
            nextProducerLast += 1
        }
        if nextProducerLast < producerLastOffsets.count { stop = min(stop, producerLastOffsets[nextProducerLast]) }
        // Less than a read's worth of records ahead: reading them costs less than asking the index.
        guard stop - nextOffset >= 1024 else { return nil }
        let target = try wrap { () throws(LogError) in try log.cleanerStartPosition(snapshot.segment, offset: stop) }
        return target > position && target < snapshot.size ? target : nil
    }

    private func flush(into segment: LogSegment, indexIntervalBytes: Int, stats: inout CleanerStats) throws(CleanerError) {
        guard !filter.output.isEmpty else { return }
        let batches = filter.appended
        do {
            try filter.output.withBytes { (bytes) throws(FileSystemError) in
                try segment.append(parts: [bytes], batches: batches, indexIntervalBytes: indexIntervalBytes)
            }
        } catch {
            throw .log(.io(error))
        }
        stats.bytesWritten += Int64(filter.output.count)
        throttler.maybeThrottle(filter.output.count)
        filter.output.removeAll(keepingCapacity: true)
        filter.appended.removeAll(keepingCapacity: true)
    }

    // MARK: Reading batches

    /// The batch's CRC, or the corruption named by file and position.
    private func verifyChecksum(_ batch: RecordBatch, file: String, position: Int64) throws(CleanerError) {
        do throws(RecordBatchError) { try batch.verifyChecksum() } catch {
            throw .log(.corruptBatch(file: file, position: position, reason: error))
        }
    }

    /// Calls `body` with each whole batch of `snapshot` from `start` (and its file position), reading through the
    /// read buffer (grown for a batch larger than it, then shrunk back). `body` returns true to stop.
    private func forEachBatch(
        _ snapshot: SegmentSnapshot, from start: Int64,
        skip: (_ position: Int64, _ nextOffset: Int64) throws(CleanerError) -> Int64? = { _, _ in nil },
        _ body: (RecordBatch, Int64) throws(CleanerError) -> Bool
    ) throws(CleanerError) {
        let file = snapshot.segment.log
        let end = snapshot.size
        var position = start
        // A lower bound on the next batch's base offset, for `skip`.
        var nextOffset = snapshot.baseOffset
        defer { if readBuffer.count > ioBufferSize { readBuffer = [UInt8](repeating: 0, count: ioBufferSize) } }
        while end - position >= Int64(RecordBatch.headerSize) {
            if shouldStop() { throw .aborted(reason: "the cleaner is stopping") }
            if let target = try skip(position, nextOffset) {
                precondition(target > position && target < end, "a skip moves forward within the segment")
                position = target
            }
            let want = Int(min(Int64(readBuffer.count), end - position))
            let chunkStart = position
            do throws(FileSystemError) {
                let n = try readBuffer.withMutableBytes { (buffer) throws(FileSystemError) in
                    try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: chunkStart)
                }
                guard n == want else { throw FileSystemError.shortRead(path: file.path, offset: chunkStart, wanted: want, got: n) }
            } catch {
                throw .log(.io(error))
            }
            throttler.maybeThrottle(want)
            var consumed = 0
            var stop = false
            var needed = 0
            try readBuffer.withBytes { (buffer) throws(CleanerError) in
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<want])
                while chunk.count - consumed >= RecordBatch.headerSize {
                    let rest = UnsafeRawBufferPointer(rebasing: chunk[consumed...])
                    let at = chunkStart + Int64(consumed)
                    let size: Int
                    do throws(RecordBatchError) { size = try RecordBatch.size(ofBatchAt: rest, maxBatchSize: Int(Int32.max)) } catch {
                        throw .log(.corruptBatch(file: file.path, position: at, reason: error))
                    }
                    guard size <= rest.count else {
                        needed = size
                        break
                    }
                    let batch: RecordBatch
                    do throws(RecordBatchError) { batch = try RecordBatch(validatingHeaderOf: rest, maxBatchSize: size) } catch {
                        throw .log(.corruptBatch(file: file.path, position: at, reason: error))
                    }
                    if try body(batch, at) {
                        stop = true
                        return
                    }
                    nextOffset = batch.lastOffset + 1
                    consumed += size
                }
            }
            if stop { return }
            if consumed == 0 {
                // One batch larger than the buffer: grow it to hold the batch (which must fit in the segment).
                guard needed > 0, Int64(needed) <= end - position else {
                    throw .log(
                        .corruptBatch(
                            file: file.path, position: position,
                            reason: .truncated(needed: max(needed, RecordBatch.headerSize), available: Int(end - position))))
                }
                readBuffer = [UInt8](repeating: 0, count: needed)
                continue
            }
            position += Int64(consumed)
        }
    }

    // MARK: Grouping

    /// Kafka's `groupSegmentsBySize`: consecutive segments whose logs together fit `maxSize`, whose indexes
    /// together fit `maxIndexSize`, and whose offsets stay within 2^31 of the group's base (the index stores
    /// offsets relative to it). An empty segment joins any group.
    static func groupSegmentsBySize(
        _ segments: [SegmentSnapshot], maxSize: Int64, maxIndexSize: Int64
    ) -> [[SegmentSnapshot]] {
        var groups: [[SegmentSnapshot]] = []
        var i = 0
        while i < segments.count {
            var group = [segments[i]]
            var logSize = segments[i].size
            var indexSize = segments[i].offsetIndexBytes
            var timeIndexSize = segments[i].timeIndexBytes
            i += 1
            while i < segments.count {
                let next = segments[i]
                let fits =
                    logSize + next.size <= maxSize && indexSize + next.offsetIndexBytes <= maxIndexSize
                    && timeIndexSize + next.timeIndexBytes <= maxIndexSize
                    && (next.size == 0 || next.nextOffset - 1 - group[0].baseOffset <= Int64(Int32.max))
                guard fits else { break }
                group.append(next)
                logSize += next.size
                indexSize += next.offsetIndexBytes
                timeIndexSize += next.timeIndexBytes
                i += 1
            }
            groups.append(group)
        }
        return groups
    }
}
