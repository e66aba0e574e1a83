import SamsaLog

/// Kafka's `DefaultMessageFormatter` (the console consumer's output), configured by the same `--property`
/// keys: `print.timestamp`, `print.partition`, `print.offset`, `print.headers`, `print.key`, `print.value`,
/// `key.separator` (tab), `line.separator` (newline), `headers.separator` (comma), `null.literal` (`null`).
///
/// ```swift
/// let formatter = try MessageFormatter(properties: ["print.key": "true", "print.offset": "true"])
/// var out: [UInt8] = []
/// formatter.write(record, into: &out)      // "Offset:0\tkey\tvalue\n"
/// ```
public struct MessageFormatter: Sendable {
    public var printTimestamp = false
    public var printKey = false
    public var printValue = true
    public var printPartition = false
    public var printOffset = false
    public var printHeaders = false
    public var printEpoch = false
    public var keySeparator: [UInt8] = Array("\t".utf8)
    public var lineSeparator: [UInt8] = Array("\n".utf8)
    public var headersSeparator: [UInt8] = Array(",".utf8)
    public var nullLiteral: [UInt8] = Array("null".utf8)

    /// The property keys this formatter reads.
    public static let knownKeys: Set<String> = [
        "print.timestamp", "print.key", "print.value", "print.partition", "print.offset", "print.headers",
        "print.epoch", "print.delivery", "key.separator", "line.separator", "headers.separator", "null.literal",
        "key.deserializer", "value.deserializer", "headers.deserializer",
    ]

    public init() {}

    /// Reads the formatter's keys; Kafka's booleans are true only for `true` (any case, trimmed).
    public init(properties: [String: String]) {
        func flag(_ key: String) -> Bool? { properties[key].map { $0.trimmingWhitespace().lowercased() == "true" } }
        if let v = flag("print.timestamp") { printTimestamp = v }
        if let v = flag("print.key") { printKey = v }
        if let v = flag("print.value") { printValue = v }
        if let v = flag("print.partition") { printPartition = v }
        if let v = flag("print.offset") { printOffset = v }
        if let v = flag("print.headers") { printHeaders = v }
        if let v = flag("print.epoch") { printEpoch = v }
        if let v = properties["key.separator"] { keySeparator = Array(v.utf8) }
        if let v = properties["line.separator"] { lineSeparator = Array(v.utf8) }
        if let v = properties["headers.separator"] { headersSeparator = Array(v.utf8) }
        if let v = properties["null.literal"] { nullLiteral = Array(v.utf8) }
    }

    /// Appends the record's line to `out`, field by field as Kafka writes it.
    public func write(_ record: ConsumerRecordView, into out: inout [UInt8]) {
        write(
            timestampType: record.timestampType, timestamp: record.timestamp, partition: record.partition,
            offset: record.offset, leaderEpoch: record.leaderEpoch,
            headers: record.headers.map { ($0.key, $0.value) }, key: record.key, value: record.value, into: &out)
    }

    /// The same, from parts (for records not read from a fetch).
    public func write(
        timestampType: TimestampType, timestamp: Int64, partition: Int32, offset: Int64, leaderEpoch: Int32 = -1,
        headers: [(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?)], key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?, into out: inout [UInt8]
    ) {
        if printTimestamp {
            // A v2 batch always has a timestamp type; -1 means the producer sent none.
            out.append(contentsOf: "\(timestampType == .createTime ? "CreateTime" : "LogAppendTime"):\(timestamp)".utf8)
            separator(printPartition || printOffset || printEpoch || printHeaders || printKey || printValue, &out)
        }
        if printPartition {
            out.append(contentsOf: "Partition:\(partition)".utf8)
            separator(printOffset || printEpoch || printHeaders || printKey || printValue, &out)
        }
        if printOffset {
            out.append(contentsOf: "Offset:\(offset)".utf8)
            separator(printEpoch || printHeaders || printKey || printValue, &out)
        }
        if printEpoch {
            out.append(contentsOf: (leaderEpoch >= 0 ? "Epoch:\(leaderEpoch)" : "Epoch:NOT_PRESENT").utf8)
            separator(printHeaders || printKey || printValue, &out)
        }
        if printHeaders {
            if headers.isEmpty {
                out.append(contentsOf: "NO_HEADERS".utf8)
            } else {
                for (i, header) in headers.enumerated() {
                    out.append(contentsOf: header.key)
                    out.append(UInt8(ascii: ":"))
                    bytes(header.value, &out)
                    if i < headers.count - 1 { out.append(contentsOf: headersSeparator) }
                }
            }
            separator(printKey || printValue, &out)
        }
        if printKey {
            bytes(key, &out)
            separator(printValue, &out)
        }
        if printValue {
            bytes(value, &out)
            out.append(contentsOf: lineSeparator)
        }
    }

    @inline(__always)
    private func separator(_ column: Bool, _ out: inout [UInt8]) {
        out.append(contentsOf: column ? keySeparator : lineSeparator)
    }

    @inline(__always)
    private func bytes(_ value: UnsafeRawBufferPointer?, _ out: inout [UInt8]) {
        if let value { out.append(contentsOf: value) } else { out.append(contentsOf: nullLiteral) }
    }
}

