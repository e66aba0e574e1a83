import Foundation
import SamsaLog

/// The Kafka-format fixture sets in the repository's `fixtures/` folder (see fixtures/README.md for provenance).
enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    static let allSets = [
        "none-multiseg", "gzip", "lz4", "snappy-xerial", "zstd", "mixed-codecs", "compact-keys", "idempotent",
        "transactions", "log-append-time", "torn-tail", "corrupt-crc",
    ]
    /// Sets without deliberate damage.
    static let intactSets = allSets.filter { $0 != "torn-tail" && $0 != "corrupt-crc" }

    static func manifest(_ set: String) throws -> Manifest {
        let data = try Data(contentsOf: root.appendingPathComponent(set).appendingPathComponent("manifest.json"))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    static func partitionDirectory(_ set: String, _ manifest: Manifest) -> URL {
        root.appendingPathComponent(set).appendingPathComponent("\(manifest.topic)-\(manifest.partition)")
    }

    static func segmentBytes(_ set: String, _ manifest: Manifest, segment: String, ext: String = "log") throws -> [UInt8] {
        let url = partitionDirectory(set, manifest).appendingPathComponent("\(segment).\(ext)")
        return [UInt8](try Data(contentsOf: url))
    }
}

struct Manifest: Decodable {
    var set: String
    var topic: String
    var partition: Int
    var segment_bytes: Int
    var index_interval_bytes: Int
    var cleanup_policy: String
    var log_end_offset: Int64
    var segments: [String]
    var index_entries: [String: IndexEntries]
    var batches: [Batch]
    var damage: String?
    var expected_after_recovery: ExpectedAfterRecovery?

    struct IndexEntries: Decodable {
        var index: [[Int64]]
        var timeindex: [[Int64]]
    }

    struct ExpectedAfterRecovery: Decodable {
        var log_end_offset: Int64
        var truncated_segment: String
        var valid_bytes: Int
        var why: String
    }

    struct Batch: Decodable {
        var base_offset: Int64
        var last_offset: Int64
        var segment: String
        var position: Int
        var size: Int
        var codec: String
        var producer_id: Int64
        var producer_epoch: Int16
        var base_sequence: Int32
        var transactional: Bool
        var control: Bool
        var control_type: String?
        var timestamp_type: String
        var records: [Record]
    }

    struct Record: Decodable {
        var offset: Int64
        var timestamp: Int64
        var key_b64: String?
        var value_b64: String?
        var headers: [[String?]]
        var value_len: Int?
        var value_sha256: String?

        var key: [UInt8]? { key_b64.map { [UInt8](Data(base64Encoded: $0)!) } }
        var value: [UInt8]? { value_b64.map { [UInt8](Data(base64Encoded: $0)!) } }
        var headerPairs: [(String, [UInt8]?)] {
            headers.map { ($0[0]!, $0[1].map { [UInt8](Data(base64Encoded: $0)!) }) }
        }
    }
}
