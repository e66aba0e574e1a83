/// Rewrites one batch keeping only the records the cleaner retains (Kafka's `MemoryRecords.filterTo` for one
/// batch), appending the result to `output`. Its buffers are reused from batch to batch: no allocation per
/// record, none per batch once they have grown.
///
/// What comes out for a batch:
/// - a control batch: the batch, byte for byte;
/// - every record kept, no new delete horizon: the batch, byte for byte;
/// - some records kept: a batch with the same base offset, last offset delta, codec, producer id / epoch /
///   base sequence, leader epoch and flags, holding the kept records (their bytes copied; re-encoded only when
///   the batch gets a delete horizon, which changes their timestamp deltas), with a new record count, max
///   timestamp and CRC;
/// - no record kept: nothing, or an empty batch header when the batch must stay (the last of its group, or the
///   last of its producer: it carries the producer's last sequence), as Kafka's `writeEmptyHeader` writes it.
struct BatchFilter {
    /// Batches written, back to back, and what the segment's indexes need of each.
    var output: [UInt8] = []
    var appended: [LogSegment.AppendedBatch] = []
    /// The cleaning's clock and `delete.retention.ms`: a batch that keeps a tombstone and has no delete horizon
    /// gets `now + deleteRetentionMs`; a tombstone whose batch's horizon is at or before `now` goes.
    var now: Int64 = 0
    var deleteRetentionMs: Int64 = 0
    /// The earliest delete horizon among the batches written that still hold tombstones.
    var horizon: Int64?

    private var decompressed: [UInt8] = []
    private var records: [UInt8] = []
    private var retained: [RawRecord] = []
    private var located: [RawRecord] = []
    private var digests: [KeyDigest] = []

    /// Calls `body` with the batch's records section, decompressed into a reused buffer when the batch is
    /// compressed.
    mutating func withRecordsSection<R>(
        _ batch: RecordBatch, file: String, position: Int64,
        _ body: (UnsafeRawBufferPointer) throws(CleanerError) -> R
    ) throws(CleanerError) -> R {
        guard let codec = batch.compression else {
            throw .log(.corruptBatch(file: file, position: position, reason: .unknownCompression(codecBits: Int(batch.attributes & 7))))
        }
        if codec == .none { return try body(batch.recordsSection) }
        decompressed.removeAll(keepingCapacity: true)
        do {
            try Compression.decompress(
                batch.recordsSection, codec: codec, limit: RecordBatch.defaultMaxDecompressedSize, into: &decompressed)
        } catch {
            throw .log(.corruptBatch(file: file, position: position, reason: .decompression(error)))
        }
        return try decompressed.withBytes(body)
    }

    /// Appends what is left of `batch` after cleaning to `output`.
    mutating func filter(
        _ batch: RecordBatch, map: SkimpyOffsetMap, states: OffsetStates, transactions: TransactionIndex,
        keepIfEmptied: Bool, file: String, position: Int64, stats: inout CleanerStats
    ) throws(CleanerError) {
        stats.bytesRead += Int64(batch.sizeInBytes)
        let count = Int(batch.recordCount)
        stats.messagesRead += Int64(count)
        if batch.isControl {
            // Transaction markers stay (Kafka drops one only once its transaction is gone and its horizon passed).
            copy(batch)
            stats.messagesWritten += Int64(count)
            return
        }
        let keepEmpty =
            keepIfEmptied || transactions.isLastBatchOfProducer(producerId: batch.producerId, lastOffset: batch.lastOffset)
        if batch.isTransactional && transactions.isAborted(producerId: batch.producerId, offset: batch.baseOffset) {
            if keepEmpty { writeEmptyHeader(of: batch) }
            return
        }
        // Every record superseded (the map pass walked them all, so their framing was checked there): nothing
        // to inflate or walk.
        if batch.lastOffset <= map.latestOffset && states.allSuperseded(batch.baseOffset, batch.lastOffset) {
            if keepEmpty { writeEmptyHeader(of: batch) }
            return
        }
        guard let codec = batch.compression else {
            throw .log(.corruptBatch(file: file, position: position, reason: .unknownCompression(codecBits: Int(batch.attributes & 7))))
        }
        if codec == .none {
            try filterRecords(
                batch, section: batch.recordsSection, map: map, states: states, keepEmpty: keepEmpty, file: file,
                position: position, stats: &stats)
            return
        }
        decompressed.removeAll(keepingCapacity: true)
        do {
            try Compression.decompress(
                batch.recordsSection, codec: codec, limit: RecordBatch.defaultMaxDecompressedSize, into: &decompressed)
        } catch {
            throw .log(.corruptBatch(file: file, position: position, reason: .decompression(error)))
        }
        // A second reference to the buffer keeps the section alive while `self` is written to.
        let section = decompressed
        try section.withBytes { (bytes) throws(CleanerError) in
            try filterRecords(
                batch, section: bytes, map: map, states: states, keepEmpty: keepEmpty, file: file, position: position,
                stats: &stats)
        }
    }

