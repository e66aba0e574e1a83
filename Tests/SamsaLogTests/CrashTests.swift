import Foundation
import Testing

/// A child process appends with fsync and is killed with SIGKILL at random moments; after each kill, reopening
/// the log recovers it, and every append that had returned is there, byte for byte, ending on a batch boundary.
@Suite struct CrashTests {
    /// The SamsaTorture executable built beside the test bundle.
    static var tortureBinary: String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [here, here.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("SamsaTorture").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/SamsaTorture").path
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tortureBinary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func everyFlushedAppendSurvivesSIGKILL() throws {
        try killAppendingChildren(seed: 0xC4A5)
    }

    /// The same through a LogAppender: what a completion acknowledged survives, while batches still queued or
    /// being written when the kill comes may be lost (they were never acknowledged).
    @Test func everyAppendAFlushingAppenderAcknowledgedSurvivesSIGKILL() throws {
        try killAppendingChildren(seed: 0xA99E, extra: ["--appender"])
    }

    func killAppendingChildren(seed: UInt64, extra: [String] = []) throws {
        let dir = TemporaryDirectory()
        let path = dir.sub("crash-0")
        var rng = SplitMix64(seed: seed)
        var lastAcked: Int64 = -1
        for round in 0..<6 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.tortureBinary)
            process.arguments = ["append-loop", path, "--flush", "--segment-bytes", "20000"] + extra
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            // Wait for its first acknowledgement (opening recovers the previous round's log, which takes a
            // while on a loaded machine), let it run for a random while more, then kill it mid-flight.
            var data = Data()
            while !String(decoding: data, as: UTF8.self).contains("acked") {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                data.append(chunk)
            }
            usleep(UInt32(50_000 + rng.next() % 300_000))
            kill(process.processIdentifier, SIGKILL)
            data.append(pipe.fileHandleForReading.readDataToEndOfFile())
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round)")
            let acks = String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line -> Int64? in
                line.hasPrefix("acked ") ? Int64(line.dropFirst(6)) : nil
            }
            #expect(!acks.isEmpty, "round \(round): the child acknowledged nothing")
            lastAcked = max(lastAcked, acks.last ?? -1)
            let verify = try Self.run(["verify", path, "--acked", "\(lastAcked)"])
            #expect(verify.status == 0, "round \(round): \(verify.output)")
        }
        #expect(lastAcked > 100)
    }
}
