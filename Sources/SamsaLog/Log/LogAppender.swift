#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pipelined writer for one log. `submit` checks a producer's batches on the calling thread (the CRC and the walk
/// over every record, as `Log.append` does) and queues them; the appender's own thread writes them in the order
/// they were submitted and then calls each submission's completion, as soon as its bytes are in the log.
///
/// `Log.append` checks and then writes, one after the other on one thread. Here the checks of the next batches
/// run on other cores while the writer is in the kernel. And the writer commits in groups: the batches waiting
/// when it takes the next (up to 64 submissions and 256 KiB, producer batches without producer ids) go to the
/// log in one gathered write, each with its own offsets and result. A 16 KiB `write()` spends most of its time on
/// per-page and per-call work in the kernel, so fewer, larger writes move the same bytes faster (papers section
/// 3.2; `samsa bench`, row append-pipelined). Nothing is acknowledged before it is written: a completion runs
/// after the write (and the flush the log's policy asks for), when `Log.append` would have returned; a failed
/// write fails every submission of its group.
///
/// Memory is bounded: the submissions waiting hold at most `maxQueuedBytes` (one larger batch is let in alone)
/// and number at most `maxQueued`; `submit` blocks while the queue is full. It resumes only once the writer has
/// drained the queue to half, so a producer faster than the disk is woken rarely (each wake of a sleeping thread
/// takes tens of microseconds on a VM, several writes' time), and the writer has half a queue to write meanwhile.
///
/// Completions run on the appender's thread, one at a time, in submission order: they should be short (the next
/// write waits for them), and must not submit to, drain or close their own appender.
///
/// ```swift
/// let appender = LogAppender(log: log)
/// try appender.submit(batchBytes) { result in
///     if case .success(let appended) = result { print(appended.firstOffset) }
/// }
/// appender.close()   // waits for every submitted batch to be written
/// ```
public final class LogAppender: @unchecked Sendable {
    public typealias Completion = @Sendable (Result<Log.AppendResult, LogError>) -> Void

    private struct Entry {
        var bytes: [UInt8]
        var batches: ValidatedBatches
        var origin: AppendOrigin
        var leaderEpoch: Int32
        var completion: Completion
    }

    public let log: Log
    /// The most bytes the waiting submissions may hold (a single larger submission is let in when none waits).
    public let maxQueuedBytes: Int
    /// The most submissions that can wait for the writer.
    public let maxQueued: Int

    // Everything below is guarded by `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let queued: UnsafeMutablePointer<pthread_cond_t>
    private let drained: UnsafeMutablePointer<pthread_cond_t>
    private var ring: [Entry?]
    private var head = 0
    private var count = 0
    private var queuedBytes = 0
    private var closing = false
    private var writerWaiting = false
    private var submittersWaiting = 0
    private var drainersWaiting = 0
    private var peak = 0
    private var peakBytes = 0
    private var largestGroup = 0
    private var thread = pthread_t()

