import Foundation
import Testing
@testable import SamsaLog

/// The simulated file system's own contract: what a crash keeps, what faults do, and that a seed replays.
@Suite struct SimulationFileSystemTests {
    /// A file system with `/d` created and durable.
    static func make(seed: UInt64 = 1) throws -> SimulatedFileSystem {
        let fs = SimulatedFileSystem(seed: seed)
        try fs.createDirectory("/d")
        try fs.syncDirectory("/")
        return fs
    }

    static func write(_ file: any LogFile, _ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try file.write($0, at: offset) }
    }

    static func bytes(_ count: Int, _ value: UInt8) -> [UInt8] { [UInt8](repeating: value, count: count) }

    @Test func aCrashKeepingNothingUnsyncedLeavesExactlyWhatWasSynced() throws {
        let fs = try Self.make()
        let file = try fs.openFile("/d/a", create: true)
        try fs.syncDirectory("/d")
        try Self.write(file, Self.bytes(100, 1), at: 0)
        try file.sync()
        try Self.write(file, Self.bytes(50, 2), at: 100)
        try file.truncate(to: 120)
        #expect(fs.contents(of: "/d/a") == Self.bytes(100, 1) + Self.bytes(20, 2))
        fs.crash(.durableOnly)
        #expect(fs.contents(of: "/d/a") == Self.bytes(100, 1))
    }

    @Test func aCrashKeepingEverythingLeavesWhatReadersSaw() throws {
        let fs = try Self.make()
        let file = try fs.openFile("/d/a", create: true)
        try Self.write(file, Self.bytes(100, 1), at: 0)
        try fs.createDirectory("/d/sub")
        let seen = fs.contents(of: "/d/a")
        fs.crash(.everything)
        #expect(fs.contents(of: "/d/a") == seen)
        #expect(fs.isDirectory("/d/sub"))
    }

    /// Over many seeds, a random crash keeps the synced bytes plus a prefix of the later writes, the first one
    /// not kept whole possibly torn (cut at a byte, or some of its 512-byte sectors) — and each outcome shows up.
    @Test func randomCrashesKeepAPrefixOfTheUnsyncedWritesAndSometimesTearOne() throws {
        var sawNothing = false, sawEverything = false, sawTorn = false
        for seed in 0..<300 as Range<UInt64> {
            let fs = try Self.make(seed: seed)
            let file = try fs.openFile("/d/a", create: true)
            try fs.syncDirectory("/d")
            let synced = Self.bytes(700, 1)
            let first = (0..<1500).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
            let second = Self.bytes(900, 9)
            try Self.write(file, synced, at: 0)
            try file.sync()
            try Self.write(file, first, at: 700)
            try Self.write(file, second, at: 2200)
            fs.crash(.random)
            let after = try #require(fs.contents(of: "/d/a"), "seed \(seed)")
            let final = synced + first + second
            #expect(after.count >= synced.count && after.count <= final.count, "seed \(seed)")
            #expect(Array(after.prefix(700)) == synced, "seed \(seed)")
            // Every byte past the synced ones is the written byte or a zero (a sector that never landed).
            for i in 700..<after.count where after[i] != final[i] && after[i] != 0 {
                Issue.record("seed \(seed): byte \(i) is \(after[i]), neither written nor zero")
                break
            }
            if after == synced { sawNothing = true }
            if after == final { sawEverything = true }
            if fs.statistics.tornWrites > 0 { sawTorn = true }
        }
        #expect(sawNothing && sawEverything && sawTorn)
    }

    @Test func aFileWhoseDirectoryWasNotSyncedVanishesInACrash() throws {
        let fs = try Self.make()
        let file = try fs.openFile("/d/new", create: true)
        try Self.write(file, Self.bytes(10, 5), at: 0)
        try file.sync()  // the contents, not the name
        fs.crash(.durableOnly)
        #expect(!fs.fileExists("/d/new"))

        let again = try fs.openFile("/d/new", create: true)
        try Self.write(again, Self.bytes(10, 5), at: 0)
        try again.sync()
        try fs.syncDirectory("/d")
        fs.crash(.durableOnly)
        #expect(fs.contents(of: "/d/new") == Self.bytes(10, 5))
    }

    @Test func aRenameSurvivesAsTheOldNameOrTheNewNeverBothOrNeither() throws {
        var outcomes: Set<String> = []
        for seed in 0..<100 as Range<UInt64> {
            let fs = try Self.make(seed: seed)
            let old = try fs.openFile("/d/ckpt", create: true)
            try Self.write(old, Array("old".utf8), at: 0)
            try old.sync()
            try fs.syncDirectory("/d")
            let temporary = try fs.openFile("/d/ckpt.tmp", create: true)
            try Self.write(temporary, Array("new".utf8), at: 0)
            try temporary.sync()
            try fs.rename("/d/ckpt.tmp", to: "/d/ckpt")
            fs.crash(.random)
            let target = fs.contents(of: "/d/ckpt").map { String(decoding: $0, as: UTF8.self) }
            let temp = fs.contents(of: "/d/ckpt.tmp").map { String(decoding: $0, as: UTF8.self) }
            outcomes.insert("\(target ?? "-") \(temp ?? "-")")
            // The target always exists and holds whole contents; the new data is under exactly one name or none.
            #expect(target == "old" || target == "new", "seed \(seed)")
            #expect(!(target == "new" && temp != nil), "seed \(seed)")
        }
        #expect(outcomes.contains("new -") && outcomes.contains { $0.hasPrefix("old") })
    }

    /// Linux after a failed fsync: the dirty pages are marked clean and never written, though readers still see
    /// them; a later successful fsync writes only pages dirtied after the failure.
    @Test func aFailedSyncLosesItsPagesEvenAfterALaterSuccessfulSync() throws {
        var sawLoss = false
        for seed in 0..<40 as Range<UInt64> {
            let fs = try Self.make(seed: seed)
            let file = try fs.openFile("/d/a", create: true)
            try fs.syncDirectory("/d")
            try Self.write(file, Self.bytes(3 * 4096, 7), at: 0)
            fs.inject(.ioError, on: [.sync])
            #expect(throws: FileSystemError.self) { try file.sync() }
            try Self.write(file, Self.bytes(10, 8), at: 3 * 4096)  // dirties page 3 only
            try file.sync()
            let seen = try #require(fs.contents(of: "/d/a"))
            let durable = try #require(fs.durableContents(of: "/d/a"))
            #expect(durable.count == seen.count, "seed \(seed)")
            #expect(Array(durable[(3 * 4096)...]) == Self.bytes(10, 8), "seed \(seed): the page written after the failure is durable")
            if durable != seen { sawLoss = true }
            fs.crash(.durableOnly)
            #expect(fs.contents(of: "/d/a") == durable, "seed \(seed)")
        }
        #expect(sawLoss)
    }

    @Test func injectedWriteFaultsChangeNothingOrLandAProperPrefix() throws {
        let fs = try Self.make()
        let file = try fs.openFile("/d/a", create: true)
        try Self.write(file, Self.bytes(10, 1), at: 0)

        fs.inject(.ioError, on: [.write])
        let eio = #expect(throws: FileSystemError.self) { try Self.write(file, Self.bytes(100, 2), at: 10) }
        #expect(eio?.errno == EIO)
        #expect(fs.contents(of: "/d/a") == Self.bytes(10, 1))

        fs.inject(.noSpace, on: [.write])
        let full = #expect(throws: FileSystemError.self) { try Self.write(file, Self.bytes(100, 2), at: 10) }
        #expect(full?.isNoSpace == true)

        fs.inject(.shortWrite(errno: ENOSPC), on: [.write])
        let short = #expect(throws: FileSystemError.self) { try Self.write(file, Self.bytes(100, 2), at: 10) }
        #expect(short?.errno == ENOSPC)
        let after = try #require(fs.contents(of: "/d/a"))
        #expect(after.count > 10 && after.count < 110)
        #expect(after == Self.bytes(10, 1) + Self.bytes(after.count - 10, 2))

        // One-shot: the next write goes through.
        try Self.write(file, Self.bytes(5, 3), at: 200)
        #expect(fs.statistics.faultsInjected == 3)
    }

    @Test func aNumberedFaultHitsThatOperationOnly() throws {
        let fs = try Self.make()
        let file = try fs.openFile("/d/a", create: true)
        let next = fs.operationCount + 2
        fs.inject(.ioError, atOperation: next)
        try Self.write(file, [1], at: 0)  // next - 1
        #expect(throws: FileSystemError.self) { try file.sync() }  // next
        try file.sync()
        let journal = fs.recentOperations()
        #expect(journal.first { $0.number == next }?.kind == .sync)
        #expect(journal.first { $0.number == next }?.fault == .ioError)
    }

    @Test func faultsCanTargetAKindOnAPathAfterSkippingSome() throws {
        let fs = try Self.make()
        let a = try fs.openFile("/d/a.log", create: true)
        let b = try fs.openFile("/d/b.index", create: true)
        fs.inject(.ioError, on: [.write], pathContaining: ".index", skipping: 1)
        try Self.write(a, [1], at: 0)
        try Self.write(b, [1], at: 0)  // skipped
        try Self.write(a, [2], at: 1)
        #expect(throws: FileSystemError.self) { try Self.write(b, [2], at: 1) }
        try Self.write(b, [3], at: 1)
    }

    @Test func aCapacityLimitFailsWritesPastItWithENOSPC() throws {
        let fs = try Self.make()
        fs.capacityBytes = 1000
        let file = try fs.openFile("/d/a", create: true)
        try Self.write(file, Self.bytes(800, 1), at: 0)
        let error = #expect(throws: FileSystemError.self) { try Self.write(file, Self.bytes(300, 2), at: 800) }
        #expect(error?.isNoSpace == true)
        #expect(fs.contents(of: "/d/a")?.count == 1000)  // what fitted landed
        try file.truncate(to: 100)
        try Self.write(file, Self.bytes(300, 2), at: 100)
    }

    @Test func handlesFromBeforeACrashFailWithEBADF() throws {
        let fs = try Self.make()
        let file = try fs.openFile("/d/a", create: true)
        try fs.syncDirectory("/d")
        fs.crash()
        let error = #expect(throws: FileSystemError.self) { _ = try file.read(count: 1, at: 0) }
        #expect(error?.errno == EBADF)
        #expect(file.fileDescriptor == nil)
    }

    @Test func aRemovedFileStaysReadableThroughAnOpenHandle() throws {
        let fs = try Self.make()
        let file = try fs.openFile("/d/a", create: true)
        try Self.write(file, Self.bytes(10, 4), at: 0)
        try fs.removeFile("/d/a")
        #expect(!fs.fileExists("/d/a"))
        #expect(try file.read(count: 10, at: 0) == Self.bytes(10, 4))
        try fs.removeFile("/d/a")  // missing: not an error
    }

    @Test func directoriesBehaveAsPOSIXSays() throws {
        let fs = try Self.make()
        try fs.createDirectory("/d/x/y")
        _ = try fs.openFile("/d/x/y/f", create: true)
        #expect(Set(try fs.listDirectory("/d/x")) == ["y"])
        let notEmpty = #expect(throws: FileSystemError.self) { try fs.removeDirectory("/d/x/y") }
        #expect(notEmpty?.errno == ENOTEMPTY)
        let missing = #expect(throws: FileSystemError.self) { _ = try fs.openFile("/d/x/nope", create: false) }
        #expect(missing?.isNotFound == true)
        try fs.rename("/d/x", to: "/d/z")
        #expect(fs.fileExists("/d/z/y/f") && !fs.fileExists("/d/x"))
        try fs.removeFile("/d/z/y/f")
        try fs.removeDirectory("/d/z/y")
        #expect(fs.allFiles().isEmpty)
    }

    /// The same seed and the same operations give the same crash, byte for byte.
    @Test func aSeedReplaysExactly() throws {
        func run(_ seed: UInt64) throws -> [String: [UInt8]] {
            let fs = try Self.make(seed: seed)
            for name in ["a", "b", "c"] {
                let file = try fs.openFile("/d/" + name, create: true)
                for i in 0..<20 { try Self.write(file, Self.bytes(300, UInt8(i)), at: Int64(i * 300)) }
                if name == "b" { try file.sync() }
            }
            _ = try fs.listDirectory("/d")
            fs.crash()
            return Dictionary(uniqueKeysWithValues: fs.allFiles().map { ($0, fs.contents(of: $0)!) })
        }
        for seed in [3, 99, 12345] as [UInt64] {
            #expect(try run(seed) == run(seed))
        }
        #expect(try run(3) != run(4) || run(4) != run(5))
    }
}
