import Foundation
import Testing
@testable import SamsaLog

/// `dump-log` prints what Kafka's DumpLogSegments prints. The expected lines are built here from the fixture
/// manifests (and, for the two header fields a manifest does not list, the CRC and the partition leader epoch,
/// from the segment file's bytes read by hand), never from our own output.
@Suite struct DumpLogTests {
    /// Runs a dump and returns its stdout and stderr lines.
    static func dump(_ files: [String], _ configure: (inout DumpLog.Options) -> Void = { _ in }) -> (out: [String], err: [String], summary: DumpLog.Summary) {
        var options = DumpLog.Options()
        configure(&options)
        var out: [String] = []
        var err: [String] = []
        let summary = DumpLog.run(files: files, options: options, out: { out.append($0) }, err: { err.append($0) })
        return (out, err, summary)
    }

    static func bigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value = value << 8 | T(bytes[offset + i]) }
        return value
    }

    /// Kafka's batch line and record lines for one manifest batch, as DumpLogSegments prints them with
    /// `--print-data-log`.
    static func expectedLines(_ batch: Manifest.Batch, segmentBytes: [UInt8], printData: Bool) -> [String] {
        let p = batch.position
        let crc = bigEndian(segmentBytes, at: p + 17, as: UInt32.self)
        let leaderEpoch = bigEndian(segmentBytes, at: p + 12, as: Int32.self)
        let attributes = bigEndian(segmentBytes, at: p + 21, as: Int16.self)
        let storedCodec = ["none", "gzip", "snappy", "lz4", "zstd"][Int(attributes & 7)]
        let delta = Int32(batch.last_offset - batch.base_offset)
        let lastSequence = batch.base_sequence < 0 ? -1 : batch.base_sequence + delta
        let maxTimestamp = batch.records.map(\.timestamp).max()!
        var lines = [
            "baseOffset: \(batch.base_offset) lastOffset: \(batch.last_offset) count: \(batch.records.count)"
                + " baseSequence: \(batch.base_sequence) lastSequence: \(lastSequence) producerId: \(batch.producer_id)"
                + " producerEpoch: \(batch.producer_epoch) partitionLeaderEpoch: \(leaderEpoch)"
                + " isTransactional: \(batch.transactional) isControl: \(batch.control) deleteHorizonMs: OptionalLong.empty"
                + " position: \(p) \(batch.timestamp_type): \(maxTimestamp) size: \(batch.size) magic: 2"
                + " compresscodec: \(storedCodec) crc: \(crc) isvalid: true"
        ]
        for record in batch.records {
            let sequence = batch.base_sequence < 0 ? -1 : batch.base_sequence + Int32(record.offset - batch.base_offset)
            var line = "| offset: \(record.offset) \(batch.timestamp_type): \(record.timestamp)"
                + " keySize: \(record.key?.count ?? -1) valueSize: \(record.value_len ?? record.value?.count ?? -1)"
                + " sequence: \(sequence) headerKeys: [\(record.headerPairs.map(\.0).joined(separator: ","))]"
            if batch.control {
                let value = record.value!
                let epoch = Int32(bigEndian: value[2...5].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) })
                line += " endTxnMarker: \(batch.control_type!.uppercased()) coordinatorEpoch: \(epoch)"
            } else if printData {
                if let key = record.key { line += " key: " + String(decoding: key, as: UTF8.self) }
                if let value = record.value { line += " payload: " + String(decoding: value, as: UTF8.self) }
            }
            lines.append(line)
        }
        return lines
    }

    @Test(arguments: ["transactions", "log-append-time", "idempotent", "mixed-codecs"])
    func logDumpMatchesKafkasLinesFromTheManifest(set: String) throws {
        let manifest = try Fixtures.manifest(set)
        let segment = manifest.segments[0]
        let path = Fixtures.partitionDirectory(set, manifest).appendingPathComponent("\(segment).log").path
        let bytes = try Fixtures.segmentBytes(set, manifest, segment: segment)
        var expected = ["Dumping \(path)", "Log starting offset: \(Int64(segment)!)"]
        for batch in manifest.batches where batch.segment == segment {
            expected += Self.expectedLines(batch, segmentBytes: bytes, printData: true)
        }
        let (out, err, summary) = Self.dump([path]) { $0.printDataLog = true }
        #expect(err.isEmpty, "\(err)")
        #expect(out.count == expected.count)
        for (i, (ours, kafkas)) in zip(out, expected).enumerated() where ours != kafkas {
            Issue.record("\(set) line \(i):\n  ours:  \(ours.prefix(300))\n  kafka: \(kafkas.prefix(300))")
            break
        }
        #expect(summary.batches == manifest.batches.filter { $0.segment == segment }.count)
        #expect(summary.invalidBatches == 0)
    }

    @Test func transactionMarkersPrintAsEndTxnMarkers() throws {
        let manifest = try Fixtures.manifest("transactions")
        let control = try #require(manifest.batches.first { $0.control && $0.control_type == "commit" })
        let path = Fixtures.partitionDirectory("transactions", manifest).appendingPathComponent("\(control.segment).log").path
        let (out, _, _) = Self.dump([path]) { $0.deepIteration = true }
        let line = try #require(out.first { $0.hasPrefix("| offset: \(control.base_offset) ") })
        #expect(line.hasSuffix("headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 0"))
        let batchLine = try #require(out.first { $0.hasPrefix("baseOffset: \(control.base_offset) ") })
        #expect(batchLine.contains(" isTransactional: true isControl: true "))
        #expect(batchLine.contains(" producerId: \(control.producer_id) producerEpoch: \(control.producer_epoch) "))
    }

    @Test func shallowDumpPrintsBatchesOnly() throws {
        let manifest = try Fixtures.manifest("gzip")
        let path = Fixtures.partitionDirectory("gzip", manifest).appendingPathComponent("\(manifest.segments[0]).log").path
        let (out, _, summary) = Self.dump([path])
        let batches = manifest.batches.filter { $0.segment == manifest.segments[0] }
        #expect(out.count == 2 + batches.count)
        #expect(out.allSatisfy { !$0.hasPrefix("| ") })
        #expect(summary.records == batches.reduce(0) { $0 + $1.records.count })
    }

    @Test(arguments: ["none-multiseg", "transactions"])
    func indexDumpsListTheManifestsEntriesWithoutMismatches(set: String) throws {
        let manifest = try Fixtures.manifest(set)
        let directory = Fixtures.partitionDirectory(set, manifest)
        for segment in manifest.segments.prefix(3) {
            let base = Int64(segment)!
            let entries = try #require(manifest.index_entries[segment])
            let index = directory.appendingPathComponent("\(segment).index").path
            let time = directory.appendingPathComponent("\(segment).timeindex").path
            let (out, err, summary) = Self.dump([index, time])
            var expected = ["Dumping \(index)"]
            expected += entries.index.map { "offset: \(base + $0[0]) position: \($0[1])" }
            expected.append("Dumping \(time)")
            expected += entries.timeindex.map { "timestamp: \($0[0]) offset: \(base + $0[1])" }
            #expect(out == expected, "\(set) \(segment)")
            #expect(err.isEmpty, "\(set) \(segment): \(err)")
            #expect(summary.indexMismatches == 0 && summary.timeIndexProblems == 0)
        }
    }

    @Test func indexEntryPointingAtTheWrongBatchIsReportedAsKafkaDoes() throws {
        let temp = TemporaryDirectory()
        let (path, manifest) = try temp.copyFixture("none-multiseg")
        let segment = manifest.segments[0]
        let entries = try #require(manifest.index_entries[segment]?.index)
        // Point the second entry at the batch the first entry points at.
        let indexPath = path + "/\(segment).index"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: indexPath)))
        bytes.replaceSubrange(12..<16, with: bytes[4..<8])
        try Data(bytes).write(to: URL(fileURLWithPath: indexPath))
        let (out, err, summary) = Self.dump([indexPath]) { $0.verifyIndexOnly = true }
        #expect(out == ["Dumping \(indexPath)"])
        let wrongBatch = try #require(manifest.batches.first { $0.segment == segment && Int64($0.position) == entries[0][1] })
        #expect(err == ["Mismatches in :\(indexPath)", "  Index offset: \(entries[1][0]), log offset: \(wrongBatch.last_offset)"])
        #expect(summary.indexMismatches == 1)
    }

    @Test func timeIndexEntryWithTheWrongTimestampIsReported() throws {
        let temp = TemporaryDirectory()
        let (path, manifest) = try temp.copyFixture("none-multiseg")
        let segment = manifest.segments[1]
        let entries = try #require(manifest.index_entries[segment]?.timeindex)
        let timePath = path + "/\(segment).timeindex"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: timePath)))
        // Entry 2's timestamp + 1: still increasing, but not the batch's max timestamp.
        let wrong = entries[2][0] + 1
        withUnsafeBytes(of: wrong.bigEndian) { bytes.replaceSubrange(24..<32, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: timePath))
        let (_, err, summary) = Self.dump([timePath])
        #expect(err == ["Found timestamp mismatch in :\(timePath)", "  Index timestamp: \(wrong), log timestamp: \(entries[2][0])"])
        #expect(summary.timeIndexProblems == 1)
    }

    @Test func indexSanityCheckPassesKafkasIndexesAndFailsAPartialEntry() throws {
        let temp = TemporaryDirectory()
        let (path, manifest) = try temp.copyFixture("zstd")
        let segment = manifest.segments[0]
        let index = path + "/\(segment).index"
        let time = path + "/\(segment).timeindex"
        let (out, err, _) = Self.dump([index, time]) { $0.indexSanityCheck = true }
        #expect(out == ["Dumping \(index)", "\(index) passed sanity check.", "Dumping \(time)", "\(time) passed sanity check."])
        #expect(err.isEmpty)
        // A torn write left half an entry at the end.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: index))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 0, 9]))
        try handle.close()
        let size = try #require(try FileManager.default.attributesOfItem(atPath: index)[.size] as? Int)
        let (_, errAfter, summary) = Self.dump([index]) { $0.indexSanityCheck = true }
        #expect(errAfter == ["Error: Index file \(index) is corrupt, found \(size) bytes which is neither positive nor a multiple of 8"])
        #expect(summary.errors.count == 1)
    }

    @Test func tornTailIsReportedAsInvalidBytes() throws {
        let manifest = try Fixtures.manifest("torn-tail")
        let expectation = try #require(manifest.expected_after_recovery)
        let url = Fixtures.partitionDirectory("torn-tail", manifest).appendingPathComponent("\(expectation.truncated_segment).log")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        let (out, _, summary) = Self.dump([url.path])
        #expect(out.last == "Found \(size - expectation.valid_bytes) invalid bytes at the end of \(expectation.truncated_segment).log")
        #expect(summary.bytes == Int64(expectation.valid_bytes))
    }

    @Test func corruptBatchIsPrintedAsInvalid() throws {
        let manifest = try Fixtures.manifest("corrupt-crc")
        let expectation = try #require(manifest.expected_after_recovery)
        let url = Fixtures.partitionDirectory("corrupt-crc", manifest).appendingPathComponent("\(expectation.truncated_segment).log")
        let (out, _, summary) = Self.dump([url.path])
        let damaged = try #require(out.first { $0.contains(" position: \(expectation.valid_bytes) ") })
        #expect(damaged.hasSuffix(" isvalid: false"))
        #expect(summary.invalidBatches == 1)
        #expect(out.filter { $0.hasSuffix(" isvalid: true") }.count == summary.batches - 1)
    }

    @Test func maxBytesStopsAtTheLastWholeBatch() throws {
        let manifest = try Fixtures.manifest("lz4")
        let segment = manifest.segments[0]
        let batches = manifest.batches.filter { $0.segment == segment }
        let path = Fixtures.partitionDirectory("lz4", manifest).appendingPathComponent("\(segment).log").path
        // Two whole batches and half of the third.
        let limit = batches[2].position + batches[2].size / 2
        let (out, _, summary) = Self.dump([path]) { $0.maxBytes = limit }
        #expect(summary.batches == 2)
        #expect(out.count == 4)
        #expect(!out.contains { $0.hasPrefix("Found ") })
    }

    @Test func jsonPrintsOneObjectPerRecordMatchingTheManifest() throws {
        let manifest = try Fixtures.manifest("transactions")
        let segment = manifest.segments[1]
        let path = Fixtures.partitionDirectory("transactions", manifest).appendingPathComponent("\(segment).log").path
        let (out, err, _) = Self.dump([path]) { $0.json = true }
        #expect(err.isEmpty)
        let batches = manifest.batches.filter { $0.segment == segment }
        let records = batches.flatMap { batch in batch.records.map { (batch, $0) } }
        #expect(out.count == records.count)
        for (line, (batch, record)) in zip(out, records) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["offset"] as? Int64 == record.offset)
            #expect(object["timestamp"] as? Int64 == record.timestamp)
            #expect(object["timestampType"] as? String == batch.timestamp_type)
            #expect((object["key"] as? String).map { [UInt8](Data(base64Encoded: $0)!) } == record.key)
            #expect((object["value"] as? String).map { [UInt8](Data(base64Encoded: $0)!) } == record.value)
            #expect((object["key"] is NSNull) == (record.key == nil))
            let headers = try #require(object["headers"] as? [[String: Any]])
            #expect(headers.map { $0["key"] as? String } == record.headerPairs.map(\.0))
            #expect(headers.map { ($0["value"] as? String).map { [UInt8](Data(base64Encoded: $0)!) } } == record.headerPairs.map(\.1))
            #expect(object["isControl"] as? Bool == batch.control)
            #expect(object["producerId"] as? Int64 == batch.producer_id)
            #expect(object["baseOffset"] as? Int64 == batch.base_offset)
            if batch.control { #expect(object["endTxnMarker"] as? String == batch.control_type!.uppercased()) }
        }
    }

    @Test func unreadableFilesAreErrorsAndTheOthersStillDump() throws {
        let manifest = try Fixtures.manifest("zstd")
        let good = Fixtures.partitionDirectory("zstd", manifest).appendingPathComponent("\(manifest.segments[0]).log").path
        let (out, err, summary) = Self.dump(["/nonexistent/00000000000000000000.log", good, "notes.txt"])
        #expect(summary.errors.count == 1)
        #expect(err.contains { $0.hasPrefix("Error: ") && $0.contains("/nonexistent/00000000000000000000.log") })
        #expect(err.contains("Ignoring unknown file notes.txt"))
        #expect(out.contains("Dumping \(good)"))
        #expect(summary.batches == manifest.batches.filter { $0.segment == manifest.segments[0] }.count)
    }

    @Test func javaPathsAndSequencesFollowKafka() {
        #expect(DumpLog.javaFileString("a//b/c.log") == "a/b/c.log")
        #expect(DumpLog.javaFileString("dir/") == "dir")
        #expect(DumpLog.incrementSequence(5, 3) == 8)
        #expect(DumpLog.incrementSequence(Int32.max - 1, 3) == 1)
        #expect(DumpLog.incrementSequence(-1, 3) == -1)
    }
}
