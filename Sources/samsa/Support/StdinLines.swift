import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lines of standard input, read in 64 KiB chunks on a thread of their own (a blocking `read` must not hold
/// one of the few cooperative threads), at most four chunks ahead of the consumer.
///
/// A line ends at `\n` (a `\r` before it is dropped, as Java's `readLine` does); a last line without a
/// terminator is still a line.
final class StdinLines: @unchecked Sendable {
    private let stream: AsyncStream<[UInt8]>
    /// Created at 0 and raised to 4: libdispatch traps when a semaphore is freed below its initial value.
    private let permits = DispatchSemaphore(value: 0)
    private var pending: [UInt8] = []
    private var iterator: AsyncStream<[UInt8]>.AsyncIterator
    private var finished = false

    init(fd: Int32 = STDIN_FILENO) {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        self.stream = stream
        self.iterator = stream.makeAsyncIterator()
        let permits = self.permits
        for _ in 0..<4 { permits.signal() }
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                permits.wait()
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR {
                    permits.signal()
                    continue
                }
                if n <= 0 { break }
                continuation.yield(Array(buffer[0..<n]))
            }
            continuation.finish()
        }
    }

    private var start = 0

    /// The next line without its terminator, nil at the end of input.
    func next() async -> [UInt8]? {
        while true {
            if let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start && pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Array(pending[start..<end])
                start = newline + 1
                return line
            }
            if finished {
                guard start < pending.count else { return nil }
                var end = pending.count
                if pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                defer { pending = []; start = 0 }
                return Array(pending[start..<end])
            }
            if let chunk = await iterator.next() {
                pending.removeSubrange(0..<start)
                start = 0
                pending.append(contentsOf: chunk)
                permits.signal()
            } else {
                finished = true
            }
        }
    }
}
