import NIOCore
import SamsaProtocol

/// SaslHandshake (key 17): this broker's listeners are PLAINTEXT, so no mechanism is enabled.
struct SaslHandshakeHandler: ApiHandler {
    typealias Request = SaslHandshakeRequest

    func handle(_ request: SaslHandshakeRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        context.reply(SaslHandshakeResponse(errorCode: .unsupportedSaslMechanism, mechanisms: []))
    }
}
