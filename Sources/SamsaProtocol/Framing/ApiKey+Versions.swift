extension ApiKey {
    /// Whether `version` of this API uses compact lengths and tagged fields.
    public func isFlexible(version: Int16) -> Bool {
        guard let flexibleFrom else { return false }
        return version >= flexibleFrom
    }

    /// The request header version for `version` of this API: 2 when flexible, else 1
    /// (0 only for ControlledShutdown v0, which predates client ids).
    public func requestHeaderVersion(version: Int16) -> Int16 {
        if self == .controlledShutdown && version == 0 { return 0 }
        return isFlexible(version: version) ? 2 : 1
    }

    /// The response header version for `version` of this API: 1 when flexible, else 0. ApiVersions responses
    /// always use 0, so that a client that asked with a version the broker does not know can still read the
    /// error and the versions the broker offers.
    public func responseHeaderVersion(version: Int16) -> Int16 {
        if self == .apiVersions { return 0 }
        return isFlexible(version: version) ? 1 : 0
    }

    /// The ApiVersions entries a broker built on this library can offer: (key, min, max) of every implemented API.
    public static var supportedRanges: [(apiKey: ApiKey, versions: ClosedRange<Int16>)] {
        implemented.compactMap { key in key.supportedVersions.map { (key, $0) } }
    }
}