    /// Decides record by record, then writes the batch (copied, rewritten, empty, or nothing).
    private mutating func filterRecords(
        _ batch: RecordBatch, section: UnsafeRawBufferPointer, map: SkimpyOffsetMap, states: OffsetStates,
        keepEmpty: Bool, file: String, position: Int64, stats: inout CleanerStats
    ) throws(CleanerError) {
        let count = Int(batch.recordCount)
        let base = batch.baseOffset
        let latest = map.latestOffset
        let hasHorizon = batch.hasDeleteHorizon
        let horizonPassed = hasHorizon && now >= batch.baseTimestamp
        var tombstones = false
        var expiredTombstones: Int64 = 0
        var withoutKey: Int64 = 0
        retained.removeAll(keepingCapacity: true)
        /// Keeps `record` (past the map, or its key's latest and not a tombstone past its horizon) or not.
        func decide(_ record: RawRecord, offset: Int64, superseded: () -> Bool) {
            let keep: Bool
            if offset > latest {
                keep = true  // past the map: not considered by this cleaning
            } else if record.keyStart < 0 {
                keep = false
                withoutKey += 1
            } else if superseded() {
                keep = false  // a later record has this key
            } else if record.hasValue {
                keep = true
            } else {
                keep = !horizonPassed
                if !keep { expiredTombstones += 1 }
            }
            if keep {
                retained.append(record)
                if !record.hasValue { tombstones = true }
            }
        }
        func locate(_ p: inout Int, _ i: Int) throws(CleanerError) -> RawRecord {
            do { return try RawRecord.locate(section, at: &p, index: i) } catch {
                throw .log(.corruptBatch(file: file, position: position, reason: error))
            }
        }
        var p = 0
        // Every offset's state known from the map pass (the common case in the dirty section): one walk, deciding
        // as it goes. A record whose offset turns out not to be known sends the batch down the general path.
        var decided = batch.lastOffset <= latest && states.allPut(base, batch.lastOffset)
        if decided {
            for i in 0..<count {
                let record = try locate(&p, i)
                let offset = base + Int64(record.offsetDelta)
                let state = states.state(offset)
                guard state != .unknown, record.keyStart >= 0 else {
                    decided = false
                    break
                }
                decide(record, offset: offset) { state == .superseded }
            }
            if !decided {
                retained.removeAll(keepingCapacity: true)
                (tombstones, expiredTombstones, withoutKey, p) = (false, 0, 0, 0)
            }
        }
        if !decided {
            // First every record's place and, where the map pass left its offset's state unknown, its key's
            // digest, touching the digests' slots so that the map's cache misses overlap; then the decisions.
            located.removeAll(keepingCapacity: true)
            digests.removeAll(keepingCapacity: true)
            for i in 0..<count {
                let record = try locate(&p, i)
                located.append(record)
                let offset = base + Int64(record.offsetDelta)
                if let key = record.key(in: section), offset <= latest, states.state(offset) == .unknown {
                    digests.append(map.digest(key))
                }
            }
            digests.withUnsafeBufferPointer { map.touch($0) }
            var nextDigest = 0
            for record in located {
                let offset = base + Int64(record.offsetDelta)
                decide(record, offset: offset) {
                    switch states.state(offset) {
                    case .latest: return false
                    case .superseded: return true
                    case .unknown:
                        nextDigest += 1
                        return offset < map.get(digests[nextDigest - 1])
                    }
                }
            }
        }
        guard p == section.count else {
            throw .log(
                .corruptBatch(
                    file: file, position: position,
                    reason: .corruptRecord(index: count, position: p, reason: "\(section.count - p) bytes after the last declared record")))
        }
        stats.tombstonesRemoved += expiredTombstones
        stats.invalidMessagesRead += withoutKey
        if retained.isEmpty {
            if keepEmpty { writeEmptyHeader(of: batch) }
            return
        }
        stats.messagesWritten += Int64(retained.count)
        let needHorizon = tombstones && !hasHorizon
        if retained.count == count && !needHorizon {
            copy(batch)
            if tombstones { noteHorizon(batch.baseTimestamp) }
            return
        }
        try rewrite(batch, kept: retained, section: section, needHorizon: needHorizon, file: file, position: position)
        if tombstones { noteHorizon(needHorizon ? now &+ deleteRetentionMs : batch.baseTimestamp) }
    }

