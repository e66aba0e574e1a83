import NIOCore
import SamsaProtocol

/// InitProducerId (key 22), for idempotent producers: a producer id never handed out before, epoch 0; or, when
/// the producer presents its id and epoch (v3+, KIP-360: librdkafka does after a batch timed out or a sequence
/// went wrong), the same id with the next epoch, so that the logs fence whatever the old epoch still has in
/// flight. A presented epoch older than the current one is PRODUCER_FENCED (v4+; INVALID_PRODUCER_EPOCH before).
///
/// Transactional ids are refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED: there is no transaction coordinator,
/// and librdkafka treats that error as fatal at once ("Transactional Id authorization failed") instead of
/// retrying, which is the clear failure wanted. Taking a new block of ids writes a file: runs off the event loop.
struct InitProducerIdHandler: ApiHandler {
    typealias Request = InitProducerIdRequest
    let broker: Broker

    func handle(_ request: InitProducerIdRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        guard request.transactionalId == nil else {
            return context.reply(InitProducerIdResponse(errorCode: .transactionalIdAuthorizationFailed, producerId: -1, producerEpoch: -1))
        }
        let presented = context.apiVersion >= 3 && (request.producerId != -1 || request.producerEpoch != -1)
        if presented && (request.producerId < 0 || request.producerEpoch < 0) {
            return context.reply(InitProducerIdResponse(errorCode: .invalidRequest, producerId: -1, producerEpoch: -1))
        }
        let broker = self.broker
        let encoder = context.encoder
        let version = context.apiVersion
        return context.offload {
            do {
                guard presented else {
                    let id = try broker.producerIds.next()
                    return try encoder.encode(InitProducerIdResponse(errorCode: .none, producerId: id, producerEpoch: 0))
                }
                switch try broker.producerIds.bumpEpoch(producerId: request.producerId, epoch: request.producerEpoch) {
                case .bumped(let id, let epoch):
                    return try encoder.encode(InitProducerIdResponse(errorCode: .none, producerId: id, producerEpoch: epoch))
                case .fenced:
                    let error: ErrorCode = version >= 4 ? .producerFenced : .invalidProducerEpoch
                    return try encoder.encode(InitProducerIdResponse(errorCode: error, producerId: -1, producerEpoch: -1))
                }
            } catch let error as BrokerError {
                broker.logger.error("allocating a producer id: \(error)")
                return try encoder.encode(InitProducerIdResponse(errorCode: .kafkaStorageError, producerId: -1, producerEpoch: -1))
            }
        }
    }
}
