/// The broker-level settings of the log cleaner, with Kafka's names and defaults (`log.cleaner.*`).
///
/// ```swift
/// var cleaner = try CleanerConfig(properties: ["log.cleaner.threads": "2"])
/// cleaner.maxIoBytesPerSecond = 50 << 20                 // throttle to 50 MiB/s of reads and writes
/// let manager = try LogManager.open(dataDirectory: "./data", cleanerConfig: cleaner)
/// ```
public struct CleanerConfig: Sendable {
    /// `log.cleaner.enable`: run the background cleaner threads for compacted topics.
    public var enable = true
    /// `log.cleaner.threads`: how many logs may be cleaned at once.
    public var threads = 1
    /// `log.cleaner.dedupe.buffer.size`: memory for the offset maps of all cleaner threads together (each thread
    /// gets an equal share, as in Kafka). This bounds the cleaner's memory whatever the number of keys.
    public var dedupeBufferSize = 128 << 20
    /// `log.cleaner.io.buffer.load.factor`: how full an offset map may get before a cleaning stops mapping.
    public var dedupeBufferLoadFactor = 0.9
    /// `log.cleaner.io.buffer.size`: read and write buffers of all threads together (each thread gets an equal
    /// share, half for reading and half for writing); a buffer grows to hold a batch larger than it.
    public var ioBufferSize = 512 << 10
    /// `log.cleaner.io.max.bytes.per.second`: the cleaners' combined read plus write rate (unlimited by default).
    public var maxIoBytesPerSecond = Double.greatestFiniteMagnitude
    /// `log.cleaner.backoff.ms`: how long an idle cleaner thread sleeps before looking for work again.
    public var backoffMs: Int64 = 15_000

    /// Called at each step of cleaning a group of segments and swapping it in (crash tests kill the process
    /// there: see `CleanerPhase`). Nil in production.
    public var phaseObserver: (@Sendable (CleanerPhase) -> Void)?

    public init() {}

    /// The broker keys this struct understands.
    public static let keys = [
        "log.cleaner.enable", "log.cleaner.threads", "log.cleaner.dedupe.buffer.size",
        "log.cleaner.io.buffer.load.factor", "log.cleaner.io.buffer.size", "log.cleaner.io.max.bytes.per.second",
        "log.cleaner.backoff.ms",
    ]

    /// Applies broker properties over `base`; an unknown key or a bad value is an error naming the key.
    public init(properties: [String: String], base: CleanerConfig = CleanerConfig()) throws(LogConfigError) {
        self = base
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) { try set(key, value) }
    }

    /// Sets one property by its Kafka name.
    public mutating func set(_ key: String, _ value: String) throws(LogConfigError) {
        func int(_ min: Int64, _ max: Int64 = .max) throws(LogConfigError) -> Int64 {
            try LogConfigError.integer(key, value, min, max)
        }
        switch key {
        case "log.cleaner.enable":
            switch value.trimmingWhitespace().lowercased() {
            case "true": enable = true
            case "false": enable = false
            default: throw LogConfigError(key: key, value: value, reason: "expected true or false")
            }
        case "log.cleaner.threads": threads = Int(try int(1, 64))
        case "log.cleaner.dedupe.buffer.size": dedupeBufferSize = Int(try int(Int64(SkimpyOffsetMap.bytesPerEntry) * 2))
        case "log.cleaner.io.buffer.size": ioBufferSize = Int(try int(2 * Int64(RecordBatch.headerSize), Int64(Int32.max)))
        case "log.cleaner.io.buffer.load.factor":
            guard let v = Double(value.trimmingWhitespace()), v > 0, v <= 1 else {
                throw LogConfigError(key: key, value: value, reason: "expected a number in (0, 1]")
            }
            dedupeBufferLoadFactor = v
        case "log.cleaner.io.max.bytes.per.second":
            guard let v = Double(value.trimmingWhitespace()), v > 0 else {
                throw LogConfigError(key: key, value: value, reason: "expected a positive number")
            }
            maxIoBytesPerSecond = v
        case "log.cleaner.backoff.ms": backoffMs = try int(0)
        default:
            throw LogConfigError(key: key, value: value, reason: "unknown log cleaner configuration")
        }
    }

    /// One thread's share of the dedupe buffer (Kafka caps it below 2 GiB).
    var offsetMapMemoryPerThread: Int { min(dedupeBufferSize / max(threads, 1), Int(Int32.max)) }
    /// One thread's read buffer (the write buffer is the same size).
    var ioBufferSizePerThread: Int { max(ioBufferSize / max(threads, 1) / 2, RecordBatch.headerSize) }
}

/// The steps of cleaning one group of segments into a replacement and swapping it in, in order. A crash before
/// `swapLogRenamed` leaves the old segments (the `.cleaned` files are discarded when the log is opened); a crash
/// at or after it leaves the new segment (opening finishes the swap from the `.swap` file).
public enum CleanerPhase: String, Sendable, CaseIterable {
    /// Some cleaned batches are in `<base>.log.cleaned`, not yet synced.
    case cleanedPartial = "cleaned-partial"
    /// The `.cleaned` log and indexes are complete and synced.
    case cleanedWritten = "cleaned-written"
    /// `<base>.log.cleaned` was renamed `<base>.log.swap`: the commit point.
    case swapLogRenamed = "swap-log-renamed"
    /// The indexes are `.swap` too and the directory is synced.
    case swapRenamed = "swap-renamed"
    /// The first replaced segment's log file is renamed `.deleted` (its indexes not yet).
    case oldPartiallyDeleted = "old-partially-deleted"
    /// Every replaced segment is renamed `.deleted`.
    case oldDeleted = "old-deleted"
    /// `<base>.log.swap` has its live name; its indexes are still `.swap`.
    case liveLogRenamed = "live-log-renamed"
    /// The swap is complete and the directory synced; the cleaner checkpoint is not yet written.
    case swapped = "swapped"
    /// `cleaner-offset-checkpoint` records the new clean point.
    case checkpointed = "checkpointed"

    /// Whether a crash at this phase leaves the cleaned content (otherwise the old one).
    public var leavesNewContent: Bool {
        switch self {
        case .cleanedPartial, .cleanedWritten: false
        default: true
        }
    }
}
