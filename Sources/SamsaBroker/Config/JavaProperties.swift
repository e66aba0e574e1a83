/// Java's `.properties` format, as Kafka reads `server.properties`: `key=value`, `key: value` or `key value`;
/// `#` and `!` comment lines; a trailing backslash continues a line; `\t \n \r \f \uXXXX` escapes.
///
/// ```swift
/// let entries = try JavaProperties.parse("listeners=PLAINTEXT://127.0.0.1:9092\n# comment\nlog.dirs = ./data\n")
/// // [("listeners", "PLAINTEXT://127.0.0.1:9092", line 1), ("log.dirs", "./data", line 3)]
/// let text = JavaProperties.format([("topics.0.name", "orders")])
/// ```
public enum JavaProperties {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        /// The line the entry starts on (1-based), for messages.
        public var line: Int
    }

    /// The entries in file order (a repeated key appears twice; the caller decides, Java keeps the last).
    public static func parse(_ text: String) throws(ConfigError) -> [Entry] {
        var entries: [Entry] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            line.hasSuffix("\r") ? line.dropLast() : line
        }
        var i = 0
        while i < lines.count {
            let startLine = i + 1
            var logical = String(lines[i].drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" })
            i += 1
            if logical.isEmpty || logical.hasPrefix("#") || logical.hasPrefix("!") { continue }
            // An odd number of trailing backslashes continues the line; the next line's leading blanks go.
            while endsWithContinuation(logical) {
                logical.removeLast()
                guard i < lines.count else { break }
                logical += lines[i].drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }
                i += 1
            }
            let (key, value) = try split(logical, line: startLine)
            entries.append(Entry(key: key, value: value, line: startLine))
        }
        return entries
    }

    /// Writes entries so that `parse` reads them back exactly (keys and values escaped as Java does).
    public static func format(_ entries: [(key: String, value: String)]) -> String {
        var out = ""
        for (key, value) in entries {
            out += escape(key, isKey: true) + "=" + escape(value, isKey: false) + "\n"
        }
        return out
    }

    private static func endsWithContinuation(_ line: String) -> Bool {
        var count = 0
        for c in line.reversed() {
            guard c == "\\" else { break }
            count += 1
        }
        return count % 2 == 1
    }

    /// Splits a logical line at the first unescaped `=`, `:` or blank.
    private static func split(_ line: String, line number: Int) throws(ConfigError) -> (String, String) {
        var key = ""
        var index = line.startIndex
        var escaped = false
        var keyChars: [Character] = []
        while index < line.endIndex {
            let c = line[index]
            if escaped {
                escaped = false
                keyChars.append("\\")
                keyChars.append(c)
            } else if c == "\\" {
                escaped = true
            } else if c == "=" || c == ":" || c == " " || c == "\t" || c == "\u{0C}" {
                break
            } else {
                keyChars.append(c)
            }
            index = line.index(after: index)
        }
        key = try unescape(String(keyChars), line: number)
        // Skip blanks, then at most one separator, then blanks.
        while index < line.endIndex, line[index] == " " || line[index] == "\t" || line[index] == "\u{0C}" {
            index = line.index(after: index)
        }
        if index < line.endIndex, line[index] == "=" || line[index] == ":" {
            index = line.index(after: index)
            while index < line.endIndex, line[index] == " " || line[index] == "\t" || line[index] == "\u{0C}" {
                index = line.index(after: index)
            }
        }
        let value = try unescape(String(line[index...]), line: number)
        return (key, value)
    }

    private static func unescape(_ text: String, line: Int) throws(ConfigError) -> String {
        guard text.contains("\\") else { return text }
        var out = ""
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.popFirst() {
            guard c == "\\" else {
                out.unicodeScalars.append(c)
                continue
            }
            guard let next = chars.popFirst() else { break }
            switch next {
            case "t": out += "\t"
            case "n": out += "\n"
            case "r": out += "\r"
            case "f": out += "\u{0C}"
            case "u":
                let hex = String(String.UnicodeScalarView(chars.prefix(4)))
                guard hex.count == 4, let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) else {
                    throw ConfigError(key: nil, value: text, reason: "malformed \\uXXXX escape on line \(line)")
                }
                chars = chars.dropFirst(4)
                out.unicodeScalars.append(scalar)
            default: out.unicodeScalars.append(next)
            }
        }
        return out
    }

    private static func escape(_ text: String, isKey: Bool) -> String {
        var out = ""
        for (i, c) in text.unicodeScalars.enumerated() {
            switch c {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\u{0C}": out += "\\f"
            case "=", ":", "#", "!": out += "\\" + String(c)
            case " " where isKey || i == 0: out += "\\ "
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    // Control characters as \uXXXX; the rest of Unicode is written as is (UTF-8).
                    let hex = String(c.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out
    }
}
