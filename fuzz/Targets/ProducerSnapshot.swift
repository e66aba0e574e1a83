// Fuzz target `producer_snapshot`: the producer state snapshot parser (Kafka's `<offset>.snapshot` format: version,
// CRC32C, 46-byte entries). Each input is tried as given and with its CRC made right (so the entries are parsed);
// a snapshot that loads is written back by the manager and must load again to the same state.
@testable import SamsaLog

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProducerSnapshot(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
    _ = ProducerStateManager.parseSnapshot(bytes)
    guard bytes.count >= 10 else { return 0 }
    let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[6...])) }
    for i in 0..<4 { bytes[2 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
    guard let parsed = ProducerStateManager.parseSnapshot(bytes) else { return 0 }
    // Through the manager: load from a file, snapshot again, load again.
    let fs = SimulatedFileSystem(seed: 1)
    do {
        try fs.createDirectory("/p")
        let path = "/p/" + ProducerStateManager.snapshotName(0)
        let file = try fs.openFile(path, create: true)
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        let manager = ProducerStateManager(directory: "/p", fileSystem: fs)
        let loaded = try manager.loadLatestSnapshot(atOrBelow: .max)
        precondition(loaded == 0, "a valid snapshot did not load")
        precondition(manager.producers == parsed, "the manager loaded other entries than the parser returned")
        try manager.takeSnapshot()
        let written = try fs.openFile(path, create: false).read(count: 1 << 22, at: 0)
        let again = ProducerStateManager.parseSnapshot(written)
        precondition(again == parsed, "producer state changed in a snapshot round trip")
    } catch {
        preconditionFailure("snapshot round trip failed: \(error)")
    }
    return 0
}
