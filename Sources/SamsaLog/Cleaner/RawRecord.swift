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
    /// record; header contents are skipped (they are copied, not read).
    @inline(__always)
    static func locate(_ section: UnsafeRawBufferPointer, at position: inout Int, index: Int) throws(RecordBatchError) -> RawRecord {
        let start = position
        func corrupt(_ reason: String) -> RecordBatchError { .corruptRecord(index: index, position: start, reason: reason) }
        var p = position
        let length: Int32
        do { length = try Varint.readInt32(section, at: &p) } catch { throw corrupt(error.description) }
        guard length >= Int32(Record.minimumSize - 1) else { throw corrupt("record length \(length)") }
        let end = p + Int(length)
        guard end <= section.count else { throw corrupt("record length \(length) runs past the records section") }
        let body = UnsafeRawBufferPointer(rebasing: section[..<end])
        let attributes = body[p]
        p += 1
        let timestampDelta: Int64
        let offsetDelta: Int32
        let keyLength: Int32
        do {
            timestampDelta = try Varint.readInt64(body, at: &p)
            offsetDelta = try Varint.readInt32(body, at: &p)
        } catch {
            throw corrupt(error.description)
        }
        let tailStart = p
        do { keyLength = try Varint.readInt32(body, at: &p) } catch { throw corrupt(error.description) }
        var keyStart = -1
        var keyCount = 0
        if keyLength >= 0 {
            guard p + Int(keyLength) <= end else { throw corrupt("key of \(keyLength) bytes runs past the record") }
            keyStart = p
            keyCount = Int(keyLength)
            p += keyCount
        } else if keyLength != -1 {
            throw corrupt("negative key length \(keyLength)")
        }
        let valueLength: Int32
        do { valueLength = try Varint.readInt32(body, at: &p) } catch { throw corrupt(error.description) }
        if valueLength >= 0 {
            guard p + Int(valueLength) <= end else { throw corrupt("value of \(valueLength) bytes runs past the record") }
        } else if valueLength != -1 {
            throw corrupt("negative value length \(valueLength)")
        }
        position = end
        return RawRecord(
            start: start, end: end, attributes: attributes, timestampDelta: timestampDelta, offsetDelta: offsetDelta,
            tailStart: tailStart, keyStart: keyStart, keyCount: keyCount, hasValue: valueLength >= 0)
    }

    @inline(__always)
    func key(in section: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        keyStart < 0 ? nil : UnsafeRawBufferPointer(rebasing: section[keyStart..<(keyStart + keyCount)])
    }
}
