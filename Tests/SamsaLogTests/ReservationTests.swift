import Foundation
import Testing
@testable import SamsaLog

/// The active segment's disk blocks are reserved ahead of the appends (`LogFile.reserve`) and released when the
/// segment stops being active; the file's size is always exactly its data, so nothing else can tell.
@Suite struct ReservationTests {
    /// (size in bytes, bytes of disk blocks allocated) of a file.
    static func usage(_ path: String) throws -> (size: Int64, allocated: Int64) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw POSIXError(.ENOENT) }
        return (Int64(info.st_size), Int64(info.st_blocks) * 512)
    }

    @Test func blocksAreReservedAheadOfTheDataAndReleasedAtRollAndClose() throws {
        let dir = TemporaryDirectory()
        // Whether this file system can reserve at all (ext4, XFS, Btrfs and tmpfs can); where it cannot, only the
        // sizes and contents are checked.
        let probe = try PosixFileSystem().openFile(dir.sub("probe"), create: true)
        let reserves = probe.reserve(1 << 20, at: 0)
        try PosixFileSystem().removeFile(dir.sub("probe"))

        let (batch, records) = Bench.makeBatch(recordSize: 100, batchBytes: 16 << 10)
        let path = dir.sub("p-0")
        let log = try Log.open(directory: path)
        // A small segment reserves nothing (a quiet partition holds no blocks beyond its data)...
        for _ in 0..<20 { _ = try batch.withUnsafeBytes { try log.append($0) } }
        let first = path + "/" + LogSegment.fileName(0, "log")
        var (size, allocated) = try Self.usage(first)
        #expect(size == Int64(20 * batch.count) && size == log.size)
        #expect(allocated < size + (64 << 10), "\(allocated) bytes allocated for \(size) of data")
        // ...one past 1 MiB does.
        for _ in 20..<80 { _ = try batch.withUnsafeBytes { try log.append($0) } }
        (size, allocated) = try Self.usage(first)
        #expect(size == Int64(80 * batch.count) && size == log.size)
        if reserves {
            #expect(allocated >= size + (512 << 10), "\(allocated) bytes allocated for \(size) of data")
        }

        try log.roll()
        (size, allocated) = try Self.usage(first)
        #expect(size == Int64(80 * batch.count))
        #expect(allocated < size + (64 << 10), "\(allocated) bytes still allocated for \(size) of data after the roll")

        for _ in 0..<70 { _ = try batch.withUnsafeBytes { try log.append($0) } }
        let second = path + "/" + LogSegment.fileName(Int64(80 * records), "log")
        if reserves { #expect(try Self.usage(second).allocated >= Int64(70 * batch.count) + (512 << 10)) }
        try log.close()
        (size, allocated) = try Self.usage(second)
        #expect(size == Int64(70 * batch.count))
        #expect(allocated < size + (64 << 10), "\(allocated) bytes still allocated for \(size) of data after close")

        let reopened = try Log.open(directory: path)
        #expect(reopened.logEndOffset == Int64(150 * records))
        #expect(try reopened.readAllRecords().count == 150 * records)
        try reopened.close()
    }

    @Test func theReservationStepGrowsWithTheSegmentWithinItsBounds() throws {
        let dir = TemporaryDirectory()
        let probe = try PosixFileSystem().openFile(dir.sub("probe"), create: true)
        guard probe.reserve(1 << 20, at: 0) else { return }  // nothing to see where blocks cannot be reserved
        let (batch, _) = Bench.makeBatch(recordSize: 100, batchBytes: 1 << 20)
        let path = dir.sub("p-0")
        var config = LogConfig()
        config.maxMessageBytes = 2 << 20
        let log = try Log.open(directory: path, config: config)
        // 48 MiB of data: the step is then an eighth of the segment, 6 MiB, so what is allocated past the data
        // lies between 0 and about 6 MiB plus the last batch, far from the 64 MiB cap.
        for _ in 0..<48 { _ = try batch.withUnsafeBytes { try log.append($0) } }
        let (size, allocated) = try Self.usage(path + "/" + LogSegment.fileName(0, "log"))
        #expect(allocated >= size)
        #expect(allocated - size <= 8 << 20, "\(allocated - size) bytes reserved past \(size) of data")
        try log.close()
    }
}
