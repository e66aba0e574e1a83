import Foundation
import Testing
@testable import SamsaLog

/// Kafka-written partition directories open, recover and read back exactly as their manifests say.
@Suite struct LogFixtureTests {
    @Test(arguments: Fixtures.allSets)
    func opensRecoversAndReadsEveryRecord(set: String) throws {
        let dir = TemporaryDirectory()
        let (path, manifest) = try dir.copyFixture(set)
        let config = try LogConfig(properties: [
            "segment.bytes": "\(manifest.segment_bytes)", "index.interval.bytes": "\(manifest.index_interval_bytes)",
        ])
        let log = try Log.open(directory: path, config: config)
        let expectedEnd = manifest.expected_after_recovery?.log_end_offset ?? manifest.log_end_offset
        #expect(log.logEndOffset == expectedEnd, "\(set)")
        #expect(log.logStartOffset == 0)
        if let damage = manifest.expected_after_recovery {
            let truncation = try #require(log.openReport.truncations.first, "\(set): no truncation reported")
            #expect(truncation.segment.hasSuffix("\(damage.truncated_segment).log"))
            #expect(try FileManager.default.attributesOfItem(atPath: path + "/\(damage.truncated_segment).log")[.size] as? Int == damage.valid_bytes)
            #expect(log.openReport.description.contains("dropped"))
        } else {
            #expect(log.openReport.truncations.isEmpty, "\(set): \(log.openReport)")
        }
        let records = try log.readAllRecords()
        let expected = manifest.batches.flatMap(\.records).filter { $0.offset < expectedEnd }
        #expect(records.count == expected.count, "\(set)")
        for (got, want) in zip(records, expected) {
            #expect(got.offset == want.offset && got.timestamp == want.timestamp && got.key == want.key)
            if want.value_len == nil { #expect(got.value == want.value, "\(set) offset \(want.offset)") }
        }
        try log.close()
    }

    /// Recovery rebuilds `.index` and `.timeindex` from the `.log`; for an untouched set the rebuilt files equal
    /// the ones Kafka's rules produced, byte for byte.
    @Test(arguments: Fixtures.intactSets)
    func rebuiltIndexesEqualTheOriginals(set: String) throws {
        let dir = TemporaryDirectory()
        let (path, manifest) = try dir.copyFixture(set)
        let originals = try manifest.segments.map { segment in
            (segment, try Fixtures.segmentBytes(set, manifest, segment: segment, ext: "index"),
             try Fixtures.segmentBytes(set, manifest, segment: segment, ext: "timeindex"))
        }
        for segment in manifest.segments {
            try FileManager.default.removeItem(atPath: path + "/\(segment).index")
            try FileManager.default.removeItem(atPath: path + "/\(segment).timeindex")
        }
        let config = try LogConfig(properties: [
            "segment.bytes": "\(manifest.segment_bytes)", "index.interval.bytes": "\(manifest.index_interval_bytes)",
        ])
        let log = try Log.open(directory: path, config: config)
        try log.close()
        for (segment, index, timeindex) in originals {
            let rebuiltIndex = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/\(segment).index")))
            let rebuiltTime = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/\(segment).timeindex")))
            #expect(rebuiltIndex == index, "\(set) \(segment).index")
            #expect(rebuiltTime == timeindex, "\(set) \(segment).timeindex")
        }
    }

    /// The manifest's index entries are what a reader sees after a clean open with the original files.
    @Test(arguments: ["none-multiseg", "mixed-codecs"])
    func originalIndexesLoadAsTheManifestLists(set: String) throws {
        let dir = TemporaryDirectory()
        let (path, manifest) = try dir.copyFixture(set)
        let log = try Log.open(directory: path, cleanShutdown: true)
        try log.state.withLock { state in
            for (i, segment) in state.segments.enumerated() {
                try log.ensureIndexesLoaded(i, state: &state)
                let name = LogSegment.fileName(segment.baseOffset, "log").dropLast(4)
                let want = try #require(manifest.index_entries[String(name)])
                #expect(segment.offsetIndex.entries.map { [$0.offset - segment.baseOffset, Int64($0.position)] } == want.index)
                #expect(segment.timeIndex.entries.map { [$0.timestamp, $0.offset - segment.baseOffset] } == want.timeindex)
            }
        }
        #expect(log.openReport.segmentsRecovered == 0)
        #expect(log.logEndOffset == manifest.log_end_offset)
    }
}
