import NIOCore
@testable import SamsaProtocol

/// A message type that can make random values of itself, for round trips at every version.
protocol Arbitrary: KafkaMessage {
    static func arbitrary(version: Int16, _ g: inout Gen) -> Self
    /// The fields present at `version`, sorted by lower-cased name, as JSON text (kafka_python_vectors.py's form).
    func canonical(version: Int16) -> String
}

func canonString(_ s: String?) -> String { s.map { "\"\($0)\"" } ?? "null" }

func canonBytes(_ b: ByteBuffer?) -> String {
    guard let b else { return "null" }
    return "\"hex:" + b.readableBytesView.map { hexByte($0) }.joined() + "\""
}

func canonPayload(_ p: RecordsPayload) -> String {
    guard case .bytes(let b) = p else { return "\"external\"" }
    return canonBytes(b)
}

func canonUuid(_ u: Uuid) -> String { "\"uuid:" + u.bytes.map { hexByte($0) }.joined() + "\"" }

func hexByte(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}

extension ByteBuffer {
    /// Bytes from a hex string (test vectors).
    init(hex: String) {
        self.init()
        var chars = Array(hex.utf8)[...]
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
        while chars.count >= 2 {
            writeInteger(nibble(chars.removeFirst()) << 4 | nibble(chars.removeFirst()))
        }
    }

    var hexString: String { readableBytesView.map { hexByte($0) }.joined() }
}

/// One generated message type, type-erased so tests can take all of them as arguments.
struct MessageCase: Sendable, CustomStringConvertible {
    let description: String
    let versions: ClosedRange<Int16>
    /// Random value at a version: its encoding, and the closures that decode and compare.
    let roundTrip: @Sendable (_ version: Int16, _ seed: UInt64) throws -> RoundTripResult
    /// Random value's encoding at a version.
    let encodeArbitrary: @Sendable (_ version: Int16, _ seed: UInt64) throws -> ByteBuffer
    /// Decodes (the error matters, not the value).
    let decode: @Sendable (_ bytes: ByteBuffer, _ version: Int16) throws -> Void
    /// Decodes bytes: the fields as canonical text, bytes left over, and the value encoded again.
    let golden: @Sendable (_ bytes: ByteBuffer, _ version: Int16) throws -> GoldenResult

    init<M: Arbitrary>(_ type: M.Type) {
        description = "\(M.self)"
        versions = M.supportedVersions
        roundTrip = { version, seed in
            var g = Gen(seed: seed)
            let value = M.arbitrary(version: version, &g)
            let bytes = try value.encode(version: version)
            var reader = WireReader(bytes)
            let decoded = try M.decode(from: &reader, version: version)
            let again = try decoded.encode(version: version)
            return RoundTripResult(equal: decoded == value, reencodedIdentically: again == bytes,
                                   leftover: reader.remaining, size: bytes.readableBytes)
        }
        encodeArbitrary = { version, seed in
            var g = Gen(seed: seed)
            return try M.arbitrary(version: version, &g).encode(version: version)
        }
        decode = { bytes, version in _ = try M.decode(bytes, version: version) }
        golden = { bytes, version in
            var reader = WireReader(bytes)
            let value = try M.decode(from: &reader, version: version)
            return GoldenResult(canonical: value.canonical(version: version), leftover: reader.remaining,
                                reencoded: try value.encode(version: version))
        }
    }
}

struct RoundTripResult {
    var equal: Bool
    var reencodedIdentically: Bool
    var leftover: Int
    var size: Int
}

struct GoldenResult {
    var canonical: String
    var leftover: Int
    var reencoded: ByteBuffer
}

let messageCasesByName: [String: MessageCase] = Dictionary(uniqueKeysWithValues: allMessageCases.map { ($0.description, $0) })