    private mutating func noteHorizon(_ ms: Int64) {
        horizon = min(horizon ?? .max, ms)
    }

    /// Appends the batch unchanged.
    private mutating func copy(_ batch: RecordBatch) {
        output.append(contentsOf: batch.bytes)
        appended.append(.init(lastOffset: batch.lastOffset, maxTimestamp: batch.maxTimestamp, size: batch.sizeInBytes))
    }

    /// Appends a batch holding `kept` (records of `section`, in order) with the original's header fields.
    private mutating func rewrite(
        _ batch: RecordBatch, kept: [RawRecord], section: UnsafeRawBufferPointer, needHorizon: Bool, file: String,
        position: Int64
    ) throws(CleanerError) {
        let oldBase = batch.baseTimestamp
        let newBase = needHorizon ? now &+ deleteRetentionMs : oldBase
        let codec = batch.compression ?? .none
        let start = output.count
        output.append(contentsOf: UnsafeRawBufferPointer(rebasing: batch.bytes[0..<RecordBatch.headerSize]))
        // Uncompressed records go straight after the header; others are gathered, then compressed there.
        if codec == .none {
            swap(&records, &output)
        } else {
            records.removeAll(keepingCapacity: true)
        }
        var maxTimestamp: Int64 = -1
        for record in kept {
            let timestamp = oldBase &+ record.timestampDelta
            maxTimestamp = max(maxTimestamp, timestamp)
            if newBase == oldBase {
                records.append(contentsOf: UnsafeRawBufferPointer(rebasing: section[record.start..<record.end]))
            } else {
                // Same record, timestamp delta measured from the delete horizon now held in the base timestamp.
                let delta = timestamp &- newBase
                let tail = UnsafeRawBufferPointer(rebasing: section[record.tailStart..<record.end])
                let bodySize = 1 + Varint.size(of: delta) + Varint.size(of: Int64(record.offsetDelta)) + tail.count
                Varint.append(Int64(bodySize), to: &records)
                records.append(record.attributes)
                Varint.append(delta, to: &records)
                Varint.append(Int64(record.offsetDelta), to: &records)
                records.append(contentsOf: tail)
            }
        }
        if batch.timestampType == .logAppendTime { maxTimestamp = batch.maxTimestamp }
        if codec == .none {
            swap(&records, &output)
        } else {
            do {
                try records.withBytes { (section) throws(CompressionError) in
                    try Compression.compress(section, codec: codec, into: &output)
                }
            } catch {
                throw .log(.corruptBatch(file: file, position: position, reason: .decompression(error)))
            }
        }
        let attributes = batch.attributes | (needHorizon ? 0x40 : 0)
        finishHeader(
            at: start, attributes: attributes, baseTimestamp: newBase, maxTimestamp: maxTimestamp, recordCount: Int32(kept.count))
        appended.append(.init(lastOffset: batch.lastOffset, maxTimestamp: maxTimestamp, size: output.count - start))
    }

    /// Appends a header-only batch for `batch` (Kafka's `writeEmptyHeader`): same offsets and producer fields,
    /// no records, no codec, no base timestamp, the original max timestamp.
    private mutating func writeEmptyHeader(of batch: RecordBatch) {
        let start = output.count
        output.append(contentsOf: UnsafeRawBufferPointer(rebasing: batch.bytes[0..<RecordBatch.headerSize]))
        let attributes = RecordBatch.attributes(
            compression: .none, timestampType: batch.timestampType, isTransactional: batch.isTransactional,
            isControl: batch.isControl)
        finishHeader(at: start, attributes: attributes, baseTimestamp: -1, maxTimestamp: batch.maxTimestamp, recordCount: 0)
        appended.append(.init(lastOffset: batch.lastOffset, maxTimestamp: batch.maxTimestamp, size: RecordBatch.headerSize))
    }

    /// Sets the fields that change in a rewritten header (length, attributes, timestamps, count) and its CRC.
    private mutating func finishHeader(
        at start: Int, attributes: Int16, baseTimestamp: Int64, maxTimestamp: Int64, recordCount: Int32
    ) {
        let length = Int32(output.count - start - RecordBatch.logOverhead)
        output.withUnsafeMutableBytes { whole in
            let header = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            typealias F = RecordBatch.Field
            header.storeBigEndian(length, at: F.batchLength)
            header.storeBigEndian(attributes, at: F.attributes)
            header.storeBigEndian(baseTimestamp, at: F.baseTimestamp)
            header.storeBigEndian(maxTimestamp, at: F.maxTimestamp)
            header.storeBigEndian(recordCount, at: F.recordCount)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: header[F.attributes...]))
            header.storeBigEndian(crc, at: F.crc)
        }
    }
}
