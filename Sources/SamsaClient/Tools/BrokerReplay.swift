import NIOCore
import SamsaLog

/// One source partition produced into a broker: the walk runs on a thread of its own (the engine's walk is
/// synchronous), handing each stored batch to a `BatchWriter` and waiting only when `maxInFlight` answers are
/// outstanding.
public enum BrokerReplay {
    public struct Report: Sendable {
        public var source: String
        public var destination: TopicPartition
        public var batches = 0
        public var records = 0
        public var bytes: Int64 = 0
        public var controlBatchesSkipped = 0
        /// The source's first and last offsets produced, and the offsets the broker gave them.
        public var sourceFirstOffset: Int64?
        public var sourceLastOffset: Int64?
        public var brokerFirstOffset: Int64?
        public var brokerLastOffset: Int64?
        public var damage: String?
        public var seconds = 0.0
        public var error: String?

        public var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }
        public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0 }

        public func lines(bootstrap: String) -> [String] {
            var lines: [String] = []
            lines.append("Replayed \(source) into \(destination) at \(bootstrap): \(batches) batches, \(records) records, \(bytes) bytes in "
                + "\(NumberFormat.fixed(seconds, decimals: 3)) s: \(NumberFormat.grouped(Int64(recordsPerSecond.rounded()))) records/s, "
                + "\(NumberFormat.fixed(megabytesPerSecond, decimals: 2)) MB/s")
            if let first = sourceFirstOffset, let last = sourceLastOffset, let brokerFirst = brokerFirstOffset, let brokerLast = brokerLastOffset {
                let same = first == brokerFirst && last == brokerLast && controlBatchesSkipped == 0
                lines.append("  source offsets \(first)...\(last) are offsets \(brokerFirst)...\(brokerLast) in \(destination)"
                    + (same ? " (unchanged)" : ""))
            }
            if controlBatchesSkipped > 0 {
                lines.append("  skipped \(controlBatchesSkipped) control batches (transaction markers): brokers accept them only from a transaction coordinator")
            }
            if let damage { lines.append("  source damaged: \(damage)") }
            if let error { lines.append("  stopped: \(error)") }
            return lines
        }
    }

    /// Produces every data batch of `source` through `writer`, with at most `maxInFlight` unanswered; blocks the
    /// calling thread (run it off the event loops). Stops at the first failure, after the writes in flight.
    public static func run(
        _ source: Replay.SourcePartition, writer: BatchWriter, maxInFlight: Int, progress: ((Replay.Progress) -> Void)? = nil
    ) -> Report {
        var report = Report(source: source.directory, destination: writer.topicPartition)
        var pending = CircularBuffer<(future: EventLoopFuture<BatchAck>, baseOffset: Int64, lastOffset: Int64)>()
        let allocator = ByteBufferAllocator()
        let started = ContinuousClock.now

        func settle(_ entry: (future: EventLoopFuture<BatchAck>, baseOffset: Int64, lastOffset: Int64)) throws {
            let ack = try entry.future.wait()
            if report.brokerFirstOffset == nil { report.brokerFirstOffset = ack.baseOffset }
            report.brokerLastOffset = ack.baseOffset + (entry.lastOffset - entry.baseOffset)
        }

        do {
            let walk = try Replay.replay(source, chunkBytes: 1 << 20, progress: progress) { chunk in
                // One copy per chunk (about 1 MiB); each batch's request carries a slice of it.
                var chunkBuffer = allocator.buffer(capacity: chunk.bytes.count)
                chunkBuffer.writeBytes(chunk.bytes)
                var position = 0
                while position < chunk.bytes.count {
                    let rest = UnsafeRawBufferPointer(rebasing: chunk.bytes[position...])
                    let size = try RecordBatch.size(ofBatchAt: rest, maxBatchSize: rest.count)
                    let bytes = UnsafeRawBufferPointer(rebasing: rest[0..<size])
                    position += size
                    let batch = RecordBatch(unchecked: bytes)
                    if batch.isControl {
                        report.controlBatchesSkipped += 1
                        continue
                    }
                    let slice = chunkBuffer.getSlice(at: chunkBuffer.readerIndex + position - size, length: size)!
                    pending.append((writer.write(slice), batch.baseOffset, batch.lastOffset))
                    report.batches += 1
                    report.records += Int(batch.recordCount)
                    report.bytes += Int64(size)
                    if report.sourceFirstOffset == nil { report.sourceFirstOffset = batch.baseOffset }
                    report.sourceLastOffset = batch.lastOffset
                    if pending.count >= maxInFlight { try settle(pending.removeFirst()) }
                }
            }
            while let entry = pending.popFirst() { try settle(entry) }
            report.damage = walk.damage?.description
        } catch {
            // Wait for what is still in flight, so the report says where the broker stopped.
            while let entry = pending.popFirst() { try? settle(entry) }
            report.error = "\(error)"
        }
        let elapsed = ContinuousClock.now - started
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return report
    }

    /// One JSON object: totals, then each partition's report.
    public static func json(_ reports: [Report], bootstrap: String, error: String?) -> String {
        func string(_ s: String) -> String {
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        func number(_ n: Int64?) -> String { n.map(String.init) ?? "null" }
        let records = reports.reduce(0) { $0 + $1.records }
        let bytes = reports.reduce(Int64(0)) { $0 + $1.bytes }
        let seconds = reports.reduce(0.0) { $0 + $1.seconds }
        var o = "{\"bootstrap\":\(string(bootstrap)),\"records\":\(records),\"bytes\":\(bytes)"
        o += ",\"seconds\":\(NumberFormat.fixed(seconds, decimals: 6))"
        o += ",\"recordsPerSecond\":\(NumberFormat.fixed(seconds > 0 ? Double(records) / seconds : 0, decimals: 0))"
        o += ",\"mbPerSecond\":\(NumberFormat.fixed(seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0, decimals: 3))"
        o += ",\"error\":\(error.map(string) ?? "null"),\"partitions\":["
        o += reports.map { r in
            "{\"source\":\(string(r.source)),\"topic\":\(string(r.destination.topic)),\"partition\":\(r.destination.partition)"
                + ",\"batches\":\(r.batches),\"records\":\(r.records),\"bytes\":\(r.bytes)"
                + ",\"controlBatchesSkipped\":\(r.controlBatchesSkipped)"
                + ",\"sourceFirstOffset\":\(number(r.sourceFirstOffset)),\"sourceLastOffset\":\(number(r.sourceLastOffset))"
                + ",\"brokerFirstOffset\":\(number(r.brokerFirstOffset)),\"brokerLastOffset\":\(number(r.brokerLastOffset))"
                + ",\"seconds\":\(NumberFormat.fixed(r.seconds, decimals: 6))"
                + ",\"recordsPerSecond\":\(NumberFormat.fixed(r.recordsPerSecond, decimals: 0)),\"mbPerSecond\":\(NumberFormat.fixed(r.megabytesPerSecond, decimals: 3))"
                + ",\"damage\":\(r.damage.map(string) ?? "null"),\"error\":\(r.error.map(string) ?? "null")}"
        }.joined(separator: ",")
        return o + "]}"
    }
}
