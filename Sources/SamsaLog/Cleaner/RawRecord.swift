/// One record of a records section located, not copied: what the cleaner needs to decide whether a record stays
/// (its offset delta, key and whether it has a value) and to copy or re-encode it (its byte range).
///
/// ```
/// length varint | attributes int8 | timestampDelta varlong | offsetDelta varint | keyLength varint | key | ...
/// ^ start                                                                          ^ tailStart              end ^
/// ```
struct RawRecord {
    /// Where the record's length varint starts in the section.
    var start: Int
    /// The byte after the record.
    var end: Int
    var attributes: UInt8
    var timestampDelta: Int64
    var offsetDelta: Int32
    /// Where the key's length varint starts: everything from here to `end` is copied unchanged on a rewrite.
    var tailStart: Int
    /// The key's bytes (`keyCount` of them) start here; -1 for a null key.
    var keyStart: Int
    var keyCount: Int
    /// False for a null value: a tombstone.
    var hasValue: Bool

    /// Locates the record at `position`, advancing it past the record. Fields are checked to lie inside the
    /// record; header contents are skipped (they are copied, not read). Throws, naming the record, when the
    /// bytes are not a record.
    @inline(__always)
    static func locate(_ section: UnsafeRawBufferPointer, at position: inout Int, index: Int) throws(RecordBatchError) -> RawRecord {
        guard let record = locate(section, at: position) else {
            throw .corruptRecord(index: index, position: position, reason: "malformed record (lengths or varints out of bounds)")
        }
        position = record.end
        return record
    }

    /// The record at `position`, or nil when the bytes there are not one.
    @inline(__always)
    static func locate(_ section: UnsafeRawBufferPointer, at position: Int) -> RawRecord? {
        guard let base = section.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var p = position
        guard let length = varint(base, &p, section.count), length >= Int64(Record.minimumSize - 1),
            length <= Int64(section.count - p)
        else { return nil }
        let end = p + Int(length)
        let attributes = base[p]
        p += 1
        guard let timestampDelta = varint(base, &p, end), let offsetDelta = varint(base, &p, end),
            offsetDelta >= 0, offsetDelta <= Int64(Int32.max)
        else { return nil }
        let tailStart = p
        guard let keyLength = varint(base, &p, end) else { return nil }
        var keyStart = -1
        var keyCount = 0
        if keyLength >= 0 {
            guard keyLength <= Int64(end - p) else { return nil }
            keyStart = p
            keyCount = Int(keyLength)
            p += keyCount
        } else if keyLength != -1 {
            return nil
        }
        guard let valueLength = varint(base, &p, end), valueLength >= -1, valueLength <= Int64(end - p) else { return nil }
        return RawRecord(
            start: position, end: end, attributes: attributes, timestampDelta: timestampDelta,
            offsetDelta: Int32(offsetDelta), tailStart: tailStart, keyStart: keyStart, keyCount: keyCount,
            hasValue: valueLength >= 0)
    }

    /// A zigzag varint of at most 10 bytes before `end`, or nil.
    @inline(__always)
    static func varint(_ base: UnsafePointer<UInt8>, _ p: inout Int, _ end: Int) -> Int64? {
        guard p < end else { return nil }
        var byte = base[p]
        p += 1
        if byte < 0x80 { return Int64(byte >> 1) ^ -Int64(byte & 1) }
        // Two bytes (record and value lengths of 64 to 8191 bytes) without the loop.
        if p < end && base[p] < 0x80 {
            let two = UInt64(byte & 0x7F) | UInt64(base[p]) << 7
            p += 1
            return Int64(bitPattern: two >> 1) ^ -Int64(bitPattern: two & 1)
        }
        var raw = UInt64(byte & 0x7F)
        var shift: UInt64 = 7
        repeat {
            guard p < end, shift < 64 else { return nil }
            byte = base[p]
            p += 1
            raw |= UInt64(byte & 0x7F) << shift
            shift += 7
        } while byte >= 0x80
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    @inline(__always)
    func key(in section: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        keyStart < 0 ? nil : UnsafeRawBufferPointer(rebasing: section[keyStart..<(keyStart + keyCount)])
    }
}
