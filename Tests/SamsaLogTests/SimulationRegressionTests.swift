import Foundation
import Logging
import Testing
@testable import SamsaLog

/// One test per bug the crash simulation found, each replaying the smallest history that showed it, on a
/// `SimulatedFileSystem` with deterministic crashes (`.durableOnly`: only what was synced survives).
@Suite struct SimulationRegressionTests {
    static let logger = Logger(label: "samsa.test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let partition = TopicPartition("r", 0)
    static let directory = "/data/r-0"

    static func fileSystem() throws -> SimulatedFileSystem {
        let fs = SimulatedFileSystem(seed: 7)
        try fs.createDirectory("/data")
        try fs.syncDirectory("/")
        return fs
    }

    static func config() -> LogConfig {
        var config = LogConfig()
        config.segmentBytes = 100_000
        config.indexIntervalBytes = 0  // an index entry for every batch
        config.segmentIndexBytes = 8 * 64
        return config
    }

    static func open(_ fs: SimulatedFileSystem, config: LogConfig = config()) throws -> (LogManager, Log) {
        let manager = try LogManager.open(
            dataDirectory: "/data", configFor: { _ in config }, fileSystem: fs, clock: { 5_000_000 }, logger: logger,
            backgroundIntervalMs: nil)
        return (manager, try manager.getOrCreateLog(partition, config: config))
    }

    static func batch(_ records: Int, _ tag: UInt8, producer: (id: Int64, sequence: Int32)? = nil) throws -> [UInt8] {
        var builder = RecordBatchBuilder(
            producerId: producer?.id ?? RecordBatch.noProducerId, producerEpoch: producer == nil ? RecordBatch.noProducerEpoch : 0,
            baseSequence: producer?.sequence ?? RecordBatch.noSequence)
        for i in 0..<records { builder.append(timestamp: 4_000_000 + Int64(i), key: [tag], value: [UInt8](repeating: tag, count: 40)) }
        return try builder.build()
    }

    @discardableResult
    static func append(_ log: Log, _ records: Int, _ tag: UInt8, producer: (id: Int64, sequence: Int32)? = nil) throws -> Log.AppendResult {
        try batch(records, tag, producer: producer).withUnsafeBytes { try log.append($0) }
    }

    static func segmentPath(_ base: Int64, _ ext: String) -> String { directory + "/" + LogSegment.fileName(base, ext) }

    // MARK: Flush failures

    /// A failed fsync used to leave the log online: a later fsync succeeded without writing the pages the kernel
    /// had dropped, so data acknowledged after it could be lost behind the hole.
    @Test func aFailedFlushTakesTheLogOfflineAndCutsWhatWasNotFlushed() throws {
        let fs = try Self.fileSystem()
        let (_, log) = try Self.open(fs)
        try Self.append(log, 3, 1)
        try log.flush()
        try Self.append(log, 2, 2)
        fs.inject(.ioError, on: [.sync])
        #expect(throws: LogError.self) { try log.flush() }
        #expect(log.offlineReason != nil)
        #expect(log.logEndOffset == 3)  // the unflushed batch is cut: its pages may never reach the disk
        #expect(log.recoveryPoint == 3)
        #expect { try log.flush() } throws: { error in
            guard case LogError.offline = error else { return false }
            return true
        }
        #expect { try Self.append(log, 1, 3) } throws: { error in
            guard case LogError.offline = error else { return false }
            return true
        }
        #expect(try log.readAllRecords().map(\.offset) == [0, 1, 2])  // reads keep working
    }

    // MARK: The clean-shutdown marker

    /// Removing the marker on open was not durable: a crash brought it back and the next open skipped recovery,
    /// trusting a torn active segment.
    @Test func theCleanShutdownMarkerStaysRemovedAcrossACrash() throws {
        let fs = try Self.fileSystem()
        var (manager, log) = try Self.open(fs)
        try Self.append(log, 3, 1)
        try manager.close()
        (manager, log) = try Self.open(fs)
        try Self.append(log, 3, 2)
        fs.crash(.durableOnly)
        #expect(!fs.fileExists("/data/" + LogManager.cleanShutdownMarker))
        (manager, log) = try Self.open(fs)
        #expect(log.openReport.segmentsRecovered > 0)
    }

    // MARK: Roll at the recovery point

    /// A roll right after a flush trims the old segment's indexes after that flush; the next flush used to start
    /// at the new segment, so the trimmed indexes never reached the disk while the recovery point vouched for them.
    @Test func theFlushAfterARollMakesTheOldSegmentsIndexesDurable() throws {
        let fs = try Self.fileSystem()
        let (_, log) = try Self.open(fs)
        for tag in 1...4 as ClosedRange<UInt8> { try Self.append(log, 2, tag) }
        try log.flush()
        try log.roll()
        try Self.append(log, 2, 5)
        try log.flush()
        for ext in ["index", "timeindex"] {
            let path = Self.segmentPath(0, ext)
            #expect(fs.durableContents(of: path) == fs.contents(of: path), "\(ext)")
        }
    }

    /// Recovery used to start at the segment holding the recovery point; when a roll put a segment exactly there,
    /// the previous segment (whose indexes the roll rewrote) was trusted unchecked.
    @Test func recoveryRescansTheSegmentHoldingTheLastFlushedOffset() throws {
        let fs = try Self.fileSystem()
        var (manager, log) = try Self.open(fs)
        for tag in 1...4 as ClosedRange<UInt8> { try Self.append(log, 2, tag) }
        try log.flush()
        try manager.checkpoint()  // recovery point 8
        try log.roll()  // segment 8, exactly at the recovery point
        try fs.syncDirectory(Self.directory)  // the kernel committed the new segment's name
        fs.crash(.durableOnly)
        (manager, log) = try Self.open(fs)
        #expect(log.openReport.segmentsRecovered == 2)
        #expect(log.logEndOffset == 8)
    }

    // MARK: Gaps

    /// A segmented log as recovery leaves it after a crash that lost the last batch of the first segment and all
    /// of the second: [0: 0...1, then a gap at 2] [3: empty] [5: 5...6].
    static func logWithAGapAndAnEmptySegment(_ fs: SimulatedFileSystem) throws -> (LogManager, Log) {
        var (manager, log) = try Self.open(fs)
        try Self.append(log, 2, 1)
        let firstBatchEnd = log.size
        try Self.append(log, 1, 2)
        try log.roll()
        try Self.append(log, 2, 3)
        try log.roll()
        try Self.append(log, 2, 4)
        try manager.close()
        for (base, size) in [(Int64(0), firstBatchEnd), (3, 0)] {
            let file = try fs.openFile(Self.segmentPath(base, "log"), create: false)
            try file.truncate(to: size)
            try file.sync()
        }
        try fs.removeFile("/data/" + LogManager.cleanShutdownMarker)
        try OffsetCheckpointFile(path: "/data/" + LogManager.recoveryPointCheckpoint, fileSystem: fs).write([Self.partition: 0])
        (manager, log) = try Self.open(fs)
        #expect(log.segmentBaseOffsets == [0, 3, 5])
        #expect(log.logEndOffset == 7)
        return (manager, log)
    }

    /// A read inside a gap looked at two segments at most; an empty one after the gap hid the data beyond it, so a
    /// consumer at that offset never progressed.
    @Test func aReadInAGapSkipsEmptySegments() throws {
        let fs = try Self.fileSystem()
        let (_, log) = try Self.logWithAGapAndAnEmptySegment(fs)
        let slice = try #require(try log.read(from: 2, maxBytes: 1 << 16).slice)
        let first = try slice.readBytes().withUnsafeBytes { try RecordBatch(validating: $0) }
        #expect(first.baseOffset == 5)
    }

    /// Truncating into a gap used to set the log end to the end of the last batch, which could be below the log
    /// start; and the end of an emptied tail was not kept across a restart.
    @Test func truncatingIntoAGapEndsTheLogAtTheOffsetAndKeepsItAcrossARestart() throws {
        let fs = try Self.fileSystem()
        var (manager, log) = try Self.logWithAGapAndAnEmptySegment(fs)
        try log.deleteRecords(before: 4)
        #expect(try manager.truncate(Self.partition, to: 4) == 4)
        #expect(log.logStartOffset == 4 && log.logEndOffset == 4)
        #expect(try Self.append(log, 1, 9).firstOffset == 4)
        try manager.close()
        (manager, log) = try Self.open(fs)
        #expect(log.logEndOffset == 5)
        #expect(try log.readAllRecords().map(\.offset) == [4])
    }

    // MARK: Truncation

    /// The recovery-point checkpoint used to stay above a truncation until the next periodic checkpoint: after a
    /// crash, segments changed by the truncation (or written after it) were trusted without a rescan.
    @Test func truncationLowersTheRecoveryPointCheckpointBeforeItTouchesAFile() throws {
        let fs = try Self.fileSystem()
        let (manager, log) = try Self.open(fs)
        for tag in 1...6 as ClosedRange<UInt8> { try Self.append(log, 2, tag) }
        try log.flush()
        try manager.checkpoint()
        let checkpoints = OffsetCheckpointFile(path: "/data/" + LogManager.recoveryPointCheckpoint, fileSystem: fs)
        #expect(try checkpoints.read()[Self.partition] == 12)
        // The truncation fails after the checkpoint was written: the checkpoint is already low.
        fs.inject(.ioError, on: [.truncate], pathContaining: ".log")
        #expect(throws: LogError.self) { try manager.truncate(Self.partition, to: 5) }
        #expect(try checkpoints.read()[Self.partition]! <= 5)
        #expect(log.offlineReason != nil)  // a truncation that failed part-way takes the log offline
    }

    /// Truncation used to leave its cut and its segment removals unsynced: a crash could bring back removed
    /// batches beside the new ones that had reused their offsets.
    @Test func truncationIsDurableBeforeTheLogGrowsAgain() throws {
        let fs = try Self.fileSystem()
        let (manager, log) = try Self.open(fs)
        try Self.append(log, 2, 1)
        try Self.append(log, 2, 2)
        try log.roll()
        try Self.append(log, 2, 3)
        try log.flush()
        try manager.truncate(Self.partition, to: 2)
        #expect(!fs.durablePaths().contains(Self.segmentPath(4, "log")))
        let path = Self.segmentPath(0, "log")
        #expect(fs.durableContents(of: path) == fs.contents(of: path))
        try Self.append(log, 3, 4)
        fs.crash(.durableOnly)
        let (_, reopened) = try Self.open(fs)
        #expect(reopened.logEndOffset == 2)
        #expect(reopened.segmentBaseOffsets == [0])
    }

    // MARK: Retention

    /// Retention renamed deleted segments `.deleted` without a directory sync and raised the recovery point to the
    /// new log start first: after a crash the segments were live again, below a checkpointed recovery point, so
    /// recovery trusted them (and their never-synced indexes) without a rescan.
    @Test func segmentsDeletedByRetentionStayDeletedAndTheRecoveryPointWaitsForThem() throws {
        let fs = try Self.fileSystem()
        let (_, log) = try Self.open(fs)
        for tag in 1...3 as ClosedRange<UInt8> {
            try Self.append(log, 2, tag)
            try log.roll()
        }
        try log.deleteRecords(before: 4)
        let before = log.recoveryPoint
        fs.inject(.ioError, on: [.rename])
        #expect(throws: LogError.self) { try log.deleteOldSegments() }
        #expect(log.recoveryPoint == before)  // not raised over segments whose deletion failed

        let fs2 = try Self.fileSystem()
        let (_, log2) = try Self.open(fs2)
        for tag in 1...3 as ClosedRange<UInt8> {
            try Self.append(log2, 2, tag)
            try log2.roll()
        }
        try log2.deleteRecords(before: 4)
        #expect(try log2.deleteOldSegments().segmentsDeleted == 2)
        #expect(!fs2.durablePaths().contains(Self.segmentPath(0, "log")))
        #expect(!fs2.durablePaths().contains(Self.segmentPath(2, "log")))
    }

    /// A log that came back from a crash shorter than its checkpointed recovery point kept that checkpoint: what
    /// was appended next was vouched for, and a second crash skipped its recovery.
    @Test func openingRewritesARecoveryPointCheckpointAboveTheLogEnd() throws {
        let fs = try Self.fileSystem()
        var (manager, log) = try Self.open(fs)
        try Self.append(log, 3, 1)
        try manager.close()
        let checkpoints = OffsetCheckpointFile(path: "/data/" + LogManager.recoveryPointCheckpoint, fileSystem: fs)
        try checkpoints.write([Self.partition: 50])  // as a checkpoint from before a truncation that a crash interrupted
        try fs.removeFile("/data/" + LogManager.cleanShutdownMarker)
        (manager, log) = try Self.open(fs)
        #expect(log.recoveryPoint == 3)
        #expect(try checkpoints.read()[Self.partition] == 3)
        _ = manager
    }

    // MARK: Cleaning

    /// The cleaner removed a flushed record because a newer record of its key existed, though that newer record
    /// was not flushed: losing the newer one (a crash, or a failed fsync that cuts the log back to its recovery
    /// point) then lost the key. The cleaner now flushes the section it cleans first.
    @Test func cleaningNeverDropsAFlushedRecordForAnUnflushedNewerOne() throws {
        let fs = try Self.fileSystem()
        var config = Self.config()
        config.cleanupPolicy = .compact
        config.minCleanableDirtyRatio = 0
        let (manager, log) = try Self.open(fs, config: config)
        try Self.append(log, 1, 7)  // key 7 at offset 0
        try Self.append(log, 1, 8)  // key 8 at offset 1
        try log.flush()  // acknowledged
        try Self.append(log, 1, 7)  // key 7 again at offset 2, not flushed
        try log.roll()
        try Self.append(log, 1, 9)  // the active segment
        _ = try manager.cleaner.clean(log)  // offset 0 goes: offset 2 supersedes it
        try Self.append(log, 1, 9)
        fs.inject(.ioError, on: [.sync])
        #expect(throws: LogError.self) { try log.flush() }  // cuts the log back to what was flushed
        let keys = try log.readAllRecords().compactMap { $0.key?.first }
        #expect(keys.contains(7) && keys.contains(8), "keys left: \(keys)")
    }

    // MARK: Found by fuzzing

    /// `fuzz/run.sh producer_snapshot`: a snapshot with a valid CRC whose entry says its last batch spans a negative
    /// number of offsets ending near Int64.max overflowed (a trap at startup); it is now rejected as corrupt.
    @Test func aSnapshotEntryWithAnImpossibleOffsetDeltaIsCorruptNotATrap() throws {
        func snapshot(lastOffset: Int64, offsetDelta: Int32) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.appendBigEndian(Int16(1))
            bytes.appendBigEndian(UInt32(0))
            bytes.appendBigEndian(Int32(1))
            bytes.appendBigEndian(Int64(7))  // producer id
            bytes.appendBigEndian(Int16(0))  // epoch
            bytes.appendBigEndian(Int32(5))  // last sequence
            bytes.appendBigEndian(lastOffset)
            bytes.appendBigEndian(offsetDelta)
            bytes.appendBigEndian(Int64(1_000))  // timestamp
            bytes.appendBigEndian(Int32(-1))  // coordinator epoch
            bytes.appendBigEndian(Int64(-1))  // transaction start
            let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[6...])) }
            bytes.storeBigEndian(crc, at: 2)
            return bytes
        }
        #expect(ProducerStateManager.parseSnapshot(snapshot(lastOffset: .max, offsetDelta: -1)) == nil)
        #expect(ProducerStateManager.parseSnapshot(snapshot(lastOffset: 3, offsetDelta: 4)) == nil)
        let good = try #require(ProducerStateManager.parseSnapshot(snapshot(lastOffset: 10, offsetDelta: 2)))
        #expect(good[7]?.batches.first?.firstOffset == 8)
        #expect(good[7]?.batches.first?.firstSequence == 3)
    }

    /// `fuzz/run.sh record_batch`: a batch whose base offset plus last offset delta passes Int64.max trapped on
    /// overflow wherever its last offset was taken (recovery, scans, dump-log); a record whose offset delta runs
    /// past it trapped while being parsed. Both are invalid batches now.
    @Test func batchesWhoseOffsetsOverflowAreInvalidNotATrap() throws {
        func batch(baseOffset: Int64, records: Int, lastOffsetDelta: Int32? = nil) throws -> [UInt8] {
            var builder = RecordBatchBuilder(baseOffset: baseOffset)
            for i in 0..<records { builder.append(timestamp: 1, key: nil, value: [UInt8(i)]) }
            var bytes = try builder.build()
            if let lastOffsetDelta {
                bytes.storeBigEndian(lastOffsetDelta, at: RecordBatch.Field.lastOffsetDelta)
                let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatch.Field.attributes...])) }
                bytes.storeBigEndian(crc, at: RecordBatch.Field.crc)
            }
            return bytes
        }
        let overflowing = try batch(baseOffset: .max - 1, records: 2)
        #expect(throws: RecordBatchError.offsetOverflow(baseOffset: .max - 1, lastOffsetDelta: 1)) {
            try overflowing.withUnsafeBytes { _ = try RecordBatch(validating: $0) }
        }
        #expect(throws: RecordBatchError.self) {
            try overflowing.withUnsafeBytes { _ = try RecordBatchHeader(parsing: $0) }
        }
        let fits = try batch(baseOffset: .max - 2, records: 2)
        #expect(try fits.withUnsafeBytes { try RecordBatch(validating: $0).nextOffset } == .max)
        // The batch says its records end at base + 0, the third record says base + 2: past Int64.max.
        let lying = try batch(baseOffset: .max - 1, records: 3, lastOffsetDelta: 0)
        #expect(throws: RecordBatchError.self) {
            try lying.withUnsafeBytes { buffer in
                var scratch: [UInt8] = []
                _ = try RecordBatch(validating: buffer).validateRecords(scratch: &scratch)
            }
        }
    }

    // MARK: Recovery

    /// Producer snapshots written when a segment rolled survived a crash that lost the batches they described; the
    /// producer's retry was then acknowledged as a duplicate of a batch no longer in the log.
    @Test func recoveryForgetsProducerSnapshotsOfLostBatches() throws {
        let fs = try Self.fileSystem()
        var (manager, log) = try Self.open(fs)
        try Self.append(log, 1, 1)
        try log.flush()
        try Self.append(log, 3, 2, producer: (77, 0))  // offsets 1...3, never flushed
        try log.roll()  // snapshot 4 says producer 77 wrote sequence 0...2 at 1...3
        try fs.syncDirectory(Self.directory)  // the kernel committed the directory, not the batch
        fs.crash(.durableOnly)
        #expect(fs.fileExists(Self.directory + "/" + ProducerStateManager.snapshotName(4)))
        (manager, log) = try Self.open(fs)
        #expect(log.logEndOffset == 4)  // offsets 1...3 are a gap now
        let retry = try Self.append(log, 3, 2, producer: (77, 0))
        #expect(!retry.isDuplicate)
        #expect(retry.firstOffset == 4)
    }

    /// Segments dropped after a damaged one were removed without a directory sync: a crash could bring them back
    /// after the damaged segment had grown over their offsets.
    @Test func segmentsDroppedAfterDamageStayDropped() throws {
        let fs = try Self.fileSystem()
        var (manager, log) = try Self.open(fs)
        try Self.append(log, 2, 1)
        try Self.append(log, 2, 2)
        try log.roll()
        try Self.append(log, 2, 3)
        try manager.close()
        // Damage the first segment's last batch, and make recovery look at it.
        let first = try fs.openFile(Self.segmentPath(0, "log"), create: false)
        let size = try first.size()
        try [0xFF, 0xFF].withUnsafeBytes { try first.write($0, at: size - 2) }
        try first.sync()
        try fs.removeFile("/data/" + LogManager.cleanShutdownMarker)
        try OffsetCheckpointFile(path: "/data/" + LogManager.recoveryPointCheckpoint, fileSystem: fs).write([Self.partition: 0])
        (manager, log) = try Self.open(fs)
        #expect(log.logEndOffset == 2)
        #expect(!fs.durablePaths().contains(Self.segmentPath(4, "log")))
    }

    /// Recovery kept what it found, though it might be only in the page cache, and left the recovery point at the
    /// (possibly stale) checkpoint: a later failed flush then cut back below data acknowledged before the restart.
    @Test func recoveryMakesWhatItKeptDurable() throws {
        let fs = try Self.fileSystem()
        var (manager, log) = try Self.open(fs)
        try Self.append(log, 2, 1)
        try log.flush()
        try Self.append(log, 2, 2)
        // The process dies (no power loss): the second batch is in the cache only.
        (manager, log) = try Self.open(fs)
        #expect(log.openReport.segmentsRecovered > 0)
        #expect(log.recoveryPoint == 4)
        let path = Self.segmentPath(0, "log")
        #expect(fs.durableContents(of: path) == fs.contents(of: path))
        _ = manager
    }
}
