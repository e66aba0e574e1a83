// Fuzz target `record_batch`: the magic-2 record batch decoder. Each input is tried as given (the CRC almost always
// fails, which exercises the header checks) and again with its CRC made right, so that the records section is
// decompressed (at most 1 MiB) and every record parsed: validateRecords, then every field of every record and
// header. An uncompressed batch is also checked by the producer path's `RecordSkim`, which must accept exactly what
// the full parse accepts (offset deltas 0..<count, keys where required): a disagreement traps. Nothing may crash,
// read out of bounds, leak or allocate beyond the limits.
@testable import SamsaLog

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecordBatch(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? RecordBatch.size(ofBatchAt: input)
    _ = try? RecordBatch(validating: input, maxBatchSize: 1 << 20)
    guard size >= RecordBatch.headerSize else { return 0 }
    var bytes = Array(input)
    // The CRC covers everything from the attributes (byte 21) to the end of the batch its length field claims.
    let claimed = Int(UInt32(bytes[8]) << 24 | UInt32(bytes[9]) << 16 | UInt32(bytes[10]) << 8 | UInt32(bytes[11])) + 12
    let end = min(max(claimed, 21), bytes.count)
    let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21..<end])) }
    bytes[17] = UInt8(truncatingIfNeeded: crc >> 24)
    bytes[18] = UInt8(truncatingIfNeeded: crc >> 16)
    bytes[19] = UInt8(truncatingIfNeeded: crc >> 8)
    bytes[20] = UInt8(truncatingIfNeeded: crc)
    bytes.withUnsafeBytes { buffer in
        guard let batch = try? RecordBatch(validating: buffer, maxBatchSize: 1 << 20) else { return }
        var sink = Int64(batch.baseOffset) &+ Int64(batch.partitionLeaderEpoch) &+ Int64(batch.lastOffset)
        sink &+= batch.maxTimestamp &+ batch.producerId &+ Int64(batch.baseSequence) &+ Int64(batch.recordCount)
        sink &+= Int64(batch.isControl ? 1 : 0) &+ (batch.deleteHorizonMs ?? 0)
        let header = RecordBatchHeader(batch)
        sink &+= header.lastOffset
        var scratch: [UInt8] = []
        _ = try? batch.validateRecords(scratch: &scratch, maxDecompressedSize: 1 << 20)
        try? batch.forEachRecord(scratch: &scratch, maxDecompressedSize: 1 << 20) { record in
            sink &+= record.offset &+ record.timestamp &+ Int64(record.attributes) &+ Int64(record.sizeInBytes)
            sink &+= Int64(record.key?.count ?? -1) &+ Int64(record.value?.count ?? -1)
            for h in record.headers { sink &+= Int64(h.keyString.utf8.count) &+ Int64(h.value?.count ?? -1) }
        }
        if batch.compression == CompressionCodec.none {
            for keysRequired in [false, true] {
                let skim = RecordSkim.accepts(batch.recordsSection, count: Int(batch.recordCount), keysRequired: keysRequired)
                let full = (try? LogValidator.checkRecords(batch, index: 0, keysRequired: keysRequired, scratch: &scratch)) != nil
                if skim != full { fatalError("RecordSkim says \(skim), the full parse \(full) (keys required: \(keysRequired))") }
            }
        }
        if sink == 0x5A5A_5A5A_5A5A_5A5A { print("") }  // keeps the reads
    }
    return 0
}
