#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `manifest.json` of a fixture set (fixtures/README.md): every batch and record a Kafka-format partition
/// directory holds, written by the tool that made it. `replay --verify` checks a replayed log against it.
public struct FixtureManifest: Decodable, Sendable {
    public var set: String
    public var topic: String
    public var partition: Int32
    public var segment_bytes: Int?
    public var index_interval_bytes: Int?
    public var log_end_offset: Int64
    public var batches: [Batch]
    public var damage: String?
    public var expected_after_recovery: ExpectedAfterRecovery?

    public struct ExpectedAfterRecovery: Decodable, Sendable {
        public var log_end_offset: Int64
        public var truncated_segment: String
        public var valid_bytes: Int64
        public var why: String
    }

    public struct Batch: Decodable, Sendable {
        public var base_offset: Int64
        public var last_offset: Int64
        public var segment: String
        public var position: Int64
        public var size: Int
        public var codec: String
        public var producer_id: Int64
        public var producer_epoch: Int16
        public var base_sequence: Int32
        public var transactional: Bool
        public var control: Bool
        public var control_type: String?
        public var timestamp_type: String
        public var records: [Record]
    }

    public struct Record: Decodable, Sendable {
        public var offset: Int64
        public var timestamp: Int64
        public var key_b64: String?
        public var value_b64: String?
        /// `[key, value_b64 or null]` pairs.
        public var headers: [[String?]]
        /// For big values, instead of `value_b64`.
        public var value_len: Int?
        public var value_sha256: String?
    }

    /// The log end offset a replay (or a recovery) of this set must reach: before the damage, if any.
    public var expectedLogEndOffset: Int64 { expected_after_recovery?.log_end_offset ?? log_end_offset }

    /// Reads and decodes `path`.
    public static func load(_ path: String, fileSystem: any FileSystem = PosixFileSystem()) throws(ReplayError) -> FixtureManifest {
        let bytes: [UInt8]
        do {
            let file = try fileSystem.openFile(path, create: false)
            let size = try file.size()
            guard size <= 1 << 30 else { throw ReplayError.manifest(path: path, reason: "\(size) bytes is too large") }
            bytes = try file.read(count: Int(size), at: 0)
        } catch let error as FileSystemError {
            throw .io(error)
        } catch let error as ReplayError {
            throw error
        } catch {
            preconditionFailure("\(error)")
        }
        do {
            return try JSONDecoder().decode(FixtureManifest.self, from: Data(bytes))
        } catch {
            throw .manifest(path: path, reason: "\(error)")
        }
    }
}
