/// A Kafka message could not be decoded or encoded.
///
/// Every error names the field it happened in (`"ProduceRequest.TopicData.PartitionData.Records"`) and what was
/// wrong with it, so a broker can log one useful line and answer or close the connection.
///
/// ```swift
/// do { _ = try ProduceRequest.decode(body, version: 9) }
/// catch { print(error) }  // ProduceRequest.TopicData: array of 2147483647 elements (>= 4 bytes each) in 93 bytes
/// ```
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The buffer ended: `needed` bytes were wanted, `remaining` were left.
        case truncated(needed: Int, remaining: Int)
        /// A length prefix that no encoder writes (below -1, or a compact length that overflows).
        case invalidLength(Int)
        /// A length prefix that claims more bytes than the rest of the frame holds.
        case lengthExceedsRemaining(claimed: Int, remaining: Int)
        /// An array count whose elements cannot fit in the rest of the frame.
        case arrayExceedsRemaining(count: Int, minElementSize: Int, remaining: Int)
        /// A varint whose continuation bit is still set after its maximum width.
        case varintTooLong(maxBytes: Int)
        /// A null where this version does not allow one (decoded, or asked to encode).
        case unexpectedNull
        /// A string or byte array too long for its length prefix.
        case valueTooLong(length: Int, limit: Int)
        /// This library does not implement the API at this version.
        case unsupportedVersion(apiKey: Int16, version: Int16)
        /// The API key is not one this library implements.
        case unsupportedApiKey(Int16)
        /// A records payload that lives in a file was given to an encoder that produces one buffer.
        case externalPayloadNotAllowed
        /// A frame larger than a 4-byte size prefix can say.
        case frameTooLarge(Int)
    }

    public var reason: Reason
    /// The message and field path, `"FetchResponse.Responses.Partitions.Records"`, or `"RequestHeader.ClientId"`.
    public var field: String

    public init(_ reason: Reason, field: String) {
        self.reason = reason
        self.field = field
    }

    public var description: String {
        switch reason {
        case let .truncated(needed, remaining):
            return "\(field): truncated, needed \(needed) bytes, \(remaining) remaining"
        case let .invalidLength(length):
            return "\(field): invalid length \(length)"
        case let .lengthExceedsRemaining(claimed, remaining):
            return "\(field): length \(claimed) exceeds the \(remaining) bytes remaining"
        case let .arrayExceedsRemaining(count, size, remaining):
            return "\(field): array of \(count) elements (>= \(size) bytes each) in \(remaining) bytes"
        case let .varintTooLong(maxBytes):
            return "\(field): varint longer than \(maxBytes) bytes"
        case .unexpectedNull:
            return "\(field): null in a non-nullable field"
        case let .valueTooLong(length, limit):
            return "\(field): \(length) bytes exceed the limit of \(limit)"
        case let .unsupportedVersion(apiKey, version):
            return "\(field): api key \(apiKey) version \(version) is not supported"
        case let .unsupportedApiKey(apiKey):
            return "\(field): api key \(apiKey) is not supported"
        case .externalPayloadNotAllowed:
            return "\(field): an external (file) payload needs the parts encoder"
        case let .frameTooLarge(size):
            return "\(field): frame of \(size) bytes exceeds Int32.max"
        }
    }
}
