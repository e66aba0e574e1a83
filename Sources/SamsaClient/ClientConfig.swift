/// A broker address, `host:port`.
public struct BrokerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (`[v6]:port` for IPv6 literals).
    public init(parsing text: String) throws(ClientError) {
        let trimmed = text.trimmingWhitespace()
        guard let colon = trimmed.lastIndex(of: ":") else { throw .invalidAddress(text) }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(trimmed[trimmed.index(after: colon)...]), (1...65535).contains(port) else {
            throw .invalidAddress(text)
        }
        self.init(host: host, port: port)
    }

    /// Parses a comma-separated list (`bootstrap.servers`).
    public static func list(_ text: String) throws(ClientError) -> [BrokerAddress] {
        let parts = text.split(separator: ",").map(String.init).filter { !$0.trimmingWhitespace().isEmpty }
        guard !parts.isEmpty else { throw .invalidAddress(text) }
        var result: [BrokerAddress] = []
        for part in parts { result.append(try BrokerAddress(parsing: part)) }
        return result
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What every client (producer, consumer, admin) needs to reach a cluster.
///
/// ```swift
/// var config = try ClientConfig(bootstrap: "127.0.0.1:9092")
/// config.requestTimeoutMs = 5_000
/// ```
public struct ClientConfig: Sendable {
    /// `bootstrap.servers`.
    public var bootstrapServers: [BrokerAddress]
    /// `client.id`.
    public var clientId: String
    /// `request.timeout.ms`: how long to wait for any response.
    public var requestTimeoutMs: Int64 = 30_000
    /// `socket.connection.setup.timeout.ms`.
    public var connectTimeoutMs: Int64 = 10_000
    /// `reconnect.backoff.ms`: the pause before connecting again to a broker whose connection failed.
    public var reconnectBackoffMs: Int64 = 50
    /// `metadata.max.age.ms`: metadata older than this is refreshed before use.
    public var metadataMaxAgeMs: Int64 = 300_000
    /// The largest response frame accepted (a larger size prefix closes the connection).
    public var maxResponseSizeBytes: Int = 256 << 20

    public init(bootstrapServers: [BrokerAddress], clientId: String = "samsa") {
        precondition(!bootstrapServers.isEmpty, "at least one bootstrap server")
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
    }

    public init(bootstrap: String, clientId: String = "samsa") throws(ClientError) {
        self.init(bootstrapServers: try BrokerAddress.list(bootstrap), clientId: clientId)
    }

    /// Applies the keys this struct knows from Kafka client properties; returns the keys it did not use.
    @discardableResult
    public mutating func apply(_ properties: [String: String]) throws(ClientError) -> Set<String> {
        var unused = Set(properties.keys)
        for (key, value) in properties {
            switch key {
            case "bootstrap.servers": bootstrapServers = try BrokerAddress.list(value)
            case "client.id": clientId = value
            case "request.timeout.ms": requestTimeoutMs = try Properties.int64(key, value, min: 1)
            case "socket.connection.setup.timeout.ms": connectTimeoutMs = try Properties.int64(key, value, min: 1)
            case "reconnect.backoff.ms": reconnectBackoffMs = try Properties.int64(key, value, min: 0)
            case "metadata.max.age.ms": metadataMaxAgeMs = try Properties.int64(key, value, min: 0)
            default: continue
            }
            unused.remove(key)
        }
        return unused
    }
}

/// Parsing of Kafka-style `key=value` properties.
public enum Properties {
    /// Splits `k=v` at the first `=`; throws for an entry without one.
    public static func parse(_ entries: [String]) throws(ClientError) -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw .invalidConfig(name: entry, value: entry, reason: "expected key=value")
            }
            result[String(entry[..<eq]).trimmingWhitespace()] = String(entry[entry.index(after: eq)...])
        }
        return result
    }

    /// Reads a Java-style properties file: `key=value` or `key: value` lines, `#`/`!` comments.
    public static func load(contents: String) -> [String: String] {
        var result: [String: String] = [:]
        for raw in contents.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(raw).trimmingWhitespace()
            guard !line.isEmpty, !line.hasPrefix("#"), !line.hasPrefix("!") else { continue }
            guard let sep = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                result[line] = ""
                continue
            }
            result[String(line[..<sep]).trimmingWhitespace()] =
                String(line[line.index(after: sep)...]).trimmingWhitespace()
        }
        return result
    }

    static func int64(_ name: String, _ value: String, min: Int64, max: Int64 = .max) throws(ClientError) -> Int64 {
        guard let n = Int64(value.trimmingWhitespace()) else {
            throw .invalidConfig(name: name, value: value, reason: "not an integer")
        }
        guard n >= min, n <= max else {
            throw .invalidConfig(name: name, value: value, reason: "must be between \(min) and \(max)")
        }
        return n
    }

    static func bool(_ name: String, _ value: String) throws(ClientError) -> Bool {
        switch value.trimmingWhitespace().lowercased() {
        case "true": return true
        case "false": return false
        default: throw .invalidConfig(name: name, value: value, reason: "expected true or false")
        }
    }

    static func int(_ name: String, _ value: String, min: Int, max: Int = .max) throws(ClientError) -> Int {
        Int(try int64(name, value, min: Int64(min), max: Int64(max)))
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
