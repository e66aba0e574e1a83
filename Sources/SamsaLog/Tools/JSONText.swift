/// Small writers for the tools' machine output (`dump-log --json`, `bench --json`): JSON strings and numbers
/// appended to a `String`, and standard base64 (RFC 4648, with padding) for record keys and values.
enum JSONText {
    /// Appends `value` as a JSON string literal (quotes, backslash and control characters escaped).
    static func appendString(_ value: some StringProtocol, to out: inout String) {
        out.append("\"")
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }

    static func string(_ value: some StringProtocol) -> String {
        var out = ""
        appendString(value, to: &out)
        return out
    }

    /// A finite double with up to `digits` decimals (JSON has no NaN or infinity: those become null).
    static func number(_ value: Double, digits: Int = 3) -> String {
        guard value.isFinite else { return "null" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return "\(rounded)"
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends the base64 encoding of `bytes`.
    static func appendBase64(_ bytes: UnsafeRawBufferPointer, to out: inout String) {
        var chunk: [UInt8] = []
        chunk.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            chunk.append(alphabet[Int(v >> 18 & 63)])
            chunk.append(alphabet[Int(v >> 12 & 63)])
            chunk.append(alphabet[Int(v >> 6 & 63)])
            chunk.append(alphabet[Int(v & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let v = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            chunk.append(alphabet[Int(v >> 18 & 63)])
            chunk.append(alphabet[Int(v >> 12 & 63)])
            chunk.append(rest == 2 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            chunk.append(UInt8(ascii: "="))
        }
        out.append(String(decoding: chunk, as: UTF8.self))
    }

    static func base64(_ bytes: UnsafeRawBufferPointer) -> String {
        var out = ""
        appendBase64(bytes, to: &out)
        return out
    }

    /// Decodes standard base64 (padding optional); nil on any other character.
    static func decodeBase64(_ text: some StringProtocol) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 4 * 3)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            accumulator = accumulator << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
