// Fuzz target `checkpoint`: Kafka's offset checkpoint file parser (recovery-point-offset-checkpoint and friends).
// Whatever parses is written back through OffsetCheckpointFile.write (on a simulated file system) and must read
// back equal.
@testable import SamsaLog

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    guard let entries = try? OffsetCheckpointFile.parse(text, path: "fuzz") else { return 0 }
    let fs = SimulatedFileSystem(seed: 1)
    let file = OffsetCheckpointFile(path: "/checkpoint", fileSystem: fs)
    do {
        try file.write(entries)
        let again = try file.read()
        precondition(again == entries, "checkpoint entries changed in a round trip: \(entries) -> \(again)")
    } catch {
        preconditionFailure("parsed checkpoint entries do not round-trip: \(error)")
    }
    return 0
}
