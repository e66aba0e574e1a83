import Foundation
import SamsaLog

/// Deterministic bytes for codec tests: JSON-like records, and the samples round-tripped (SplitMix64 is in
/// TestSupport.swift).
enum TestBytes {
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            let word = generator.next()
            for shift in stride(from: 0, to: 64, by: 8) where i < count {
                bytes[i] = UInt8(truncatingIfNeeded: word >> UInt64(shift))
                i += 1
            }
        }
        return bytes
    }

    /// Newline-separated records such as `{"id":17,"user":"u0453","event":"click","ts":1732400000170,...}`.
    static func json(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        let events = ["click", "view", "purchase", "scroll", "login", "logout"]
        let tags = ["mobile", "web", "eu", "us", "beta", "returning", "ad", "organic"]
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 200)
        var id = 0
        while bytes.count < count {
            let r = generator.next()
            let user = String(Int(r % 10_000)).leftPadded(to: 4)
            let tagCount = Int(r >> 20 % 4)
            let tagList = (0..<tagCount).map { "\"\(tags[Int((r >> UInt64(8 * $0 + 24)) % UInt64(tags.count))])\"" }
            let line = "{\"id\":\(id),\"user\":\"u\(user)\",\"event\":\"\(events[Int(r >> 40 % 6) % events.count])\","
                + "\"ts\":\(1_732_400_000_000 + id * 13 + Int(r % 7)),\"amount\":\(Int(r >> 50 % 10_000)),"
                + "\"tags\":[\(tagList.joined(separator: ","))]}\n"
            bytes.append(contentsOf: line.utf8)
            id += 1
        }
        return Array(bytes.prefix(count))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Inputs that every codec must round-trip: the edges (empty, one byte), each extreme of compressibility,
/// and sizes on and across the block sizes (snappy 32 KiB, LZ4 64 KiB).
enum Sample: String, CaseIterable, Sendable, CustomStringConvertible {
    case empty, oneByte, random64K, zeros256K, json16K, json32KPlusOne, json64K, json200K, random300K

    var bytes: [UInt8] {
        switch self {
        case .empty: []
        case .oneByte: [0x2A]
        case .random64K: TestBytes.random(64 * 1024, seed: 7)
        case .zeros256K: [UInt8](repeating: 0, count: 256 * 1024)
        case .json16K: TestBytes.json(16 * 1024)
        case .json32KPlusOne: TestBytes.json(32 * 1024 + 1)
        case .json64K: TestBytes.json(64 * 1024)
        case .json200K: TestBytes.json(200 * 1024 + 123)
        case .random300K: TestBytes.random(300 * 1024 + 7, seed: 11)
        }
    }

    var description: String { rawValue }
}

extension CompressionCodec {
    static let compressed: [CompressionCodec] = allCases.filter { $0 != .none }
}

/// Runs command-line tools (`lz4`, `zstd`, `gzip`) when they are installed.
enum CLI {
    static func available(_ tool: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
    }

    /// Runs `command` with /bin/sh in a fresh directory holding `input` as `in.bin`; returns `out.bin`.
    static func run(_ command: String, input: [UInt8]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("samsa-codec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(input).write(to: directory.appendingPathComponent("in.bin"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = directory
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CLIFailure(command: command, status: process.terminationStatus) }
        return [UInt8](try Data(contentsOf: directory.appendingPathComponent("out.bin")))
    }

    struct CLIFailure: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        var description: String { "`\(command)` exited with status \(status)" }
    }
}
