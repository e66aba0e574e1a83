#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The number and date formats of Kafka's command-line tools, without Foundation: Java's `%.Nf` (half-up
/// rounding, `NaN`, `Infinity`) and `SimpleDateFormat`'s common letters.
public enum NumberFormat {
    /// Java's `String.format("%.<decimals>f", value)`.
    public static func fixed(_ value: Double, decimals: Int) -> String {
        precondition(decimals >= 0 && decimals <= 9, "0...9 decimals")
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        var scale: Double = 1
        for _ in 0..<decimals { scale *= 10 }
        let sign = value.sign == .minus ? "-" : ""
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9.0e18 else { return sign + String(Int64(abs(value).rounded(.down) / 1e6)) + "e6" }
        let units = UInt64(scaled)
        let factor = UInt64(scale)
        var fraction = String(units % factor)
        while fraction.count < decimals { fraction = "0" + fraction }
        return decimals == 0 ? "\(sign)\(units)" : "\(sign)\(units / factor).\(fraction)"
    }

    /// `value` with thousands separators: 1,234,567.
    public static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return value < 0 ? "-" + out : out
    }

    /// Formats milliseconds since the epoch in local time with a `SimpleDateFormat` pattern. Supported
    /// letters: y M d H h m s S a; text in single quotes is literal.
    public static func date(_ millis: Int64, pattern: String = "yyyy-MM-dd HH:mm:ss:SSS") -> String {
        var seconds = time_t(millis / 1_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let ms = Int(millis % 1_000 + (millis % 1_000 < 0 ? 1_000 : 0))
        let chars = Array(pattern)
        var out = ""
        var i = 0
        func padded(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        while i < chars.count {
            let c = chars[i]
            if c == "'" {
                var j = i + 1
                while j < chars.count && chars[j] != "'" { out.append(chars[j]); j += 1 }
                if j == i + 1 { out.append("'") }
                i = j + 1
                continue
            }
            var run = 1
            while i + run < chars.count && chars[i + run] == c { run += 1 }
            switch c {
            case "y":
                let year = Int(parts.tm_year) + 1900
                out += run == 2 ? padded(year % 100, 2) : padded(year, run)
            case "M": out += padded(Int(parts.tm_mon) + 1, run)
            case "d": out += padded(Int(parts.tm_mday), run)
            case "H": out += padded(Int(parts.tm_hour), run)
            case "h": out += padded((Int(parts.tm_hour) + 11) % 12 + 1, run)
            case "m": out += padded(Int(parts.tm_min), run)
            case "s": out += padded(Int(parts.tm_sec), run)
            case "S": out += padded(ms, run)
            case "a": out += parts.tm_hour < 12 ? "AM" : "PM"
            default: out += String(repeating: c, count: run)
            }
            i += run
        }
        return out
    }
}
