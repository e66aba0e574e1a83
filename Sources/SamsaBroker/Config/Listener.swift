/// One entry of `listeners` / `advertised.listeners`: `NAME://host:port` (`PLAINTEXT://127.0.0.1:9092`,
/// `PLAINTEXT://:9092` for every interface, `PLAINTEXT://[::1]:9092`).
public struct Listener: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    /// Empty: every interface (bind) or this machine's host name (advertise).
    public var host: String
    /// 0 binds an ephemeral port; the advertised port then becomes the bound one.
    public var port: Int

    public init(name: String, host: String, port: Int) {
        self.name = name
        self.host = host
        self.port = port
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(name)://\(shownHost):\(port)"
    }

    /// Parses a comma-separated list; `key` names the setting in errors.
    static func parseList(_ value: String, key: String) throws(ConfigError) -> [Listener] {
        var listeners: [Listener] = []
        for item in value.split(separator: ",").map({ $0.trimmingBlanks() }) where !item.isEmpty {
            guard let schemeEnd = item.firstRange(of: "://") else {
                throw ConfigError(key: key, value: value, reason: "'\(item)' is not of the form NAME://host:port")
            }
            let name = item[..<schemeEnd.lowerBound].uppercased()
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw ConfigError(key: key, value: value, reason: "'\(item)' has an invalid listener name")
            }
            let address = item[schemeEnd.upperBound...]
            let host: Substring
            let portText: Substring
            if address.hasPrefix("[") {
                guard let close = address.firstIndex(of: "]"), address[address.index(after: close)...].hasPrefix(":") else {
                    throw ConfigError(key: key, value: value, reason: "'\(item)' has a malformed IPv6 address")
                }
                host = address[address.index(after: address.startIndex)..<close]
                portText = address[address.index(close, offsetBy: 2)...]
            } else {
                guard let colon = address.lastIndex(of: ":") else {
                    throw ConfigError(key: key, value: value, reason: "'\(item)' has no port")
                }
                host = address[..<colon]
                portText = address[address.index(after: colon)...]
            }
            guard let port = Int(portText), (0...65535).contains(port) else {
                throw ConfigError(key: key, value: value, reason: "'\(item)' has an invalid port '\(portText)'")
            }
            guard !listeners.contains(where: { $0.name == name }) else {
                throw ConfigError(key: key, value: value, reason: "listener name \(name) appears twice")
            }
            listeners.append(Listener(name: name, host: String(host), port: port))
        }
        return listeners
    }
}

extension StringProtocol {
    /// Without leading and trailing blanks (spaces, tabs, carriage returns).
    func trimmingBlanks() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
