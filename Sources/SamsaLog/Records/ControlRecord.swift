/// A transaction marker: the single record of a control batch (attribute bit 5).
///
/// Key: `version int16 (0), type int16` (0 = abort, 1 = commit). Value: `version int16 (0), coordinatorEpoch int32`.
/// Control batches are decoded and kept, never rejected: consumers skip them, the cleaner keeps them as
/// Kafka does.
public struct ControlRecord: Sendable, Equatable {
    public enum Kind: Int16, Sendable, CustomStringConvertible {
        case abort = 0
        case commit = 1
        public var description: String { self == .abort ? "ABORT" : "COMMIT" }
    }

    public var kind: Kind
    public var version: Int16
    public var coordinatorEpoch: Int32?

    public init(kind: Kind, version: Int16 = 0, coordinatorEpoch: Int32? = 0) {
        self.kind = kind
        self.version = version
        self.coordinatorEpoch = coordinatorEpoch
    }

    /// Decodes a control record from its key (and value, when present).
    public init(record: Record) throws(RecordBatchError) {
        guard let key = record.key, key.count >= 4 else {
            throw .invalidControlRecord(reason: "key of \(record.key?.count ?? -1) bytes, expected 4")
        }
        let version = key.loadBigEndian(at: 0, as: Int16.self)
        let type = key.loadBigEndian(at: 2, as: Int16.self)
        guard let kind = Kind(rawValue: type) else { throw .invalidControlRecord(reason: "unknown control type \(type)") }
        self.kind = kind
        self.version = version
        if let value = record.value, value.count >= 6 {
            coordinatorEpoch = value.loadBigEndian(at: 2, as: Int32.self)
        } else {
            coordinatorEpoch = nil
        }
    }

    /// The key bytes of this marker.
    public var keyBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(version)
        bytes.appendBigEndian(kind.rawValue)
        return bytes
    }

    /// The value bytes of this marker.
    public var valueBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(Int16(0))
        bytes.appendBigEndian(coordinatorEpoch ?? 0)
        return bytes
    }
}
