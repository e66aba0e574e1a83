import NIOCore
import SamsaLog

/// The record batches a fetch returned for one partition, from the fetch offset on.
struct CompletedFetch: Sendable {
    let topicPartition: TopicPartition
    /// Whole record batches only (a partial trailing batch was cut off).
    let records: ByteBuffer
    /// Records before this offset (earlier records of the first batch) are not returned.
    let startOffset: Int64
    /// The offset after the last whole batch: the position once these records are consumed.
    let nextOffset: Int64
    let highWatermark: Int64
    /// The partition's seek epoch when the fetch was sent; a seek since then makes the data stale.
    let epoch: UInt64
}

/// Where the whole batches of a Fetch response's records end. A response may end inside a batch (the broker
/// cuts at `max.bytes`); what is cut off is fetched again next time.
enum FetchedBatches {
    /// The byte length of the whole batches at the start of `records`, and the offset after the last one.
    /// Reads only batch headers (base offset, length, last offset delta).
    static func completeBatches(in records: ByteBuffer) -> (bytes: Int, nextOffset: Int64?) {
        var position = records.readerIndex
        let end = records.writerIndex
        var nextOffset: Int64?
        while end - position >= RecordBatch.headerSize {
            guard let base = records.getInteger(at: position, endianness: .big, as: Int64.self),
                let length = records.getInteger(at: position + 8, endianness: .big, as: Int32.self),
                let lastDelta = records.getInteger(at: position + 23, endianness: .big, as: Int32.self)
            else { break }
            let size = Int(length) + RecordBatch.logOverhead
            guard length >= 0, size >= RecordBatch.headerSize, end - position >= size else { break }
            nextOffset = base + Int64(lastDelta) + 1
            position += size
        }
        return (position - records.readerIndex, nextOffset)
    }
}

/// One record as a consumer sees it, valid only inside the `forEach` call that passed it (its key, value
/// and headers point into the fetched bytes).
public struct ConsumerRecordView {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let timestamp: Int64
    public let timestampType: TimestampType
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer?
    public let headers: RecordHeaders
    /// The leader epoch of the batch (`-1` when the batch carries none).
    public let leaderEpoch: Int32
}

/// A record copied out of the fetched bytes.
public struct ConsumerRecord: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var timestamp: Int64
    public var timestampType: TimestampType
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(_ view: ConsumerRecordView) {
        topic = view.topic
        partition = view.partition
        offset = view.offset
        timestamp = view.timestamp
        timestampType = view.timestampType
        key = view.key.map { Array($0) }
        value = view.value.map { Array($0) }
        headers = view.headers.map { RecordHeader(key: $0.keyString, value: $0.value.map { Array($0) }) }
    }
}

/// What one `poll` returned: whole record batches per partition, read lazily. Control batches (transaction
/// markers) are skipped; so are records before the position the fetch started at.
///
/// ```swift
/// let records = try await consumer.poll(timeout: .milliseconds(500))
/// var scratch: [UInt8] = []
/// try records.forEach(scratch: &scratch) { record in
///     print(record.offset, record.value.map { String(decoding: $0, as: UTF8.self) } ?? "null")
///     return true                         // false stops early
/// }
/// ```
public struct ConsumerRecords: Sendable {
    let fetches: [CompletedFetch]
    let checkCRCs: Bool

    public static let empty = ConsumerRecords(fetches: [], checkCRCs: false)

    public var isEmpty: Bool { fetches.isEmpty }
    /// The bytes of the fetched batches (compressed size).
    public var byteCount: Int { fetches.reduce(0) { $0 + $1.records.readableBytes } }

    /// Calls `body` with each record in order (per partition, in offset order); `body` returns false to stop.
    /// Returns false if stopped early. `scratch` holds decompressed records: reuse it across calls.
    @discardableResult
    public func forEach(
        scratch: inout [UInt8], _ body: (ConsumerRecordView) throws -> Bool
    ) throws -> Bool {
        for fetch in fetches {
            let tp = fetch.topicPartition
            let keepGoing: Bool = try fetch.records.withUnsafeReadableBytes { raw in
                var position = 0
                while position < raw.count {
                    let rest = UnsafeRawBufferPointer(rebasing: raw[position...])
                    let batch: RecordBatch
                    do {
                        batch = checkCRCs ? try RecordBatch(validating: rest) : try RecordBatch(validatingHeaderOf: rest)
                    } catch {
                        let offset = rest.count >= 8 ? rest.loadBigEndianInt64() : fetch.startOffset
                        throw ClientError.corruptRecords(
                            topic: tp.topic, partition: tp.partition, offset: offset, reason: "\(error)")
                    }
                    position += batch.sizeInBytes
                    if batch.isControl || batch.nextOffset <= fetch.startOffset { continue }
                    let type = batch.timestampType
                    let epoch = batch.partitionLeaderEpoch
                    let stop: Bool
                    do {
                        stop = try batch.withRecords(scratch: &scratch) { iterator in
                            while let record = try iterator.next() {
                                if record.offset < fetch.startOffset { continue }
                                let view = ConsumerRecordView(
                                    topic: tp.topic, partition: tp.partition, offset: record.offset,
                                    timestamp: record.timestamp, timestampType: type, key: record.key, value: record.value,
                                    headers: record.headers, leaderEpoch: epoch)
                                if try !body(view) { return true }
                            }
                            return false
                        }
                    } catch let error as RecordBatchError {
                        throw ClientError.corruptRecords(
                            topic: tp.topic, partition: tp.partition, offset: batch.baseOffset, reason: "\(error)")
                    }
                    if stop { return false }
                }
                return true
            }
            if !keepGoing { return false }
        }
        return true
    }

    /// Every record, copied.
    public func records() throws -> [ConsumerRecord] {
        var scratch: [UInt8] = []
        var result: [ConsumerRecord] = []
        try forEach(scratch: &scratch) { record in
            result.append(ConsumerRecord(record))
            return true
        }
        return result
    }

    /// Where each partition must resume when a caller stopped `forEach` right after the record at `last`
    /// (nil: before the first record): the partition of `last` after it, the partitions `forEach` had not reached
    /// at their start. The partitions it had finished are absent (their positions are already right).
    public func resumePositions(stoppedAfter last: (topic: String, partition: Int32, offset: Int64)?) -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        var reached = last == nil
        for fetch in fetches {
            let tp = fetch.topicPartition
            if let last, !reached, tp.partition == last.partition, tp.topic == last.topic {
                result[tp] = last.offset + 1
                reached = true
            } else if reached, result[tp] == nil {
                result[tp] = fetch.startOffset
            }
        }
        return result
    }

    /// The partitions present, with the offset after their last whole batch.
    public var nextOffsets: [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for fetch in fetches { result[fetch.topicPartition] = fetch.nextOffset }
        return result
    }
}

extension UnsafeRawBufferPointer {
    fileprivate func loadBigEndianInt64() -> Int64 {
        var value: Int64 = 0
        for i in 0..<8 { value = value << 8 | Int64(self[i]) }
        return value
    }
}
