import Foundation
import Synchronization
import Testing
@testable import SamsaLog

/// Builds a batch of `count` records (`value-<first+i>`) as a producer would (base offset 0).
func makeBatch(
    count: Int, first: Int = 0, timestamp: Int64 = 1_700_000_000_000, codec: CompressionCodec = .none,
    valueSize: Int = 0, key: [UInt8]? = nil
) -> [UInt8] {
    var builder = RecordBatchBuilder(codec: codec)
    for i in 0..<count {
        var value = Array("value-\(first + i)".utf8)
        if valueSize > value.count { value += [UInt8](repeating: 0x2E, count: valueSize - value.count) }
        builder.append(timestamp: timestamp + Int64(i), key: key ?? Array("k\((first + i) % 7)".utf8), value: value)
    }
    return try! builder.build()
}

/// A clock tests move by hand.
final class ManualClock: Sendable {
    let now = Mutex<Int64>(1_700_000_000_000)
    var clock: Clock { { [self] in now.withLock { $0 } } }
    func advance(_ ms: Int64) { now.withLock { $0 += ms } }
}

@Suite struct LogTests {
    @Test func appendsAssignDenseOffsetsAndReadsReturnThem() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        var expectedFirst: Int64 = 0
        for i in 0..<20 {
            let batch = makeBatch(count: i + 1, first: Int(expectedFirst))
            let result = try batch.withUnsafeBytes { try log.append($0) }
            #expect(result.firstOffset == expectedFirst)
            #expect(result.lastOffset == expectedFirst + Int64(i))
            #expect(result.recordCount == i + 1)
            expectedFirst += Int64(i + 1)
        }
        #expect(log.logEndOffset == expectedFirst)
        let records = try log.readAllRecords(maxBytes: 300)
        #expect(records.map(\.offset) == Array(0..<expectedFirst))
        #expect(records.map { String(decoding: $0.value!, as: UTF8.self) } == (0..<Int(expectedFirst)).map { "value-\($0)" })
        // Every batch on disk still passes its CRC after the base offset was rewritten.
        let slice = try #require(try log.read(from: 0, maxBytes: 1 << 20).slice)
        let bytes = try slice.readBytes()
        try bytes.withUnsafeBytes { buffer in
            var position = 0
            while position < buffer.count {
                let batch = try RecordBatch(validating: UnsafeRawBufferPointer(rebasing: buffer[position...]))
                #expect(batch.partitionLeaderEpoch == 0)
                position += batch.sizeInBytes
            }
        }
    }

    @Test func readsInTheMiddleOfABatchStartAtThatBatch() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        for i in 0..<10 { _ = try makeBatch(count: 5, first: i * 5).withUnsafeBytes { try log.append($0) } }
        let slice = try #require(try log.read(from: 23, maxBytes: 1).slice)
        let bytes = try slice.readBytes()
        let first = try bytes.withUnsafeBytes { try RecordBatch(validating: $0).baseOffset }
        #expect(first == 20)
    }

    @Test func firstBatchIsReturnedWholeEvenWhenLargerThanMaxBytes() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        let big = makeBatch(count: 3, valueSize: 10_000)
        _ = try big.withUnsafeBytes { try log.append($0) }
        _ = try makeBatch(count: 1).withUnsafeBytes { try log.append($0) }
        let slice = try #require(try log.read(from: 0, maxBytes: 100).slice)
        #expect(slice.length == big.count)
        let none = try log.read(from: 0, maxBytes: 100, minOneBatch: false).slice
        #expect(none?.length == 100)
    }

    @Test func readsAtOrPastTheEndAndBelowTheStart() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        _ = try makeBatch(count: 4).withUnsafeBytes { try log.append($0) }
        #expect(try log.read(from: 4, maxBytes: 1000).slice == nil)
        #expect(throws: LogError.self) { try log.read(from: 5, maxBytes: 1000) }
        #expect(throws: LogError.self) { try log.read(from: -1, maxBytes: 1000) }
    }

    @Test func rollsWhenTheSegmentWouldPassSegmentBytes() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 4096
        let log = try Log.open(directory: dir.sub("t-0"), config: config)
        var sizes: [Int] = []
        for i in 0..<40 {
            let batch = makeBatch(count: 3, first: i * 3, valueSize: 100)
            sizes.append(batch.count)
            _ = try batch.withUnsafeBytes { try log.append($0) }
        }
        #expect(log.segmentCount >= sizes.reduce(0, +) / 4096)
        #expect(log.segmentCount >= 4)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.sub("t-0")).filter { $0.hasSuffix(".log") }.sorted()
        #expect(files.count == log.segmentCount)
        #expect(files.allSatisfy { $0.count == 24 })
        for base in log.segmentBaseOffsets {
            let size = try FileManager.default.attributesOfItem(atPath: dir.sub("t-0/\(LogSegment.fileName(base, "log"))"))[.size] as! Int
            #expect(size <= 4096)
        }
        #expect(try log.readAllRecords().count == 120)
    }

    /// As Kafka: `segment.ms` counts from the first batch's timestamp to the incoming batch's, so replaying old
    /// data does not roll on every append.
    @Test func rollsWhenIncomingTimestampsPassSegmentMsFromTheFirstBatch() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var config = LogConfig()
        config.segmentMs = 60_000
        let log = try Log.open(directory: dir.sub("t-0"), config: config, clock: clock.clock)
        let old: Int64 = 1_000_000  // long ago by the wall clock
        _ = try makeBatch(count: 1, timestamp: old).withUnsafeBytes { try log.append($0) }
        _ = try makeBatch(count: 1, timestamp: old + 30_000).withUnsafeBytes { try log.append($0) }
        #expect(log.segmentCount == 1)
        _ = try makeBatch(count: 1, timestamp: old + 60_001).withUnsafeBytes { try log.append($0) }
        #expect(log.segmentBaseOffsets == [0, 2])
    }

    @Test func offsetForTimestampFindsTheFirstRecordAtOrAfterIt() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1024
        config.indexIntervalBytes = 256
        let log = try Log.open(directory: dir.sub("t-0"), config: config)
        // Record i has timestamp 1000 + 10 * i.
        for b in 0..<50 {
            var builder = RecordBatchBuilder()
            for r in 0..<4 {
                let i = b * 4 + r
                builder.append(timestamp: 1000 + 10 * Int64(i), key: nil, value: Array("v\(i)".utf8))
            }
            _ = try builder.build().withUnsafeBytes { try log.append($0) }
        }
        #expect(log.segmentCount > 3)
        for i in stride(from: 0, to: 200, by: 7) {
            let exact = try log.offset(forTimestamp: 1000 + 10 * Int64(i))
            #expect(exact?.offset == Int64(i) && exact?.timestamp == 1000 + 10 * Int64(i))
            let between = try log.offset(forTimestamp: 1000 + 10 * Int64(i) - 5)
            #expect(between?.offset == Int64(i))
        }
        #expect(try log.offset(forTimestamp: 0)?.offset == 0)
        #expect(try log.offset(forTimestamp: 999_999) == nil)
    }

    @Test func logAppendTimeTopicsGetTheBrokerClockAndAValidCRC() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var config = LogConfig()
        config.messageTimestampType = .logAppendTime
        let log = try Log.open(directory: dir.sub("t-0"), config: config, clock: clock.clock)
        let result = try makeBatch(count: 3, timestamp: 5).withUnsafeBytes { try log.append($0) }
        #expect(result.logAppendTime == clock.clock())
        let bytes = try #require(try log.read(from: 0, maxBytes: 10_000).slice).readBytes()
        try bytes.withUnsafeBytes { buffer in
            let batch = try RecordBatch(validating: buffer)
            #expect(batch.timestampType == .logAppendTime && batch.maxTimestamp == clock.clock())
        }
        #expect(try log.readAllRecords().allSatisfy { $0.timestamp == clock.clock() })
    }

    @Test func badAppendsAreRefusedWithTypedErrorsAndLeaveTheLogUnchanged() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.maxMessageBytes = 2000
        config.cleanupPolicy = .compact
        let log = try Log.open(directory: dir.sub("t-0"), config: config)
        _ = try makeBatch(count: 2).withUnsafeBytes { try log.append($0) }
        let sizeBefore = log.size

        #expect {
            try makeBatch(count: 1, valueSize: 3000).withUnsafeBytes { try log.append($0) }
        } throws: { if case LogError.batchTooLarge(batch: 0, _, limit: 2000) = $0 { true } else { false } }

        var corrupt = makeBatch(count: 2)
        corrupt[corrupt.count - 1] ^= 0xFF
        #expect {
            try corrupt.withUnsafeBytes { try log.append($0) }
        } throws: { if case LogError.invalidBatch(batch: 0, reason: .crcMismatch) = $0 { true } else { false } }

        var nullKey = RecordBatchBuilder()
        nullKey.append(timestamp: 1, key: nil, value: [1])
        #expect {
            try nullKey.build().withUnsafeBytes { try log.append($0) }
        } throws: { error in
            guard case LogError.invalidRecord(batch: 0, let reason) = error else { return false }
            return reason.contains("without a key")
        }

        let marker = ControlRecord(kind: .commit)
        var control = RecordBatchBuilder(producerId: 1, producerEpoch: 0, isTransactional: true, isControl: true)
        control.append(timestamp: 1, key: marker.keyBytes, value: marker.valueBytes)
        #expect(throws: LogError.self) { try control.build().withUnsafeBytes { try log.append($0) } }

        // Two batches where the second is torn: nothing of either is written.
        let good = makeBatch(count: 2)
        let torn = good + makeBatch(count: 2).prefix(30)
        #expect {
            try torn.withUnsafeBytes { try log.append($0) }
        } throws: { if case LogError.invalidBatch(batch: 1, _) = $0 { true } else { false } }

        #expect(log.size == sizeBefore)
        #expect(log.logEndOffset == 2)
    }

    @Test func appendsOfSeveralBatchesAtOnceGetConsecutiveOffsets() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        let bytes = makeBatch(count: 3) + makeBatch(count: 2, first: 3, codec: .none) + makeBatch(count: 4, first: 5)
        let result = try bytes.withUnsafeBytes { try log.append($0) }
        #expect(result.firstOffset == 0 && result.lastOffset == 8 && result.batchCount == 3)
        #expect(try log.readAllRecords().map(\.offset) == Array(0...8))
    }

    @Test func reopeningAfterACleanCloseKeepsEverything() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 3000
        do {
            let log = try Log.open(directory: dir.sub("t-0"), config: config)
            for i in 0..<30 { _ = try makeBatch(count: 2, first: i * 2, valueSize: 50).withUnsafeBytes { try log.append($0) } }
            try log.close()
            #expect(throws: LogError.self) { try log.read(from: 0, maxBytes: 10) }
        }
        let reopened = try Log.open(directory: dir.sub("t-0"), config: config, cleanShutdown: true)
        #expect(reopened.logEndOffset == 60)
        #expect(reopened.openReport.segmentsRecovered == 0)
        _ = try makeBatch(count: 2, first: 60).withUnsafeBytes { try reopened.append($0) }
        #expect(try reopened.readAllRecords().map(\.offset) == Array(0..<62))
    }

    @Test func truncateRemovesWholeBatchesFromTheOffset() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1000
        let log = try Log.open(directory: dir.sub("t-0"), config: config)
        for i in 0..<20 { _ = try makeBatch(count: 5, first: i * 5, valueSize: 20).withUnsafeBytes { try log.append($0) } }
        let segmentsBefore = log.segmentCount
        // Offset 52 is inside batch 50...54: that batch goes whole.
        #expect(try log.truncate(to: 52) == 50)
        #expect(log.logEndOffset == 50)
        #expect(log.segmentCount < segmentsBefore)
        #expect(try log.readAllRecords().map(\.offset) == Array(0..<50))
        // The log keeps working after truncation, from the new end.
        let next = try makeBatch(count: 3).withUnsafeBytes { try log.append($0) }
        #expect(next.firstOffset == 50)
        #expect(try log.readAllRecords().map(\.offset) == Array(0..<53))
        #expect(try log.truncate(to: 0) == 0)
        #expect(log.logEndOffset == 0 && log.size == 0)
    }

    @Test func rawAppendsKeepTheirOffsetsIncludingGaps() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        var builder = RecordBatchBuilder(baseOffset: 100)
        builder.append(timestamp: 1, key: [1], value: [1])
        builder.append(offsetDelta: 5, timestamp: 2, key: [2], value: [2])
        let result = try builder.build().withUnsafeBytes { try log.append($0, origin: .raw) }
        #expect(result.firstOffset == 100 && result.lastOffset == 105)
        #expect(log.logEndOffset == 106)
        // Going backwards is refused.
        var back = RecordBatchBuilder(baseOffset: 50)
        back.append(timestamp: 1, key: nil, value: [1])
        #expect(throws: LogError.self) { try back.build().withUnsafeBytes { try log.append($0, origin: .raw) } }
    }

    @Test func deleteRecordsMovesTheStartAndReadsBelowItFail() throws {
        let dir = TemporaryDirectory()
        let log = try Log.open(directory: dir.sub("t-0"))
        for i in 0..<5 { _ = try makeBatch(count: 4, first: i * 4).withUnsafeBytes { try log.append($0) } }
        #expect(try log.deleteRecords(before: 6) == 6)
        #expect(log.logStartOffset == 6)
        #expect(throws: LogError.self) { try log.read(from: 5, maxBytes: 100) }
        // Reading at the start returns the batch holding it; records below the start are skipped by consumers.
        #expect(try log.readAllRecords().first?.offset == 6)
        // Never backwards, never past the end.
        #expect(try log.deleteRecords(before: 2) == 6)
        #expect(throws: LogError.self) { try log.deleteRecords(before: 21) }
        #expect(try log.deleteRecords(before: 20) == 20)
    }
}
