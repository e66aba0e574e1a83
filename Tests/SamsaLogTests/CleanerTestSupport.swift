import Foundation
import Synchronization
import Testing
@testable import SamsaLog

/// A data directory with one compacted partition, a hand-moved clock and a manager without background work:
/// tests append, roll and clean when they choose.
final class CompactedLog {
    let dir: TemporaryDirectory
    let clock = ManualClock()
    let tp: TopicPartition
    let config: LogConfig
    let cleanerConfig: CleanerConfig
    private(set) var manager: LogManager
    private(set) var log: Log

    init(
        topic: String = "compacted", dir: TemporaryDirectory = TemporaryDirectory(),
        configure: (inout LogConfig) -> Void = { _ in }, cleaner: (inout CleanerConfig) -> Void = { _ in }
    ) throws {
        self.dir = dir
        tp = TopicPartition(topic, 0)
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = 4_096
        config.minCleanableDirtyRatio = 0
        config.deleteRetentionMs = 10_000
        config.fileDeleteDelayMs = 0
        configure(&config)
        self.config = config
        var cleanerConfig = CleanerConfig()
        cleanerConfig.dedupeBufferSize = 1 << 20
        cleaner(&cleanerConfig)
        self.cleanerConfig = cleanerConfig
        let frozen = config
        manager = try LogManager.open(
            dataDirectory: dir.path, configFor: { _ in frozen }, clock: clock.clock, backgroundIntervalMs: nil,
            cleanerConfig: cleanerConfig)
        log = try manager.getOrCreateLog(tp, config: config)
    }

    /// Appends one batch of `(key, value)` records (nil key or value: null), stamped with the clock.
    @discardableResult
    func append(
        _ records: [(key: String?, value: String?)], codec: CompressionCodec = .none, producerId: Int64 = RecordBatch.noProducerId
    ) throws -> Log.AppendResult {
        var builder = RecordBatchBuilder(
            codec: codec, producerId: producerId, producerEpoch: producerId >= 0 ? 0 : RecordBatch.noProducerEpoch,
            baseSequence: producerId >= 0 ? 0 : RecordBatch.noSequence)
        let now = clock.now.withLock { $0 }
        for (i, record) in records.enumerated() {
            builder.append(
                timestamp: now + Int64(i), key: record.key.map { Array($0.utf8) }, value: record.value.map { Array($0.utf8) })
        }
        let bytes = try builder.build()
        return try bytes.withUnsafeBytes { try log.append($0) }
    }

    /// Cleans the partition now, whatever its dirty ratio.
    @discardableResult
    func clean() throws -> CleanerStats {
        try #require(try manager.cleaner.clean(log))
    }

    /// Closes and reopens the manager (a clean shutdown).
    func reopen() throws {
        try manager.close()
        let frozen = config
        manager = try LogManager.open(
            dataDirectory: dir.path, configFor: { _ in frozen }, clock: clock.clock, backgroundIntervalMs: nil,
            cleanerConfig: cleanerConfig)
        log = try #require(manager.log(tp))
    }

    /// Every record, as (offset, key, value) strings.
    func records() throws -> [(offset: Int64, key: String?, value: String?)] {
        try log.readAllRecords().map { ($0.offset, $0.key.map { String(decoding: $0, as: UTF8.self) }, $0.value.map { String(decoding: $0, as: UTF8.self) }) }
    }

    deinit { try? manager.close() }
}

extension Log {
    /// Every batch's header, in offset order, read segment by segment from the files.
    func allBatchHeaders() throws -> [RecordBatchHeader] {
        let segments = state.withLock { $0.segments.map { ($0.log, $0.size) } }
        var headers: [RecordBatchHeader] = []
        for (file, size) in segments {
            var scanner = BatchHeaderScanner(file: file, from: 0, end: size)
            while let (header, _) = try scanner.next() { headers.append(header) }
        }
        return headers
    }

    /// Every batch whole (header and records), for checks on rewritten batches.
    func allBatches() throws -> [[UInt8]] {
        let segments = state.withLock { $0.segments.map { ($0.log, $0.size) } }
        var batches: [[UInt8]] = []
        for (file, size) in segments {
            var scanner = BatchHeaderScanner(file: file, from: 0, end: size)
            while let (header, position) = try scanner.next() {
                batches.append(try file.read(count: header.sizeInBytes, at: position))
            }
        }
        return batches
    }
}

/// The latest value per key of a sequence of records (nil value: the key's latest is a tombstone).
func latestByKey(_ records: [(offset: Int64, key: String?, value: String?)]) -> [String: (offset: Int64, value: String?)] {
    var latest: [String: (Int64, String?)] = [:]
    for record in records {
        guard let key = record.key else { continue }
        latest[key] = (record.offset, record.value)
    }
    return latest
}
