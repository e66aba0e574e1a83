// Fuzz target `request_body`: every request decoder at every version it supports, without the header: the first
// byte picks the API key (among those implemented), the second the version (within its range), the rest is the
// body. Decoded requests must round-trip (encode, decode, equal).
import NIOCore
import SamsaProtocol

let ranges = ApiKey.supportedRanges

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestBody(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size >= 2, let data, !ranges.isEmpty else { return 0 }
    let (key, range) = ranges[Int(data[0]) % ranges.count]
    let version = range.lowerBound + Int16(Int(data[1]) % (Int(range.upperBound - range.lowerBound) + 1))
    var body = ByteBufferAllocator().buffer(capacity: size - 2)
    body.writeBytes(UnsafeRawBufferPointer(start: data + 2, count: size - 2))
    guard let request = try? KafkaRequest.decode(apiKey: key.rawValue, version: version, body: body) else { return 0 }
    roundTrip(request, version: version)
    return 0
}
