import Foundation
import Testing
@testable import SamsaLog

/// `replay` copies a Kafka-format log into a fresh Samsa log batch for batch: offsets and bytes unchanged, segments
/// where the source had them, damage reported exactly.
@Suite struct ReplayTests {
    static func fileBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test(arguments: Fixtures.intactSets)
    func intactSetReplaysIntoIdenticalSegmentsAndIndexes(set: String) throws {
        let temp = TemporaryDirectory()
        let manifest = try Fixtures.manifest(set)
        let source = Fixtures.partitionDirectory(set, manifest)
        let report = try Replay.run(source: Fixtures.root.appendingPathComponent(set).path, options: .init(into: temp.path, verify: true))
        #expect(report.partitions.count == 1)
        #expect(report.records == manifest.batches.reduce(0) { $0 + $1.records.count })
        #expect(report.batches == manifest.batches.count)
        #expect(report.damaged.isEmpty)
        let verification = try #require(report.verifications.first)
        #expect(verification.ok, "\(verification.mismatches)")
        #expect(verification.records == report.records)
        #expect(verification.manifestRecords == report.records, "every record is checked against manifest.json")
        // Rolled where the source rolled, indexed by the same rule: Kafka's files, byte for byte.
        let replayed = temp.sub("\(manifest.topic)-\(manifest.partition)")
        for segment in manifest.segments {
            for ext in ["log", "index", "timeindex"] {
                let ours = try Self.fileBytes(replayed + "/\(segment).\(ext)")
                let kafkas = try Self.fileBytes(source.appendingPathComponent("\(segment).\(ext)").path)
                #expect(ours == kafkas, "\(set) \(segment).\(ext)")
            }
        }
        // The data directory is usable afterwards: it opens cleanly and holds the offsets.
        let manager = try LogManager.open(dataDirectory: temp.path, backgroundIntervalMs: nil)
        let log = try #require(manager.log(TopicPartition(manifest.topic, Int32(manifest.partition))))
        #expect(log.logEndOffset == manifest.log_end_offset)
        #expect(manager.openReports.isEmpty, "a replayed directory is closed cleanly: nothing to recover")
        try manager.close()
    }

    @Test func tornTailReplaysUpToTheDamageAndSaysWhatWasDropped() throws {
        let manifest = try Fixtures.manifest("torn-tail")
        let expectation = try #require(manifest.expected_after_recovery)
        let report = try Replay.run(source: Fixtures.root.appendingPathComponent("torn-tail").path, options: .init(verify: true))
        let partition = try #require(report.partitions.first)
        #expect(partition.nextOffset == expectation.log_end_offset)
        let damage = try #require(partition.damage)
        let segmentPath = Fixtures.partitionDirectory("torn-tail", manifest).appendingPathComponent("\(expectation.truncated_segment).log").path
        let size = try Self.fileBytes(segmentPath).count
        #expect(damage.segment.hasSuffix("\(expectation.truncated_segment).log"))
        #expect(damage.position == Int64(expectation.valid_bytes))
        #expect(damage.droppedBytes == Int64(size - expectation.valid_bytes))
        #expect(damage.lastOffsetKept == expectation.log_end_offset - 1)
        #expect(damage.reason.contains("truncated"))
        #expect(damage.laterSegments.isEmpty)
        #expect(damage.description.hasPrefix("\(expectation.truncated_segment).log: dropped \(size - expectation.valid_bytes) bytes from byte \(expectation.valid_bytes) after offset \(expectation.log_end_offset - 1): "))
        #expect(report.verified, "\(report.verifications.first?.mismatches ?? [])")
        #expect(report.removed)
        #expect(!FileManager.default.fileExists(atPath: report.dataDirectory))
    }

    @Test func corruptBatchStopsTheReplayWithTheCRCReason() throws {
        let manifest = try Fixtures.manifest("corrupt-crc")
        let expectation = try #require(manifest.expected_after_recovery)
        let report = try Replay.run(source: Fixtures.root.appendingPathComponent("corrupt-crc").path, options: .init(verify: true))
        let partition = try #require(report.partitions.first)
        #expect(partition.nextOffset == expectation.log_end_offset)
        let damage = try #require(partition.damage)
        #expect(damage.reason.hasPrefix("CRC mismatch"))
        #expect(damage.position == Int64(expectation.valid_bytes))
        #expect(report.verified)
        #expect(report.records == manifest.batches.filter { $0.last_offset < expectation.log_end_offset }.reduce(0) { $0 + $1.records.count })
    }

