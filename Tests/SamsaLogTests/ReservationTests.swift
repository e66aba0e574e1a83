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
        for _ in 0..<20 { _ = try batch.withUnsafeBytes { try log.append($0) } }
        let first = path + "/" + LogSegment.fileName(0, "log")
        var (size, allocated) = try Self.usage(first)
        #expect(size == Int64(20 * batch.count) && size == log.size)
        if reserves {
            #expect(allocated >= LogSegment.minimumReservation, "\(allocated) bytes allocated for \(size) of data")
        }

        try log.roll()
        (size, allocated) = try Self.usage(first)
        #expect(size == Int64(20 * batch.count))
        #expect(allocated < size + (64 << 10), "\(allocated) bytes still allocated for \(size) of data after the roll")

        for _ in 0..<5 { _ = try batch.withUnsafeBytes { try log.append($0) } }
        let second = path + "/" + LogSegment.fileName(Int64(20 * records), "log")
        if reserves { #expect(try Self.usage(second).allocated >= LogSegment.minimumReservation) }
        try log.close()
        (size, allocated) = try Self.usage(second)
        #expect(size == Int64(5 * batch.count))
        #expect(allocated < size + (64 << 10), "\(allocated) bytes still allocated for \(size) of data after close")

        let reopened = try Log.open(directory: path)
        #expect(reopened.logEndOffset == Int64(25 * records))
        #expect(try reopened.readAllRecords().count == 25 * records)
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
