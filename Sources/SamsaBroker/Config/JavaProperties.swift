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
    ///
    /// Works on Unicode scalars, as Java works on chars: a separator followed by a combining mark, or a `\r\n`
    /// line end, is one `Character` in Swift but two symbols to this format.
    public static func parse(_ text: String) throws(ConfigError) -> [Entry] {
        var entries: [Entry] = []
        let lines = Array(text.unicodeScalars).split(separator: "\n", omittingEmptySubsequences: false).map {
            line -> ArraySlice<Unicode.Scalar> in line.last == "\r" ? line.dropLast() : line
        }
        var i = 0
        while i < lines.count {
            let startLine = i + 1
            var logical = Array(lines[i].drop(while: isBlank))
            i += 1
            if logical.isEmpty || logical[0] == "#" || logical[0] == "!" { continue }
            // An odd number of trailing backslashes continues the line; the next line's leading blanks go.
            while endsWithContinuation(logical) {
                logical.removeLast()
                guard i < lines.count else { break }
                logical += lines[i].drop(while: isBlank)
                i += 1
            }
            let (key, value) = try split(logical[...], line: startLine)
            entries.append(Entry(key: key, value: value, line: startLine))
        }
        return entries
    }

    private static func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\u{0C}" }

    /// Writes entries so that `parse` reads them back exactly (keys and values escaped as Java does).
    public static func format(_ entries: [(key: String, value: String)]) -> String {
        var out = ""
        for (key, value) in entries {
            out += escape(key, isKey: true) + "=" + escape(value, isKey: false) + "\n"
        }
        return out
    }

    private static func endsWithContinuation(_ line: [Unicode.Scalar]) -> Bool {
        line.reversed().prefix { $0 == "\\" }.count % 2 == 1
    }

    /// Splits a logical line at the first unescaped `=`, `:` or blank.
    private static func split(_ line: ArraySlice<Unicode.Scalar>, line number: Int) throws(ConfigError) -> (String, String) {
        var index = line.startIndex
        var escaped = false
        while index < line.endIndex {
            let c = line[index]
            if escaped {
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "=" || c == ":" || isBlank(c) {
                break
            }
            index += 1
        }
        let key = try unescape(line[line.startIndex..<index], line: number)
        // Skip blanks, then at most one separator, then blanks.
        while index < line.endIndex, isBlank(line[index]) { index += 1 }
        if index < line.endIndex, line[index] == "=" || line[index] == ":" {
            index += 1
            while index < line.endIndex, isBlank(line[index]) { index += 1 }
        }
        let value = try unescape(line[index...], line: number)
        return (key, value)
    }

    private static func unescape(_ text: ArraySlice<Unicode.Scalar>, line: Int) throws(ConfigError) -> String {
        var out = String.UnicodeScalarView()
        var chars = text
        while let c = chars.popFirst() {
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard let next = chars.popFirst() else { break }
            switch next {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "f": out.append("\u{0C}")
            case "u":
                let digits = chars.prefix(4)
                var value: UInt32 = 0
                var valid = digits.count == 4
                for d in digits {
                    guard let v = hexValue(d) else { valid = false; break }
                    value = value << 4 | v
                }
                guard valid, let scalar = Unicode.Scalar(value) else {
                    throw ConfigError(key: nil, value: String(String.UnicodeScalarView(text)),
                        reason: "malformed \\uXXXX escape on line \(line)")
                }
                chars = chars.dropFirst(4)
                out.append(scalar)
            default: out.append(next)
            }
        }
        return String(out)
    }

    private static func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c.value {
        case 0x30...0x39: c.value - 0x30
        case 0x41...0x46: c.value - 0x41 + 10
        case 0x61...0x66: c.value - 0x61 + 10
        default: nil
        }
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
