import NIOCore

/// The header in front of every request: v0 (api key, version, correlation id), v1 (+ client id, a classic
/// nullable string in every version), v2 (+ tagged fields, for flexible request versions).
///
/// Decoding works for API keys and versions this library does not implement, so a broker can still answer
/// UNSUPPORTED_VERSION (ApiVersions) or close the connection knowing which correlation id it was.
public struct RequestHeader: Sendable, Equatable {
    public var requestApiKey: Int16
    public var requestApiVersion: Int16
    public var correlationId: Int32
    /// Absent in header v0 (only ControlledShutdown v0 uses it).
    public var clientId: String?

    public init(requestApiKey: Int16, requestApiVersion: Int16, correlationId: Int32, clientId: String? = nil) {
        self.requestApiKey = requestApiKey
        self.requestApiVersion = requestApiVersion
        self.correlationId = correlationId
        self.clientId = clientId
    }

    public init(apiKey: ApiKey, apiVersion: Int16, correlationId: Int32, clientId: String? = nil) {
        self.init(requestApiKey: apiKey.rawValue, requestApiVersion: apiVersion, correlationId: correlationId, clientId: clientId)
    }

    /// nil for an API key Kafka does not define.
    public var apiKey: ApiKey? { ApiKey(rawValue: requestApiKey) }

    /// 0, 1 or 2; for an unknown API key, 1 (every request but ControlledShutdown v0 has a client id).
    public var headerVersion: Int16 {
        guard let apiKey else { return 1 }
        return apiKey.requestHeaderVersion(version: requestApiVersion)
    }

    public static func decode(from reader: inout WireReader) throws(ProtocolError) -> RequestHeader {
        var header = RequestHeader(
            requestApiKey: try reader.readInt16("RequestHeader.RequestApiKey"),
            requestApiVersion: try reader.readInt16("RequestHeader.RequestApiVersion"),
            correlationId: try reader.readInt32("RequestHeader.CorrelationId"))
        let version = header.headerVersion
        if version >= 1 {
            header.clientId = try reader.readNullableString(compact: false, "RequestHeader.ClientId")
        }
        if version >= 2 {
            try reader.skipTaggedFields("RequestHeader._tagged")
        }
        return header
    }

    public func encode(to writer: inout WireWriter) throws(ProtocolError) {
        writer.writeInt16(requestApiKey)
        writer.writeInt16(requestApiVersion)
        writer.writeInt32(correlationId)
        let version = headerVersion
        if version >= 1 {
            try writer.writeNullableString(clientId, compact: false, "RequestHeader.ClientId")
        }
        if version >= 2 {
            writer.writeUnsignedVarint(0)
        }
    }
}

/// The header in front of every response: v0 (correlation id), v1 (+ tagged fields, for flexible versions;
/// ApiVersions responses always use v0).
public struct ResponseHeader: Sendable, Equatable {
    public var correlationId: Int32

    public init(correlationId: Int32) {
        self.correlationId = correlationId
    }

    public static func decode(from reader: inout WireReader, headerVersion: Int16) throws(ProtocolError) -> ResponseHeader {
        let header = ResponseHeader(correlationId: try reader.readInt32("ResponseHeader.CorrelationId"))
        if headerVersion >= 1 {
            try reader.skipTaggedFields("ResponseHeader._tagged")
        }
        return header
    }

    public func encode(to writer: inout WireWriter, headerVersion: Int16) {
        writer.writeInt32(correlationId)
        if headerVersion >= 1 {
            writer.writeUnsignedVarint(0)
        }
    }
}
