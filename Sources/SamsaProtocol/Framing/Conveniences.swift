import NIOCore

extension ApiVersionsResponse {
    /// The ApiVersions answer for a broker built on this library: every implemented API with the versions
    /// SamsaProtocol reads and writes (`ApiKey.supportedRanges`).
    ///
    /// ```swift
    /// // a client asked with a version we do not know: Kafka answers v0, UNSUPPORTED_VERSION, with the ranges
    /// let frame = try KafkaFrame.encodeResponse(ApiVersionsResponse.implemented(errorCode: .unsupportedVersion),
    ///                                           version: 0, correlationId: header.correlationId)
    /// ```
    public static func implemented(errorCode: ErrorCode = .none, throttleTimeMs: Int32 = 0) -> ApiVersionsResponse {
        ApiVersionsResponse(
            errorCode: errorCode,
            apiKeys: ApiKey.supportedRanges.map {
                ApiVersion(apiKey: $0.apiKey.rawValue, minVersion: $0.versions.lowerBound, maxVersion: $0.versions.upperBound)
            },
            throttleTimeMs: throttleTimeMs)
    }
}

extension FetchResponse {
    /// This response as a size-prefixed frame in parts: `.external` records become holes that the broker fills
    /// with a `FileRegion` of `length` bytes from its `token`'s file. See `KafkaFrame.encodeResponseParts`.
    public func encodeParts(
        version: Int16, correlationId: Int32, allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(ProtocolError) -> [FramePart] {
        try KafkaFrame.encodeResponseParts(self, version: version, correlationId: correlationId, allocator: allocator)
    }
}
