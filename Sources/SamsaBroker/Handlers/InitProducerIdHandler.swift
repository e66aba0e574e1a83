import NIOCore
import SamsaProtocol

/// InitProducerId (key 22), for idempotent producers (kafka-python's default): a producer id never handed out
/// before, epoch 0. Transactional ids are refused (no transaction coordinator). Taking a new block of ids writes
/// a file: runs off the event loop.
struct InitProducerIdHandler: ApiHandler {
    typealias Request = InitProducerIdRequest
    let broker: Broker

    func handle(_ request: InitProducerIdRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        guard request.transactionalId == nil else {
            return context.reply(InitProducerIdResponse(errorCode: .transactionalIdAuthorizationFailed, producerId: -1, producerEpoch: -1))
        }
        let broker = self.broker
        let encoder = context.encoder
        return context.offload {
            do {
                let id = try broker.producerIds.next()
                return try encoder.encode(InitProducerIdResponse(errorCode: .none, producerId: id, producerEpoch: 0))
            } catch let error as BrokerError {
                broker.logger.error("allocating a producer id: \(error)")
                return try encoder.encode(InitProducerIdResponse(errorCode: .kafkaStorageError, producerId: -1, producerEpoch: -1))
            }
        }
    }
}
