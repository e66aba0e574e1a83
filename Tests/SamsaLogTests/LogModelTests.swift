import Testing
@testable import SamsaLog

/// Random sequences of append / read / roll / truncate / close-and-reopen, checked after every step against a
/// model of the log that is just an array of records. A failure names its seed; the run replays from it.
@Suite struct LogModelTests {
    struct ModelRecord: Equatable {
        var offset: Int64
        var value: [UInt8]
    }

    @Test(arguments: 1...12)
    func randomOperationsMatchTheModel(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9)
        let dir = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 600 + Int(rng.next() % 4000)
        config.indexIntervalBytes = Int(rng.next() % 700)
        config.segmentIndexBytes = 8 * (4 + Int(rng.next() % 40))  // small indexes fill up and roll too
        let path = dir.sub("m-0")
        var log = try Log.open(directory: path, config: config)
        var model: [ModelRecord] = []
        var batchStarts: [Int64] = []  // base offsets of batches in the model
        var end: Int64 = 0
        for step in 0..<250 {
            let context = "seed \(seed) step \(step)"
            switch rng.next() % 20 {
            case 0..<10:
                let count = 1 + Int(rng.next() % 8)
                let codec = CompressionCodec.allCases[Int(rng.next() % UInt64(CompressionCodec.allCases.count))]
                var builder = RecordBatchBuilder(codec: codec)
                var values: [[UInt8]] = []
                for i in 0..<count {
                    let value = Array("s\(step)-\(i)-".utf8) + [UInt8](repeating: UInt8(step % 251), count: Int(rng.next() % 120))
                    values.append(value)
                    builder.append(timestamp: Int64(step), key: [UInt8(i)], value: value)
                }
                let result = try builder.build().withUnsafeBytes { try log.append($0) }
                #expect(result.firstOffset == end, "\(context)")
                batchStarts.append(end)
                for (i, v) in values.enumerated() { model.append(ModelRecord(offset: end + Int64(i), value: v)) }
                end += Int64(count)
            case 10..<15:
                guard end > 0 else { continue }
                let from = Int64(rng.next() % UInt64(end))
                let maxBytes = 1 + Int(rng.next() % 3000)
                let slice = try #require(try log.read(from: from, maxBytes: maxBytes).slice, "\(context)")
                let bytes = try slice.readBytes()
                // The slice starts with the batch holding `from`, whole if it is the first.
                let first = try bytes.withUnsafeBytes { try RecordBatch(validating: $0) }
                let expectedBase = batchStarts.last { $0 <= from }!
                #expect(first.baseOffset == expectedBase, "\(context)")
                #expect(slice.length >= first.sizeInBytes || slice.length == maxBytes, "\(context)")
            case 15:
                try log.roll()
            case 16:
                guard end > 0, rng.next() % 3 == 0 else { continue }
                let target = Int64(rng.next() % UInt64(end + 1))
                let newEnd = try log.truncate(to: target)
                // The batch holding `target` goes whole.
                let cut = target == end ? end : batchStarts.last { $0 <= target }!
                #expect(newEnd == cut, "\(context)")
                model.removeAll { $0.offset >= cut }
                batchStarts.removeAll { $0 >= cut }
                end = cut
            case 17, 18:
                let clean = rng.next() % 2 == 0
                if clean { try log.close() }
                log = try Log.open(directory: path, config: config, cleanShutdown: clean)
                #expect(log.logEndOffset == end, "\(context) reopen clean=\(clean)")
            default:
                let records = try log.readAllRecords(maxBytes: 1 + Int(rng.next() % 5000))
                #expect(records.map { ModelRecord(offset: $0.offset, value: $0.value!) } == model, "\(context)")
            }
            #expect(log.logEndOffset == end, "\(context)")
        }
        let records = try log.readAllRecords()
        #expect(records.map { ModelRecord(offset: $0.offset, value: $0.value!) } == model, "seed \(seed) final")
        // Offsets are dense from the start.
        #expect(records.map(\.offset) == Array(0..<end))
        try log.close()
    }
}
