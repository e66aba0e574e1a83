import Foundation
@testable import SamsaLog

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = "samsa-test") {
        let template = NSTemporaryDirectory() + "\(label)-XXXXXX"
        var bytes = Array(template.utf8CString)
        let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: bytes)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ name: String) -> String { path + "/" + name }

    /// Copies a fixture set's partition directory in, returning the copy's path.
    func copyFixture(_ set: String) throws -> (path: String, manifest: Manifest) {
        let manifest = try Fixtures.manifest(set)
        let source = Fixtures.partitionDirectory(set, manifest)
        let target = sub(source.lastPathComponent)
        try FileManager.default.copyItem(atPath: source.path, toPath: target)
        // Fixture files are read-only in the source tree; the log must be able to rewrite them.
        for name in try FileManager.default.contentsOfDirectory(atPath: target) {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target + "/" + name)
        }
        return (target, manifest)
    }
}

/// A small seeded generator, so that a failure names a seed that replays it.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}