    /// Starts the writer thread of `log`. `maxQueuedBytes` and `maxQueued` (at least 2) bound what waits for it.
    public init(log: Log, maxQueuedBytes: Int = 8 << 20, maxQueued: Int = 1024) {
        precondition(maxQueued >= 2, "an appender must let at least 2 submissions wait, not \(maxQueued)")
        precondition(maxQueuedBytes >= 1, "an appender's byte bound must be positive, was \(maxQueuedBytes)")
        self.log = log
        self.maxQueuedBytes = maxQueuedBytes
        self.maxQueued = maxQueued
        ring = Array(repeating: nil, count: maxQueued)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        queued = .allocate(capacity: 1)
        pthread_cond_init(queued, nil)
        drained = .allocate(capacity: 1)
        pthread_cond_init(drained, nil)
        // A thread of its own rather than a Dispatch worker: it blocks for as long as the appender lives, and
        // Dispatch's pool is shared and bounded. The thread holds the appender until `close()` ends it.
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { context in
            let appender = Unmanaged<LogAppender>.fromOpaque(context!).takeRetainedValue()
            appender.writeUntilClosed()
            return nil
        }, context)
        precondition(created == 0, "pthread_create failed: \(created)")
    }

    deinit {
        pthread_cond_destroy(queued)
        pthread_cond_destroy(drained)
        pthread_mutex_destroy(mutex)
        queued.deallocate()
        drained.deallocate()
        mutex.deallocate()
    }

    /// Checks `bytes` (whole batches) as `Log.append(_:origin:leaderEpoch:)` does and queues them for the writer;
    /// `completion` runs on the writer's thread once they are written (or with the write's error). Blocks while
    /// the queue is full. Throws what the checks find (nothing is queued then), or `.closed` after
    /// `close()`.
    public func submit(
        _ bytes: [UInt8], origin: AppendOrigin = .client, leaderEpoch: Int32 = 0,
        completion: @escaping Completion
    ) throws(LogError) {
        precondition(!isWriterThread, "a completion must not submit to its own appender (it would wait for itself)")
        let batches = try bytes.withBytes { (buffer) throws(LogError) in try log.validate(buffer, origin: origin) }
        let entry = Entry(bytes: bytes, batches: batches, origin: origin, leaderEpoch: leaderEpoch, completion: completion)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if isFull(adding: bytes.count) && !closing {
            submittersWaiting += 1
            repeat { pthread_cond_wait(drained, mutex) } while isFull(adding: bytes.count) && !closing
            submittersWaiting -= 1
        }
        guard !closing else { throw .closed(directory: log.directory) }
        ring[(head + count) % maxQueued] = entry
        count += 1
        queuedBytes += bytes.count
        peak = max(peak, count)
        peakBytes = max(peakBytes, queuedBytes)
        if writerWaiting { pthread_cond_signal(queued) }
    }

    /// Waits until everything submitted so far is written and its completion has run.
    public func drain() {
        precondition(!isWriterThread, "a completion must not wait for its own appender")
        pthread_mutex_lock(mutex)
        drainersWaiting += 1
        while count > 0 { pthread_cond_wait(drained, mutex) }
        drainersWaiting -= 1
        pthread_mutex_unlock(mutex)
    }

    /// Waits until everything submitted is written and its completion has run, then stops the writer. Later
    /// submissions throw `.closed`. Does not close the log. An appender's thread runs until this is called.
    public func close() {
        precondition(!isWriterThread, "a completion must not close its own appender")
        pthread_mutex_lock(mutex)
        let first = !closing
        closing = true
        pthread_cond_broadcast(queued)
        pthread_cond_broadcast(drained)
        pthread_mutex_unlock(mutex)
        if first {
            pthread_join(thread, nil)
        } else {
            drain()
        }
    }

    /// The most submissions written together so far.
    var largestGroupWritten: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return largestGroup
    }

    /// Whether the caller is the appender's own thread (a completion).
    private var isWriterThread: Bool { pthread_equal(pthread_self(), thread) != 0 }

    /// Whether a submission of `size` bytes must wait (under `mutex`).
    private func isFull(adding size: Int) -> Bool {
        count == maxQueued || (count > 0 && queuedBytes + size > maxQueuedBytes)
    }

    /// The most submissions, and the most bytes, that were waiting at once.
    var peakQueued: (count: Int, bytes: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (peak, peakBytes)
    }

    /// The most submissions, and bytes, written together as one group (one gathered write).
    static let maxGroup = 64
    static let maxGroupBytes = 256 << 10

    /// Whether an entry can share a write with others: producer appends without producer ids (an idempotent batch
    /// is checked against its producer's state, and a retry must be answered alone).
    private static func groupable(_ entry: Entry) -> Bool {
        entry.origin == .client && !entry.batches.hasProducerId
    }

    private func writeUntilClosed() {
        var group: [Entry] = []
        group.reserveCapacity(Self.maxGroup)
        var checked: [Log.CheckedAppend] = []
        checked.reserveCapacity(Self.maxGroup)
        var results: [Log.AppendResult] = []
        results.reserveCapacity(Self.maxGroup)
        pthread_mutex_lock(mutex)
        while true {
            while count == 0 && !closing {
                writerWaiting = true
                pthread_cond_wait(queued, mutex)
                writerWaiting = false
            }
            guard count > 0 else { break }
            // Group commit: the run of waiting entries at the head that can share one write (and whose leader
            // epoch is the same), up to maxGroup entries and maxGroupBytes.
            var bytes = 0
            while group.count < count, let entry = ring[(head + group.count) % maxQueued] {
                if let first = group.first {
                    guard group.count < Self.maxGroup, Self.groupable(first), Self.groupable(entry),
                        entry.leaderEpoch == first.leaderEpoch, bytes + entry.bytes.count <= Self.maxGroupBytes
                    else { break }
                }
                group.append(entry)
                bytes += entry.bytes.count
            }
            largestGroup = max(largestGroup, group.count)
            pthread_mutex_unlock(mutex)
            write(group, checked: &checked, results: &results)
            pthread_mutex_lock(mutex)
            // The slots are freed only now: the bounds count the batches being written, too.
            for _ in group {
                ring[head] = nil
                head = (head + 1) % maxQueued
            }
            count -= group.count
            queuedBytes -= bytes
            group.removeAll(keepingCapacity: true)
            if (submittersWaiting > 0 && count <= maxQueued / 2 && queuedBytes <= maxQueuedBytes / 2)
                || (drainersWaiting > 0 && count == 0)
            {
                pthread_cond_broadcast(drained)
            }
        }
        pthread_mutex_unlock(mutex)
    }

    /// Writes `group` (one entry, or several that `groupable` allows together) and runs each completion in order.
    private func write(_ group: [Entry], checked: inout [Log.CheckedAppend], results: inout [Log.AppendResult]) {
        // Every entry's bytes stay pinned for the write: each level of `pinned` holds one entry's buffer open.
        // The results are collected and the completions run after the append has returned: outside the log's
        // lock, and after the flush the log's policy may do.
        func pinned(_ i: Int, _ checked: inout [Log.CheckedAppend], _ results: inout [Log.AppendResult]) -> LogError? {
            if i < group.count {
                return group[i].bytes.withBytes { buffer in
                    checked.append(Log.CheckedAppend(bytes: buffer, batches: group[i].batches))
                    return pinned(i + 1, &checked, &results)
                }
            }
            do throws(LogError) {
                try checked.withUnsafeBufferPointer { (appends) throws(LogError) in
                    try log.append(group: appends, origin: group[0].origin, leaderEpoch: group[0].leaderEpoch) { _, result in
                        results.append(result)
                    }
                }
                return nil
            } catch {
                return error
            }
        }
        if let error = pinned(0, &checked, &results) {
            for entry in group { entry.completion(.failure(error)) }
        } else {
            precondition(results.count == group.count, "\(results.count) results for \(group.count) appends")
            for (entry, result) in zip(group, results) { entry.completion(.success(result)) }
        }
        checked.removeAll(keepingCapacity: true)
        results.removeAll(keepingCapacity: true)
    }
}
