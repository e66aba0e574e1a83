import Foundation
import Testing
@testable import SamsaLog

/// Retention with an injected clock: time, size and log-start-offset rules, the active segment, delayed file
/// removal, and the manager's schedule and checkpoints.
@Suite struct RetentionTests {
    /// A log of `segments` closed segments plus an active one, each holding `perSegment` batches of 10 records
    /// stamped with the clock, which moves `stepMs` after every segment.
    static func makeLog(
        _ dir: TemporaryDirectory, clock: ManualClock, segments: Int, perSegment: Int = 3, stepMs: Int64 = 1_000,
        configure: (inout LogConfig) -> Void = { _ in }
    ) throws -> Log {
        var config = LogConfig()
        config.fileDeleteDelayMs = 60_000
        configure(&config)
        let log = try Log.open(directory: dir.sub("r-0"), config: config, clock: clock.clock)
        var next = 0
        for _ in 0...segments {
            for _ in 0..<perSegment {
                let batch = makeBatch(count: 10, first: next, timestamp: clock.now.withLock { $0 })
                _ = try batch.withUnsafeBytes { try log.append($0) }
                next += 10
            }
            clock.advance(stepMs)
            if log.segmentCount <= segments { try log.roll() }
        }
        return log
    }

    static func files(_ dir: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.sub("r-0")).sorted()
    }

    @Test func segmentsOlderThanRetentionMsGoButTheActiveSegmentStays() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let start = clock.now.withLock { $0 }
        // Six segments whose newest records are start, start+1s, ..., start+5s; the active one is start+6s.
        let log = try Self.makeLog(dir, clock: clock, segments: 6) { $0.retentionMs = 10_000 }
        #expect(log.segmentCount == 7)
        let bases = log.segmentBaseOffsets
        // Now = start + 13.5 s: segments whose newest record is more than 10 s old are those of start..start+3s.
        clock.now.withLock { $0 = start + 13_500 }
        let result = try log.deleteOldSegments()
        #expect(result.deleted[.retentionMs] == 4)
        #expect(log.segmentBaseOffsets == Array(bases[4...]))
        #expect(log.logStartOffset == bases[4])
        #expect(result.logStartOffset == bases[4])
        #expect(throws: LogError.self) { try log.read(from: bases[4] - 1, maxBytes: 100) }
        #expect(try log.readAllRecords().first?.offset == bases[4])
        // Much later, everything is past retention, but the active segment is never deleted.
        clock.advance(1_000_000)
        _ = try log.deleteOldSegments()
        #expect(log.segmentCount == 1)
        #expect(log.segmentBaseOffsets == [bases[6]])
        #expect(try log.readAllRecords().count == 30)
        // retention.ms = -1 keeps everything.
        var forever = log.config
        forever.retentionMs = -1
        log.updateConfig(forever)
        #expect(try log.deleteOldSegments().segmentsDeleted == 0)
    }

    @Test func deletedSegmentsAreRenamedThenRemovedAfterTheFileDeleteDelay() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let log = try Self.makeLog(dir, clock: clock, segments: 3) { $0.retentionMs = 500 }
        let first = LogSegment.fileName(log.segmentBaseOffsets[0], "log")
        clock.advance(10_000)
        #expect(try log.deleteOldSegments().segmentsDeleted == 3)
        var names = try Self.files(dir)
        #expect(names.contains(first + ".deleted"))
        #expect(!names.contains(first))
        #expect(log.pendingDeletionCount == 3)
        // Not yet due.
        clock.advance(59_000)
        #expect(try log.removeDeletedSegmentFiles() == 0)
        clock.advance(1_000)
        #expect(try log.removeDeletedSegmentFiles() == 3)
        names = try Self.files(dir)
        #expect(!names.contains { $0.hasSuffix(".deleted") })
        #expect(names.filter { $0.hasSuffix(".log") }.count == 1)
    }

    @Test func aReaderHoldingASliceOfADeletedSegmentStillReadsIt() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let log = try Self.makeLog(dir, clock: clock, segments: 2) {
            $0.retentionMs = 500
            $0.fileDeleteDelayMs = 0
        }
        let slice = try #require(try log.read(from: 0, maxBytes: 1 << 20).slice)
        clock.advance(10_000)
        #expect(try log.deleteOldSegments().segmentsDeleted == 2)
        // file.delete.delay.ms = 0: the files are gone already.
        #expect(!(try Self.files(dir)).contains { $0.hasSuffix(".deleted") })
        let bytes = try slice.readBytes()
        let first = try bytes.withUnsafeBytes { try RecordBatch(validating: $0) }
        #expect(first.baseOffset == 0)
        #expect(bytes.count == slice.length)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func sizeRetentionKeepsThePartitionUnderRetentionBytesPlusOneSegment(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var config = LogConfig()
        config.segmentBytes = 2_000 + Int(rng.next() % 3_000)
        let log = try Log.open(directory: dir.sub("r-0"), config: config, clock: clock.clock)
        var next = 0
        for _ in 0..<(100 + Int(rng.next() % 100)) {
            let count = 1 + Int(rng.next() % 10)
            _ = try makeBatch(count: count, first: next, valueSize: Int(rng.next() % 200)).withUnsafeBytes { try log.append($0) }
            next += count
        }
        let before = log.size
        let limit = Int64(rng.next() % UInt64(before))
        config.retentionBytes = limit
        config.retentionMs = -1
        log.updateConfig(config)
        let result = try log.deleteOldSegments()
        let sizes = log.state.withLock { state in state.segments.map(\.size) }
        #expect(log.size <= limit + Int64(config.segmentBytes), "seed \(seed)")
        // Kafka's rule: a segment goes only if the partition stays at or above the limit without it; the next one
        // would have taken it below (unless it is the active segment).
        if sizes.count > 1 { #expect(log.size - sizes[0] < limit, "seed \(seed)") }
        #expect(result.bytesDeleted == before - log.size, "seed \(seed)")
        #expect(log.logStartOffset == log.segmentBaseOffsets[0], "seed \(seed)")
        #expect(try log.readAllRecords().first?.offset == log.logStartOffset, "seed \(seed)")
    }

    @Test(arguments: [LogConfig.CleanupPolicy.delete, .compact, .compactDelete])
    func deleteRecordsThenRetentionRemovesTheSegmentsBelowTheStart(policy: LogConfig.CleanupPolicy) throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let log = try Self.makeLog(dir, clock: clock, segments: 5) {
            $0.cleanupPolicy = policy
            $0.retentionMs = -1
        }
        let bases = log.segmentBaseOffsets
        // A start in the middle of the fourth segment: the first three lie wholly below it.
        let start = bases[3] + 5
        #expect(try log.deleteRecords(before: start) == start)
        let result = try log.deleteOldSegments()
        #expect(result.deleted[.logStartOffset] == 3)
        #expect(log.segmentBaseOffsets == Array(bases[3...]))
        #expect(log.logStartOffset == start)
        #expect(try log.readAllRecords().first?.offset == start)
        // Deleting past the active segment's base removes every closed segment, but never the active one.
        #expect(try log.deleteRecords(before: log.logEndOffset) == log.logEndOffset)
        _ = try log.deleteOldSegments()
        #expect(log.segmentBaseOffsets == [bases[5]])
        #expect(try log.readAllRecords().isEmpty)
    }

    @Test func theLogManagerRunsRetentionOnItsScheduleAndCheckpointsTheStart() async throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var settings = LogConfig()
        settings.retentionMs = 5_000
        settings.fileDeleteDelayMs = 1_000
        let config = settings
        let tp = TopicPartition("timed", 0)
        let manager = try LogManager.open(
            dataDirectory: dir.path, configFor: { _ in config }, clock: clock.clock, backgroundIntervalMs: 20,
            retentionCheckIntervalMs: 30)
        let log = try manager.getOrCreateLog(tp, config: config)
        for i in 0..<5 {
            _ = try makeBatch(count: 10, first: i * 10, timestamp: clock.now.withLock { $0 }).withUnsafeBytes { try log.append($0) }
            try log.roll()
        }
        _ = try makeBatch(count: 10, first: 50, timestamp: clock.now.withLock { $0 } + 100_000).withUnsafeBytes { try log.append($0) }
        #expect(log.segmentCount == 6)
        clock.advance(10_000)
        // The manager's own schedule deletes the five old segments and, a second later, their files.
        var waited = 0
        while (log.segmentCount > 1 || log.pendingDeletionCount > 0) && waited < 500 {
            if log.segmentCount == 1 { clock.advance(2_000) }
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(log.segmentCount == 1)
        #expect(log.logStartOffset == 50)
        #expect(log.pendingDeletionCount == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.sub("timed-0"))
        #expect(!names.contains { $0.hasSuffix(".deleted") })
        let checkpoint = try OffsetCheckpointFile(path: dir.sub(LogManager.logStartOffsetCheckpoint)).read()
        #expect(checkpoint[tp] == 50)
        try manager.close()
        // The start survives a reopen.
        let reopened = try LogManager.open(dataDirectory: dir.path, configFor: { _ in config }, clock: clock.clock, backgroundIntervalMs: nil)
        #expect(reopened.log(tp)?.logStartOffset == 50)
        try reopened.close()
    }

    @Test func deleteRecordsStartSurvivesARestartThroughTheCheckpoint() throws {
        let dir = TemporaryDirectory()
        let tp = TopicPartition("dr", 0)
        let manager = try LogManager.open(dataDirectory: dir.path, backgroundIntervalMs: nil)
        let log = try manager.getOrCreateLog(tp, config: LogConfig())
        _ = try makeBatch(count: 20).withUnsafeBytes { try log.append($0) }
        try log.deleteRecords(before: 7)
        #expect(manager.runRetention().isEmpty)  // one segment: nothing to delete
        try manager.close()
        let reopened = try LogManager.open(dataDirectory: dir.path, backgroundIntervalMs: nil)
        let again = try #require(reopened.log(tp))
        #expect(again.logStartOffset == 7)
        #expect(throws: LogError.self) { try again.read(from: 6, maxBytes: 100) }
        try reopened.close()
    }
}
