import Foundation
import Testing
@testable import SamsaLog

/// The cleaner killed with SIGKILL in a child process (SamsaTorture) at every phase of a swap: the reopened log
/// holds exactly the old content or exactly the cleaned one, as the phase dictates, never a mix and never a
/// loss; and a cleaner killed at random moments while it appends and cleans leaves a log that still holds
/// every key's latest record.
@Suite(.serialized) struct CleanerCrashTests {
    typealias Content = [(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8]?)]

    static let topic = "compacted"
    static let now: Int64 = 1_700_000_000_000

    /// SamsaTorture's clean-once defaults, so the child and the test clean alike.
    static func config(segmentBytes: Int) -> LogConfig {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = segmentBytes
        config.minCleanableDirtyRatio = 0
        config.deleteRetentionMs = 2_000
        return config
    }

    /// A data directory holding `segments` closed segments of keyed records (tombstones and codecs mixed) and an
    /// active one.
    static func build(_ dir: String, segments: Int, segmentBytes: Int, seed: UInt64) throws {
        let config = config(segmentBytes: segmentBytes)
        let manager = try LogManager.open(dataDirectory: dir, configFor: { _ in config }, clock: { now }, backgroundIntervalMs: nil)
        let log = try manager.getOrCreateLog(TopicPartition(topic, 0), config: config)
        var rng = SplitMix64(seed: seed)
        let codecs = CompressionCodec.allCases
        for segment in 0...segments {
            for batch in 0..<25 {
                var builder = RecordBatchBuilder(codec: codecs[Int(rng.next() % UInt64(codecs.count))])
                for i in 0..<(1 + Int(rng.next() % 6)) {
                    let key = Array("key-\(rng.next() % 30)".utf8)
                    let value: [UInt8]? = rng.next() % 10 == 0 ? nil : Array("value-\(segment)-\(batch)-\(i)".utf8)
                    builder.append(timestamp: now - 10_000 + Int64(batch), key: key, value: value)
                }
                _ = try builder.build().withUnsafeBytes { try log.append($0) }
            }
            if segment < segments { try log.roll() }
        }
        try manager.close()
    }

    /// Opens the directory (recovering it) and returns its content and the log's segment bases.
    static func content(_ dir: String, segmentBytes: Int) throws -> (records: Content, bases: [Int64], leftovers: [String]) {
        let config = config(segmentBytes: segmentBytes)
        let manager = try LogManager.open(dataDirectory: dir, configFor: { _ in config }, clock: { now }, backgroundIntervalMs: nil)
        let log = try #require(manager.log(TopicPartition(topic, 0)))
        let records = try log.readAllRecords()
        let bases = log.segmentBaseOffsets
        try manager.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/\(topic)-0")
        return (records, bases, names.filter { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") })
    }

    /// Cleans in this process, to completion: the content a finished cleaning leaves.
    static func cleanInProcess(_ dir: String, segmentBytes: Int) throws {
        let config = config(segmentBytes: segmentBytes)
        var cleaner = CleanerConfig()
        cleaner.dedupeBufferSize = 1 << 20
        let manager = try LogManager.open(
            dataDirectory: dir, configFor: { _ in config }, clock: { now }, backgroundIntervalMs: nil, cleanerConfig: cleaner)
        _ = try manager.cleaner.clean(try #require(manager.log(TopicPartition(topic, 0))))
        try manager.close()
    }

    static func same(_ a: Content, _ b: Content) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy { $0.offset == $1.offset && $0.timestamp == $1.timestamp && $0.key == $1.key && $0.value == $1.value }
    }

    static func runChild(_ arguments: [String]) throws -> (reason: Process.TerminationReason, status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CrashTests.tortureBinary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// One group: a crash before the commit point leaves the old content, at or after it the cleaned content.
    @Test(arguments: CleanerPhase.allCases)
    func aCleanerKilledAtAnyPhaseLeavesTheOldOrTheNewContent(phase: CleanerPhase) throws {
        let segmentBytes = 1 << 20  // every closed segment fits one group
        let dir = TemporaryDirectory()
        let crashed = dir.sub("crashed")
        let finished = dir.sub("finished")
        try Self.build(crashed, segments: 4, segmentBytes: segmentBytes, seed: 5)
        try FileManager.default.copyItem(atPath: crashed, toPath: finished)
        let old = try Self.content(crashed, segmentBytes: segmentBytes)
        try Self.cleanInProcess(finished, segmentBytes: segmentBytes)
        let new = try Self.content(finished, segmentBytes: segmentBytes)
        #expect(new.records.count < old.records.count)
        #expect(new.bases.count == 2)

        let child = try Self.runChild([
            "clean-once", crashed, "--segment-bytes", "\(segmentBytes)", "--now", "\(Self.now)", "--crash-at", phase.rawValue,
        ])
        #expect(child.reason == .uncaughtSignal && child.status == SIGKILL, "\(phase): \(child.output)")
        let after = try Self.content(crashed, segmentBytes: segmentBytes)
        let expected = phase.leavesNewContent ? new : old
        let matches = Self.same(after.records, expected.records)
        #expect(matches, "\(phase): \(after.records.count) records, expected \(expected.records.count)")
        #expect(after.bases == expected.bases, "\(phase)")
        #expect(after.leftovers.isEmpty, "\(phase): \(after.leftovers)")
        // Cleaning again converges on the cleaned content.
        try Self.cleanInProcess(crashed, segmentBytes: segmentBytes)
        let converged = Self.same(try Self.content(crashed, segmentBytes: segmentBytes).records, new.records)
        #expect(converged, "\(phase)")
    }

    /// Several groups, killed in the second: the groups before it are cleaned, the ones after it are not, and
    /// the second is old or new as the phase dictates.
    @Test(arguments: CleanerPhase.allCases.filter { $0 != .checkpointed })
    func aCleanerKilledInTheSecondGroupLeavesWholeGroupsOldOrNew(phase: CleanerPhase) throws {
        let segmentBytes = 2_500
        let dir = TemporaryDirectory()
        let crashed = dir.sub("crashed")
        let finished = dir.sub("finished")
        try Self.build(crashed, segments: 8, segmentBytes: segmentBytes, seed: 11)
        try FileManager.default.copyItem(atPath: crashed, toPath: finished)
        let old = try Self.content(crashed, segmentBytes: segmentBytes)
        try Self.cleanInProcess(finished, segmentBytes: segmentBytes)
        let new = try Self.content(finished, segmentBytes: segmentBytes)
        // The cleaned log's segment bases are the groups' bases.
        let groups = Array(new.bases.dropLast())
        try #require(groups.count >= 3, "expected several groups, got bases \(new.bases)")

        let child = try Self.runChild([
            "clean-once", crashed, "--segment-bytes", "\(segmentBytes)", "--now", "\(Self.now)", "--crash-at", phase.rawValue,
            "--occurrence", "2",
        ])
        #expect(child.reason == .uncaughtSignal && child.status == SIGKILL, "\(phase): \(child.output)")
        let after = try Self.content(crashed, segmentBytes: segmentBytes)
        let boundary = phase.leavesNewContent ? groups[2] : groups[1]
        let expected = new.records.filter { $0.offset < boundary } + old.records.filter { $0.offset >= boundary }
        let matches = Self.same(after.records, expected)
        #expect(matches, "\(phase): \(after.records.count) records, expected \(expected.count)")
        #expect(after.leftovers.isEmpty, "\(phase): \(after.leftovers)")
        try Self.cleanInProcess(crashed, segmentBytes: segmentBytes)
        let converged = Self.same(try Self.content(crashed, segmentBytes: segmentBytes).records, new.records)
        #expect(converged, "\(phase)")
    }

    /// clean-loop appends and cleans until it is killed at a random moment; clean-verify then checks every
    /// record, every key's latest record, everything past the clean point and everything acknowledged.
    @Test func aCleanerKilledAtRandomMomentsLosesNothing() throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 0xC1EA)
        var lastAcked: Int64 = -1
        var cleanings = 0
        // At least 6 kills; more while the child has not yet cleaned often enough (a loaded machine slows it).
        var round = 0
        while round < 6 || ((cleanings <= 10 || lastAcked <= 1_000) && round < 40) {
            defer { round += 1 }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CrashTests.tortureBinary)
            process.arguments = ["clean-loop", dir.path, "--seed", "3", "--keys", "40", "--segment-bytes", "4096"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(150_000 + rng.next() % 400_000))
            kill(process.processIdentifier, SIGKILL)
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round)")
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
            let acks = lines.compactMap { $0.hasPrefix("acked ") ? Int64($0.dropFirst(6)) : nil }
            cleanings += lines.filter { $0.hasPrefix("cleaned ") }.count
            lastAcked = max(lastAcked, acks.last ?? -1)
            let verify = try Self.runChild(["clean-verify", dir.path, "--seed", "3", "--keys", "40", "--acked", "\(lastAcked)"])
            #expect(verify.status == 0, "round \(round): \(verify.output)")
        }
        #expect(lastAcked > 1_000)
        #expect(cleanings > 10)
    }
}
