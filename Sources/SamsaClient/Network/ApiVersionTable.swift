import SamsaProtocol

/// The versions a broker offers for each API (its ApiVersions response), and the choice of version for a
/// request: the highest version both this client and the broker speak.
///
/// ```swift
/// let table = ApiVersionTable(response)
/// let version = try table.version(for: MetadataRequest.self)   // e.g. 12
/// ```
public struct ApiVersionTable: Sendable, Equatable {
    public private(set) var ranges: [Int16: ClosedRange<Int16>]

    public init(_ response: ApiVersionsResponse) {
        var ranges: [Int16: ClosedRange<Int16>] = [:]
        for entry in response.apiKeys where entry.minVersion <= entry.maxVersion {
            ranges[entry.apiKey] = entry.minVersion...entry.maxVersion
        }
        self.ranges = ranges
    }

    public init(ranges: [ApiKey: ClosedRange<Int16>]) {
        self.ranges = Dictionary(uniqueKeysWithValues: ranges.map { ($0.key.rawValue, $0.value) })
    }

    /// What the broker offers for `api`, nil if nothing.
    public func brokerRange(_ api: ApiKey) -> ClosedRange<Int16>? { ranges[api.rawValue] }

    /// The highest version in both ranges; throws `unsupportedApi` when they do not overlap.
    public func version(for api: ApiKey, client: ClosedRange<Int16>) throws(ClientError) -> Int16 {
        guard let broker = ranges[api.rawValue], broker.overlaps(client) else {
            throw .unsupportedApi(api: api, brokerVersions: ranges[api.rawValue], clientVersions: client)
        }
        return min(broker.upperBound, client.upperBound)
    }

    public func version<M: KafkaRequestMessage>(for message: M.Type) throws(ClientError) -> Int16 {
        try version(for: M.apiKey, client: M.supportedVersions)
    }

    /// Whether the broker offers any version of `api` this client speaks.
    public func supports<M: KafkaRequestMessage>(_ message: M.Type) -> Bool {
        guard let broker = ranges[M.apiKey.rawValue] else { return false }
        return broker.overlaps(M.supportedVersions)
    }
}
