import NIOCore
import SamsaProtocol

/// One API's handler: decodes nothing itself, receives the decoded request, answers with a `Reply`.
///
/// ```swift
/// struct DescribeClusterHandler: ApiHandler {
///     func handle(_ request: DescribeClusterRequest, context: RequestContext) -> EventLoopFuture<Reply> {
///         context.reply(DescribeClusterResponse(...))
///     }
/// }
/// ```
public protocol ApiHandler: Sendable {
    associatedtype Request: KafkaRequestMessage
    /// The versions this handler answers (and ApiVersions advertises); within `Request.supportedVersions`.
    var versions: ClosedRange<Int16> { get }
    /// Runs on the connection's event loop; anything that may block goes through `context.offload`.
    func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<Reply>
}

extension ApiHandler {
    public var versions: ClosedRange<Int16> { Request.supportedVersions }
}

/// API key -> handler. What it holds is exactly what ApiVersions advertises.
public struct RequestRouter: Sendable {
    struct Route: Sendable {
        let apiKey: ApiKey
        let versions: ClosedRange<Int16>
        let run: @Sendable (ByteBuffer, RequestContext) throws -> EventLoopFuture<Reply>
    }

    /// What to do with one request frame.
    enum Dispatch {
        case run(EventLoopFuture<Reply>)
        case close(reason: String)
    }

    private var routes: [Route?] = Array(repeating: nil, count: ApiKey.allCases.count + 1)

    public init() {}

    /// Registers a handler; a second handler for the same API replaces the first.
    public mutating func register<H: ApiHandler>(_ handler: H) {
        let key = H.Request.apiKey
        precondition(
            H.Request.supportedVersions.contains(handler.versions.lowerBound)
                && H.Request.supportedVersions.contains(handler.versions.upperBound),
            "\(key.name) handler versions \(handler.versions) exceed what SamsaProtocol implements")
        let route = Route(apiKey: key, versions: handler.versions) { body, context in
            let request = try H.Request.decode(body, version: context.apiVersion)
            return handler.handle(request, context: context)
        }
        let index = Int(key.rawValue)
        if index >= routes.count { routes += Array(repeating: nil, count: index - routes.count + 1) }
        routes[index] = route
    }

    /// The (key, min, max) of every registered API, by key: ApiVersions' answer.
    public var advertised: [ApiVersionsResponse.ApiVersion] {
        routes.compactMap { $0 }.map {
            ApiVersionsResponse.ApiVersion(apiKey: $0.apiKey.rawValue, minVersion: $0.versions.lowerBound, maxVersion: $0.versions.upperBound)
        }
    }

    /// Whether `apiKey` has a handler.
    public func handles(_ apiKey: ApiKey) -> Bool {
        Int(apiKey.rawValue) < routes.count && routes[Int(apiKey.rawValue)] != nil
    }

    func dispatch(header: RequestHeader, body: ByteBuffer, context: RequestContext) -> Dispatch {
        let key = Int(header.requestApiKey)
        guard key >= 0, key < routes.count, let route = routes[key] else {
            let name = header.apiKey?.name ?? "unknown API"
            return .close(reason: "\(name) (key \(header.requestApiKey)) is not served by this broker")
        }
        guard route.versions.contains(header.requestApiVersion) else {
            if route.apiKey == .apiVersions {
                // Kafka answers an ApiVersions it cannot read with v0: UNSUPPORTED_VERSION and the versions it has,
                // so the client can retry with one of them.
                let response = ApiVersionsResponse(errorCode: .unsupportedVersion, apiKeys: advertised)
                do {
                    let frame = try KafkaFrame.encodeResponse(response, version: 0, correlationId: header.correlationId)
                    return .run(context.eventLoop.makeSucceededFuture(.frame(ResponseFrame(buffer: frame))))
                } catch {
                    return .close(reason: "cannot encode ApiVersions: \(error)")
                }
            }
            return .close(
                reason: "\(route.apiKey.name) v\(header.requestApiVersion) is not supported (versions \(route.versions))")
        }
        do {
            return .run(try route.run(body, context))
        } catch {
            return .close(reason: "malformed \(route.apiKey.name) v\(header.requestApiVersion) request: \(error)")
        }
    }
}
