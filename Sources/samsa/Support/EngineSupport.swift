import ArgumentParser
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered line output to a file descriptor (stdout or stderr): `dump-log` prints millions of lines, and one
/// `write` per 64 KiB is what makes that fast. Flushed when full, on `flush()`, and before stderr is written.
final class EngineOutput: Sendable {
    let descriptor: Int32
    private let buffer = Mutex<[UInt8]>([])
    private let limit = 64 << 10

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    static let standardOutput = EngineOutput(descriptor: STDOUT_FILENO)
    static let standardError = EngineOutput(descriptor: STDERR_FILENO)

    func line(_ text: String) {
        append(text, newline: true)
    }

    func write(_ text: String) {
        append(text, newline: false)
    }

    private func append(_ text: String, newline: Bool) {
        let full = buffer.withLock { buffer in
            var text = text
            text.withUTF8 { buffer.append(contentsOf: $0) }
            if newline { buffer.append(UInt8(ascii: "\n")) }
            return buffer.count >= limit
        }
        if full { flush() }
    }

    func flush() {
        let descriptor = self.descriptor
        buffer.withLock { buffer in
            var done = 0
            buffer.withUnsafeBytes { bytes in
                while done < bytes.count {
                    let n = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                    if n < 0 && errno == EINTR { continue }
                    // A closed pipe (`| head`): stop quietly, as other tools do.
                    if n <= 0 { exit(errno == EPIPE ? 0 : 1) }
                    done += n
                }
            }
            buffer.removeAll(keepingCapacity: true)
        }
    }
}

enum EngineTerminal {
    /// A progress line is drawn only when a person is watching: stdout and stderr are both terminals.
    static var isInteractive: Bool { isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1 }

    /// Prints `message` as one line on stderr and exits with status 1 (the CLI's way to fail).
    static func fail(_ command: String, _ message: String) -> ExitCode {
        EngineOutput.standardOutput.flush()
        EngineOutput.standardError.line("samsa \(command): error: \(message)")
        EngineOutput.standardError.flush()
        return ExitCode(1)
    }

    /// `1234567.8` as `1,234,568`.
    static func grouped(_ value: Double) -> String {
        let whole = Int64(value.rounded())
        let digits = String(abs(whole))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return whole < 0 ? "-" + out : out
    }

    /// A fixed number of decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        let whole = Int64(rounded.rounded(.towardZero))
        guard digits > 0 else { return "\(Int64(rounded))" }
        var fraction = String(Int64((abs(rounded - Double(whole)) * scale).rounded()))
        fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
        return (rounded < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
    }
}

/// A progress bar redrawn in place on stderr (`\r`), at most ten times a second; nothing at all unless the
/// terminal is interactive.
final class EngineProgressBar {
    let enabled: Bool
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var drawn = false

    init(enabled: Bool = EngineTerminal.isInteractive) {
        self.enabled = enabled
    }

    /// Draws `[#####-----]  45%  <detail>` when `fraction` is known.
    func update(fraction: Double, detail: String, force: Bool = false) {
        guard enabled else { return }
        let now = ContinuousClock.now
        guard force || now - lastDraw >= .milliseconds(100) else { return }
        lastDraw = now
        let width = 30
        let filled = max(0, min(width, Int((fraction * Double(width)).rounded(.down))))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let percent = Int((max(0, min(1, fraction)) * 100).rounded(.down))
        EngineOutput.standardError.write("\r\u{1B}[2K[\(bar)] \(percent < 10 ? "  " : percent < 100 ? " " : "")\(percent)%  \(detail)")
        EngineOutput.standardError.flush()
        drawn = true
    }

    /// A line of text instead of a bar (for steps without a known fraction).
    func status(_ text: String) {
        guard enabled else { return }
        EngineOutput.standardError.write("\r\u{1B}[2K\(text)")
        EngineOutput.standardError.flush()
        drawn = true
    }

    /// Clears the line so the next output starts clean.
    func finish() {
        guard enabled, drawn else { return }
        EngineOutput.standardError.write("\r\u{1B}[2K")
        EngineOutput.standardError.flush()
        drawn = false
    }
}
