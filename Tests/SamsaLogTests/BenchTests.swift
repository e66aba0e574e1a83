import Foundation
import Testing
@testable import SamsaLog

/// The embedded benchmark's plumbing (never its timings: unit tests do not time things): the workload it builds,
/// that every row is measured on the same bytes as its baseline, and its machine output.
@Suite struct BenchTests {
    @Test func benchBatchIsAValidBatchOfFixedSizeRecordsWithinTheBatchSize() throws {
        let (bytes, records) = Bench.makeBatch(recordSize: 100, batchBytes: 16 << 10)
        #expect(bytes.count <= 16 << 10)
        #expect(bytes.count > (16 << 10) - 200, "the batch is filled")
        try bytes.withUnsafeBytes { buffer in
            let batch = try RecordBatch(validating: buffer)
            #expect(Int(batch.recordCount) == records)
            var scratch: [UInt8] = []
            var seen = 0
            try batch.forEachRecord(scratch: &scratch) { record in
                #expect(record.value?.count == 100)
                #expect(record.key == nil)
                seen += 1
            }
            #expect(seen == records)
        }
    }

    @Test func smallRunMeasuresEveryRowOnTheSameBytesAsItsBaseline() throws {
        let temp = TemporaryDirectory()
        var options = Bench.Options(directory: temp.path, sizeMB: 2)
        options.randomReads = 50
        options.rounds = 2
        var steps: [String] = []
        let report = try Bench.run(options) { steps.append($0) }
        #expect(report.measurements.map(\.name) == ["append", "append-raw", "append-pipelined", "read", "read-random", "recovery", "cleaning"])
        let append = report.measurements[0]
        let batches = Int64(append.operations)
        #expect(append.records == batches * Int64(report.recordsPerBatch))
        #expect(append.bytes >= 2 << 20 - (16 << 10) && append.bytes <= 2 << 20)
        func row(_ name: String) -> Bench.Measurement? { report.measurements.first { $0.name == name } }
        // The other appends, reading and recovery cover exactly what was appended.
        for name in ["append-raw", "append-pipelined", "read", "recovery"] {
            #expect(row(name)?.bytes == append.bytes && row(name)?.records == append.records, "\(name)")
        }
        for m in report.measurements {
            #expect(m.samples.count == 2 && m.baselineSamples.count == 2, "\(m.name): one time per round and side")
            #expect(m.seconds == m.samples.min() && m.seconds > 0 && m.baselineSeconds > 0, "\(m.name)")
        }
        // The cleaning row: a compacted log of about the same size, cleaned whole, beside a copy of its segment files.
        let cleaning = try #require(report.cleaning)
        #expect(cleaning.bytes > 2 << 20 - (16 << 10) && cleaning.bytes < 3 << 20, "\(cleaning.bytes) bytes of log cleaned")
        #expect(cleaning.records > 0 && cleaning.operations == 1)
        #expect(!steps.isEmpty)
        // The temporary data directory is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path).isEmpty)

        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.map { $0["name"] as? String } == ["append", "append-raw", "append-pipelined", "read", "read-random", "recovery", "cleaning"])
        #expect(results[0]["bytes"] as? Int64 == append.bytes)
        #expect(results[6]["bytes"] as? Int64 == cleaning.bytes)
        #expect(object["cleaning"] == nil, "the cleaning row is a measurement now, not a note")
        let recorded = try #require(object["options"] as? [String: Any])
        #expect(recorded["cleaningKeys"] as? Int == options.cleaningKeys && recorded["rounds"] as? Int == 2)
        let table = report.table()
        for name in ["append", "append-raw", "append-pipelined", "read", "read-random", "recovery", "cleaning"] {
            #expect(table.split(separator: "\n").contains { $0.hasPrefix(name + " ") }, "\(name) row")
        }
    }

    @Test func residentMemoryIsReadFromProc() {
        let memory = Bench.residentMemoryMB()
        #expect(memory.current > 0 && memory.peak >= memory.current)
    }
}
