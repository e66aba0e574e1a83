/// A broker setting that cannot be used: which key, what value, why. Start-up stops with this message.
///
/// ```swift
/// do { _ = try BrokerConfig(properties: ["num.partitions": "zero"]) }
/// catch { print(error) }   // invalid value 'zero' for num.partitions: expected an integer in 1...2147483647
/// ```
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The key at fault; nil for errors about the file itself.
    public var key: String?
    public var value: String
    public var reason: String

    public init(key: String?, value: String, reason: String) {
        self.key = key
        self.value = value
        self.reason = reason
    }

    public var description: String {
        guard let key else { return reason }
        return "invalid value '\(value)' for \(key): \(reason)"
    }
}
