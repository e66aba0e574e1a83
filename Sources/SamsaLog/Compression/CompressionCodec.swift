/// The compression codec of a record batch: the low three bits of its attributes.
///
/// ```swift
/// let codec = CompressionCodec(name: "lz4")!   // .lz4, attribute bits 3
/// ```
public enum CompressionCodec: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    /// The name Kafka uses for the codec (`compression.type`, `--compression-codec`).
    public var name: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    /// Parses Kafka's codec names (case-insensitive); `nil` for anything else.
    public init?(name: String) {
        guard let codec = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = codec
    }

    public var description: String { name }
}
