// Fuzz target `kafka_request`: a request frame as a broker receives it (after the 4-byte size): the request header
// (v0/v1/v2 by API key and version), then the body through KafkaRequest.decode for whatever API key and version
// the header names (every request and version SamsaProtocol implements). A request that decodes must encode again
// and decode to the same value.
import NIOCore
import SamsaProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKafkaRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var frame = ByteBufferAllocator().buffer(capacity: size)
    frame.writeBytes(UnsafeRawBufferPointer(start: data, count: size))
    guard let (header, body) = try? KafkaFrame.decodeRequest(frame: frame),
        let request = try? KafkaRequest.decode(header: header, body: body)
    else { return 0 }
    roundTrip(request, version: header.requestApiVersion)
    return 0
}
