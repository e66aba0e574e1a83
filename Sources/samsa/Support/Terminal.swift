import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether standard input, output and error are terminals.
enum Terminal {
    static var stdinIsTTY: Bool { isatty(STDIN_FILENO) != 0 }
    static var stdoutIsTTY: Bool { isatty(STDOUT_FILENO) != 0 }
    static var stderrIsTTY: Bool { isatty(STDERR_FILENO) != 0 }

    /// Writes all of `bytes` to `fd`; false when the other end is gone (EPIPE) or another error happened.
    @discardableResult
    static func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    @discardableResult
    static func write(_ bytes: [UInt8], to fd: Int32) -> Bool { bytes.withUnsafeBytes { write($0, to: fd) } }

    @discardableResult
    static func write(_ text: String, to fd: Int32) -> Bool { write(Array(text.utf8), to: fd) }

    /// Lets writes to a closed pipe fail with EPIPE instead of killing the process.
    static func ignoreSigpipe() { signal(SIGPIPE, SIG_IGN) }
}

/// A buffered standard output: bytes collect in memory and go out in large writes.
struct StdoutBuffer {
    private(set) var bytes: [UInt8] = []
    let limit: Int

    init(limit: Int = 64 << 10) {
        self.limit = limit
        bytes.reserveCapacity(limit + 4096)
    }

    /// Flushes when the buffer passed its limit; false if stdout is gone.
    mutating func flushIfFull() -> Bool { bytes.count >= limit ? flush() : true }

    mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Writes everything; false if stdout is gone.
    @discardableResult
    mutating func flush() -> Bool {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes.isEmpty || Terminal.write(bytes, to: STDOUT_FILENO)
    }

    mutating func withBytes<R>(_ body: (inout [UInt8]) -> R) -> R { body(&bytes) }
}

/// One status line on standard error that rewrites itself (`\r`), for long-running commands. It is drawn only
/// when enabled (the commands enable it when the relevant streams are terminals), at most ten times a second,
/// and erased before anything else is printed and at the end.
final class ProgressLine: Sendable {
    private struct State {
        var lastDrawNs: UInt64 = 0
        var visible = false
    }

    let enabled: Bool
    private let state = Mutex(State())

    init(enabled: Bool) {
        self.enabled = enabled
    }

    /// Redraws with `text` (rate-limited unless `force`).
    func update(_ text: @autoclosure () -> String, force: Bool = false) {
        guard enabled else { return }
        let now = Self.monotonicNs()
        let draw = state.withLock { state in
            guard force || now - state.lastDrawNs >= 100_000_000 else { return false }
            state.lastDrawNs = now
            state.visible = true
            return true
        }
        guard draw else { return }
        Terminal.write("\r\u{1B}[2K" + text(), to: STDERR_FILENO)
    }

    /// Erases the line if it is showing.
    func clear() {
        guard enabled else { return }
        let wasVisible = state.withLock { state in
            defer { state.visible = false }
            return state.visible
        }
        if wasVisible { Terminal.write("\r\u{1B}[2K", to: STDERR_FILENO) }
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Milliseconds since the epoch.
func wallClockMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
}
