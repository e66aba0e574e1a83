import Foundation
import Testing
@testable import SamsaLog

/// Idempotent producers: retries are deduplicated, gaps and stale epochs refused, and the state survives
/// close/reopen, crashes (rebuilt from the log) and segment rolls (snapshots).
@Suite struct ProducerStateTests {
    static func idempotentBatch(producerId: Int64 = 7, epoch: Int16 = 0, sequence: Int32, count: Int = 3) -> [UInt8] {
        var builder = RecordBatchBuilder(producerId: producerId, producerEpoch: epoch, baseSequence: sequence)
        // Current timestamps: producer state expires producer.id.expiration.ms after a producer's last batch time.
        let now = systemClock()
        for i in 0..<count { builder.append(timestamp: now + Int64(i), key: [1], value: Array("s\(sequence)-\(i)".utf8)) }
        return try! builder.build()
    }

    @Test func aRetriedBatchIsAcknowledgedWithItsOriginalOffsetsAndNotWrittenAgain() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("p-0"))
        let first = try Self.idempotentBatch(sequence: 0).withUnsafeBytes { try log.append($0) }
        let second = try Self.idempotentBatch(sequence: 3).withUnsafeBytes { try log.append($0) }
        let size = log.size
        let retry = try Self.idempotentBatch(sequence: 0).withUnsafeBytes { try log.append($0) }
        #expect(retry.isDuplicate && retry.firstOffset == first.firstOffset && retry.lastOffset == first.lastOffset)
        let retry2 = try Self.idempotentBatch(sequence: 3).withUnsafeBytes { try log.append($0) }
        #expect(retry2.isDuplicate && retry2.firstOffset == second.firstOffset)
        #expect(log.size == size && log.logEndOffset == 6)
    }

    @Test func gapsAndStaleEpochsAreRefused() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("p-0"))
        _ = try Self.idempotentBatch(epoch: 1, sequence: 0).withUnsafeBytes { try log.append($0) }
        #expect {
            try Self.idempotentBatch(epoch: 1, sequence: 5).withUnsafeBytes { try log.append($0) }
        } throws: { if case LogError.outOfOrderSequence = $0 { true } else { false } }
        #expect {
            try Self.idempotentBatch(epoch: 0, sequence: 3).withUnsafeBytes { try log.append($0) }
        } throws: { if case LogError.invalidProducerEpoch = $0 { true } else { false } }
        // A new epoch must start again at sequence 0.
        #expect {
            try Self.idempotentBatch(epoch: 2, sequence: 3).withUnsafeBytes { try log.append($0) }
        } throws: { if case LogError.outOfOrderSequence = $0 { true } else { false } }
        let bumped = try Self.idempotentBatch(epoch: 2, sequence: 0).withUnsafeBytes { try log.append($0) }
        #expect(!bumped.isDuplicate && bumped.firstOffset == 3)
        // Other producers are independent.
        _ = try Self.idempotentBatch(producerId: 8, sequence: 0).withUnsafeBytes { try log.append($0) }
        #expect(log.logEndOffset == 9)
    }

    @Test(arguments: [true, false])
    func deduplicationSurvivesReopening(clean: Bool) throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 400  // several rolls, so snapshots are taken
        do {
            let log = try Log.open(directory: dir.sub("p-0"), config: config)
            for i in 0..<10 { _ = try Self.idempotentBatch(sequence: Int32(i * 3)).withUnsafeBytes { try log.append($0) } }
            #expect(log.segmentCount > 2)
            if clean { try log.close() }
        }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: dir.sub("p-0")).filter { $0.hasSuffix(".snapshot") }
        #expect(!snapshots.isEmpty)
        let log = try Log.open(directory: dir.sub("p-0"), config: config, cleanShutdown: clean)
        let retry = try Self.idempotentBatch(sequence: 27).withUnsafeBytes { try log.append($0) }
        #expect(retry.isDuplicate && retry.firstOffset == 27)
        #expect {
            try Self.idempotentBatch(sequence: 31).withUnsafeBytes { try log.append($0) }
        } throws: { if case LogError.outOfOrderSequence = $0 { true } else { false } }
        let next = try Self.idempotentBatch(sequence: 30).withUnsafeBytes { try log.append($0) }
        #expect(!next.isDuplicate && next.firstOffset == 30)
    }

    @Test func truncationForgetsTheRemovedSequences() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("p-0"))
        for i in 0..<4 { _ = try Self.idempotentBatch(sequence: Int32(i * 3)).withUnsafeBytes { try log.append($0) } }
        try log.truncate(to: 6)
        // Sequences 6...11 are gone, so sequence 6 is new again, and 9 would be a gap.
        #expect(throws: LogError.self) { try Self.idempotentBatch(sequence: 9).withUnsafeBytes { try log.append($0) } }
        let again = try Self.idempotentBatch(sequence: 6).withUnsafeBytes { try log.append($0) }
        #expect(!again.isDuplicate && again.firstOffset == 6)
    }

    @Test func snapshotFilesUseKafkasLayoutAndRejectDamage() throws {
        let dir = TemporaryDirectory()
        let fs = PosixFileSystem()
        try fs.createDirectory(dir.sub("p-0"))
        let manager = ProducerStateManager(directory: dir.sub("p-0"), fileSystem: fs)
        var header = try Self.idempotentBatch(producerId: 42, epoch: 3, sequence: 10).withUnsafeBytes {
            RecordBatchHeader(try RecordBatch(validating: $0))
        }
        header.baseOffset = 100
        manager.update(header, firstOffset: 100, lastOffset: 102, timestamp: 555)
        try manager.takeSnapshot()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.sub("p-0/00000000000000000103.snapshot"))))
        // version 1, CRC, one 46-byte entry.
        #expect(bytes.count == 10 + 46)
        #expect(bytes[0] == 0 && bytes[1] == 1)
        let parsed = try #require(ProducerStateManager.parseSnapshot(bytes))
        #expect(parsed[42]?.producerEpoch == 3 && parsed[42]?.lastSequence == 12)
        #expect(parsed[42]?.batches.first?.firstSequence == 10 && parsed[42]?.batches.first?.firstOffset == 100)
        var damaged = bytes
        damaged[20] ^= 1
        #expect(ProducerStateManager.parseSnapshot(damaged) == nil)
    }
}

extension ProducerStateTests {
    @Test func producersExpireAfterTheirLastBatchTimeAsInKafka() throws {
        let manager = ProducerStateManager(directory: "/nonexistent", fileSystem: PosixFileSystem())
        let header = try Self.idempotentBatch(sequence: 0).withUnsafeBytes { RecordBatchHeader(try RecordBatch(validating: $0)) }
        manager.update(header, firstOffset: 0, lastOffset: 2, timestamp: 1_000)
        manager.removeExpired(nowMs: 1_000 + 86_399_999, expirationMs: 86_400_000)
        #expect(manager.producers.count == 1)
        manager.removeExpired(nowMs: 1_000 + 86_400_000, expirationMs: 86_400_000)
        #expect(manager.producers.isEmpty)
    }
}