    @Test func damageInAnEarlierSegmentDropsTheLaterOnes() throws {
        let temp = TemporaryDirectory()
        let (path, manifest) = try temp.copyFixture("gzip")
        // Flip a byte inside the third batch of the first segment.
        let victim = manifest.batches.filter { $0.segment == manifest.segments[0] }[2]
        let logPath = path + "/\(manifest.segments[0]).log"
        var bytes = try Self.fileBytes(logPath)
        bytes[victim.position + victim.size - 3] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: logPath))
        let source = try #require(try Replay.sources(at: path).first)
        var chunks = 0
        let report = try Replay.replay(source) { _ in chunks += 1 }
        #expect(report.nextOffset == victim.base_offset)
        let damage = try #require(report.damage)
        #expect(damage.position == Int64(victim.position))
        #expect(damage.laterSegments.count == manifest.segments.count - 1)
        #expect(damage.description.contains("also dropped \(manifest.segments.count - 1) later segments"))
        #expect(chunks == 1)
    }

    @Test func destinationClosureSeesEverySourceByteInOrder() throws {
        let manifest = try Fixtures.manifest("none-multiseg")
        let sources = try Replay.sources(at: Fixtures.partitionDirectory("none-multiseg", manifest).path)
        let source = try #require(sources.first)
        #expect(source.topicPartition == TopicPartition("orders", 0))
        #expect(source.manifestPath != nil)
        var next: Int64 = 0
        var segmentStarts: [Int64] = []
        var copied: [Int64: [UInt8]] = [:]
        var records = 0
        // Small chunks, so that runs cross the reader's refills.
        let report = try Replay.replay(source, chunkBytes: 10_000) { chunk in
            #expect(chunk.firstOffset == next, "chunks are contiguous")
            next = chunk.lastOffset + 1
            records += chunk.recordCount
            if chunk.startsSegment { segmentStarts.append(chunk.segmentBaseOffset) }
            copied[chunk.segmentBaseOffset, default: []].append(contentsOf: chunk.bytes)
        }
        #expect(segmentStarts == manifest.segments.map { Int64($0)! })
        #expect(records == report.records && next == manifest.log_end_offset)
        for segment in manifest.segments {
            #expect(copied[Int64(segment)!] == (try Fixtures.segmentBytes("none-multiseg", manifest, segment: segment)), "\(segment)")
        }
    }

    @Test func aPartitionThatHoldsRecordsIsNotReplayedInto() throws {
        let temp = TemporaryDirectory()
        let set = Fixtures.root.appendingPathComponent("lz4").path
        _ = try Replay.run(source: set, options: .init(into: temp.path))
        #expect(throws: ReplayError.self) { try Replay.run(source: set, options: .init(into: temp.path)) }
    }

    @Test func verificationReportsAValueThatDiffersFromTheSource() throws {
        let temp = TemporaryDirectory()
        let (path, manifest) = try temp.copyFixture("none-multiseg")
        let source = try #require(try Replay.sources(at: path).first)
        let log = try Log.open(directory: temp.sub("replayed/orders-0"), config: Replay.destinationConfig())
        let report = try Replay.replay(source, into: Replay.logDestination(log))
        #expect(try Replay.verify(report, against: log).ok)
        // Change one value byte in the source copy: the replayed log no longer matches it.
        let batch = try #require(manifest.batches.first {
            $0.codec == "none" && $0.records.last!.headers.isEmpty && !($0.records.last!.value?.isEmpty ?? true)
        })
        let logPath = path + "/\(batch.segment).log"
        var bytes = try Self.fileBytes(logPath)
        bytes[batch.position + batch.size - 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: logPath))
        let verification = try Replay.verify(report, against: log)
        #expect(!verification.ok)
        #expect(verification.mismatches.contains { $0.contains("batch \(batch.base_offset)...\(batch.last_offset): bytes differ") })
        #expect(verification.mismatches.contains { $0.contains("differs from the source") })
        try log.close()
    }

    @Test func noSourceIsAClearError() throws {
        let temp = TemporaryDirectory()
        #expect(throws: ReplayError.self) { try Replay.sources(at: temp.path) }
        #expect(throws: ReplayError.self) { try Replay.sources(at: temp.sub("missing")) }
    }

    @Test func reportJSONCarriesTheDamage() throws {
        let report = try Replay.run(source: Fixtures.root.appendingPathComponent("torn-tail").path)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        let partitions = try #require(object["partitions"] as? [[String: Any]])
        let damage = try #require(partitions.first?["damage"] as? [String: Any])
        #expect(damage["position"] as? Int64 == report.partitions[0].damage?.position)
        #expect(object["records"] as? Int == report.records)
        #expect(report.lines().contains { $0.contains("dropped") })
    }
}
