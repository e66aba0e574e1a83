// Shared by `kafka_request` and `request_body`: a request that decoded must encode at the same version and decode
// back to an equal value (the generated codecs are symmetric).
import NIOCore
import SamsaProtocol

func roundTrip(_ request: KafkaRequest, version: Int16) {
    var writer = WireWriter()
    do {
        try request.encode(to: &writer, version: version)
    } catch {
        preconditionFailure("a decoded \(request.apiKey) v\(version) request does not encode: \(error)")
    }
    let again: KafkaRequest
    do {
        again = try KafkaRequest.decode(apiKey: request.apiKey.rawValue, version: version, body: writer.buffer)
    } catch {
        preconditionFailure("a re-encoded \(request.apiKey) v\(version) request does not decode: \(error)")
    }
    precondition(again == request, "\(request.apiKey) v\(version) changed in a round trip")
}
