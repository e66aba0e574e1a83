// Fuzz target `server_properties`: the broker's Java `.properties` parser (server.properties, --override), compiled
// from SamsaBroker's Config/JavaProperties.swift and Config/ConfigError.swift (no NIO needed). Whatever parses must
// format and parse back to the same keys and values.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerProperties(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    guard let entries = try? JavaProperties.parse(text) else { return 0 }
    let pairs = entries.map { (key: $0.key, value: $0.value) }
    let formatted = JavaProperties.format(pairs)
    do {
        let again = try JavaProperties.parse(formatted).map { (key: $0.key, value: $0.value) }
        precondition(again.count == pairs.count && zip(again, pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value },
            "properties changed in a round trip: \(pairs) -> \(again)")
    } catch {
        preconditionFailure("formatted properties do not parse: \(error)\n\(formatted)")
    }
    return 0
}
