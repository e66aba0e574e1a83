import NIOCore
import SamsaProtocol

/// ApiVersions (key 18): the APIs this broker serves, derived from the registered handlers. A version this broker
/// cannot read is answered by the router (v0, UNSUPPORTED_VERSION, the same list), as Kafka does.
struct ApiVersionsHandler: ApiHandler {
    typealias Request = ApiVersionsRequest
    let apiKeys: [ApiVersionsResponse.ApiVersion]

    init(otherApis: [ApiVersionsResponse.ApiVersion]) {
        let own = ApiVersionsResponse.ApiVersion(
            apiKey: ApiKey.apiVersions.rawValue, minVersion: ApiVersionsRequest.supportedVersions.lowerBound,
            maxVersion: ApiVersionsRequest.supportedVersions.upperBound)
        apiKeys = (otherApis.filter { $0.apiKey != own.apiKey } + [own]).sorted { $0.apiKey < $1.apiKey }
    }

    func handle(_ request: ApiVersionsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        context.reply(ApiVersionsResponse(errorCode: .none, apiKeys: apiKeys, throttleTimeMs: 0))
    }
}