/// Kafka's `LineMessageReader` (the console producer's input): a line becomes a record, split into headers,
/// key and value by the `--property` keys `parse.headers`, `parse.key`, `headers.delimiter` (tab),
/// `headers.separator` (comma), `headers.key.separator` (colon), `key.separator` (tab), `null.marker`,
/// `ignore.error`.
///
/// ```swift
/// let reader = try LineMessageReader(properties: ["parse.key": "true", "key.separator": ":"])
/// let record = try reader.parse(Array("user-1:hello".utf8), lineNumber: 1)   // key "user-1", value "hello"
/// ```
public struct LineMessageReader: Sendable {
    public struct ParsedRecord: Sendable, Equatable {
        public var key: [UInt8]?
        public var value: [UInt8]?
        public var headers: [RecordHeader]
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public var parseKey = false
    public var keySeparator: [UInt8] = Array("\t".utf8)
    public var parseHeaders = false
    public var headersDelimiter: [UInt8] = Array("\t".utf8)
    public var headersSeparator: [UInt8] = Array(",".utf8)
    public var headersKeySeparator: [UInt8] = Array(":".utf8)
    public var ignoreError = false
    public var nullMarker: [UInt8]?

    public static let knownKeys: Set<String> = [
        "parse.key", "key.separator", "parse.headers", "headers.delimiter", "headers.separator",
        "headers.key.separator", "ignore.error", "null.marker",
    ]

    /// Reads the keys; throws (as Kafka does) when separators collide.
    public init(properties: [String: String] = [:]) throws(ParseError) {
        func flag(_ key: String) -> Bool { properties[key].map { $0.trimmingWhitespace().lowercased() == "true" } ?? false }
        parseKey = flag("parse.key")
        parseHeaders = flag("parse.headers")
        ignoreError = flag("ignore.error")
        if let v = properties["key.separator"] { keySeparator = Array(v.utf8) }
        if let v = properties["headers.delimiter"] { headersDelimiter = Array(v.utf8) }
        if let v = properties["headers.separator"] { headersSeparator = Array(v.utf8) }
        if let v = properties["headers.key.separator"] { headersKeySeparator = Array(v.utf8) }
        if let v = properties["null.marker"] { nullMarker = Array(v.utf8) }
        if headersDelimiter == headersSeparator { throw ParseError(message: "headers.delimiter and headers.separator may not be equal") }
        if headersDelimiter == headersKeySeparator { throw ParseError(message: "headers.delimiter and headers.key.separator may not be equal") }
        if headersSeparator == headersKeySeparator { throw ParseError(message: "headers.separator and headers.key.separator may not be equal") }
        if let nullMarker {
            if keySeparator == nullMarker { throw ParseError(message: "null.marker and key.separator may not be equal") }
            if headersSeparator == nullMarker { throw ParseError(message: "null.marker and headers.separator may not be equal") }
            if headersDelimiter == nullMarker { throw ParseError(message: "null.marker and headers.delimiter may not be equal") }
            if headersKeySeparator == nullMarker { throw ParseError(message: "null.marker and headers.key.separator may not be equal") }
        }
    }

    /// Splits one line (without its line terminator).
    public func parse(_ line: [UInt8], lineNumber: Int) throws(ParseError) -> ParsedRecord {
        var start = 0
        var headers: [RecordHeader] = []
        if parseHeaders {
            if let end = Self.find(headersDelimiter, in: line, from: 0) {
                let text = Array(line[0..<end])
                start = end + headersDelimiter.count
                if text != nullMarker { headers = try splitHeaders(text, lineNumber: lineNumber, line: line) }
            } else if !ignoreError {
                throw ParseError(message: "No headers delimiter found on line number \(lineNumber): '\(String(decoding: line, as: UTF8.self))'")
            }
        }
        var key: [UInt8]?
        if parseKey {
            if let end = Self.find(keySeparator, in: line, from: start) {
                key = Array(line[start..<end])
                start = end + keySeparator.count
            } else if !ignoreError {
                throw ParseError(message: "No key separator found on line number \(lineNumber): '\(String(decoding: line, as: UTF8.self))'")
            }
        }
        var value: [UInt8]? = Array(line[start...])
        if let nullMarker {
            if key == nullMarker { key = nil }
            if value == nullMarker { value = nil }
        }
        return ParsedRecord(key: key, value: value, headers: headers)
    }

    private func splitHeaders(_ text: [UInt8], lineNumber: Int, line: [UInt8]) throws(ParseError) -> [RecordHeader] {
        var result: [RecordHeader] = []
        var pairStart = 0
        while pairStart <= text.count {
            let pairEnd = Self.find(headersSeparator, in: text, from: pairStart) ?? text.count
            let pair = Array(text[pairStart..<pairEnd])
            if let sep = Self.find(headersKeySeparator, in: pair, from: 0) {
                let key = Array(pair[0..<sep])
                if let nullMarker, key == nullMarker {
                    throw ParseError(message: "Header keys should not be equal to the null marker '\(String(decoding: nullMarker, as: UTF8.self))' as they can't be null")
                }
                let value = Array(pair[(sep + headersKeySeparator.count)...])
                result.append(RecordHeader(key: String(decoding: key, as: UTF8.self), value: value == nullMarker ? nil : value))
            } else if ignoreError {
                result.append(RecordHeader(key: String(decoding: pair, as: UTF8.self), value: nil))
            } else {
                throw ParseError(message: "No header key separator found in pair '\(String(decoding: pair, as: UTF8.self))' on line number \(lineNumber)")
            }
            pairStart = pairEnd + headersSeparator.count
        }
        return result
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, from <= haystack.count - needle.count else {
            return needle.isEmpty ? from : nil
        }
        var i = from
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == needle[0] {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
