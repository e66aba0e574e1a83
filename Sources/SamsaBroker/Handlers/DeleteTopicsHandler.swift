import NIOCore
import SamsaProtocol

/// DeleteTopics (key 20): deletes topics by name (v1-5) or by name or id (v6), their logs with them. Fetches
/// waiting on their partitions answer at once (UNKNOWN_TOPIC_OR_PARTITION). Runs off the event loop.
struct DeleteTopicsHandler: ApiHandler {
    typealias Request = DeleteTopicsRequest
    let broker: Broker

    func handle(_ request: DeleteTopicsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let broker = self.broker
        let encoder = context.encoder
        let version = context.apiVersion
        // v6 names topics by name or id; earlier versions by name.
        let wanted: [(name: String?, id: Uuid)] =
            version >= 6 ? request.topics.map { ($0.name, $0.topicId) } : request.topicNames.map { ($0, Uuid.zero) }
        return context.offload {
            let results = wanted.map { entry -> DeleteTopicsResponse.DeletableTopicResult in
                var result = DeleteTopicsResponse.DeletableTopicResult(name: entry.name, topicId: entry.id, errorCode: .none)
                do {
                    let name: String
                    if let given = entry.name {
                        name = given
                    } else if let topic = broker.topics.topic(id: entry.id) {
                        name = topic.name
                    } else {
                        throw TopicError.unknownTopicId(entry.id)
                    }
                    guard name != OffsetsTopic.name else {
                        throw TopicError.invalidRequest("The internal topic \(name) holds the groups' committed offsets and cannot be deleted.")
                    }
                    let deleted = try broker.topics.delete(name: name)
                    result.name = deleted.name
                    result.topicId = deleted.id
                } catch let error as TopicError {
                    result.errorCode = error.errorCode
                    result.errorMessage = error.description
                } catch {
                    result.errorCode = .unknownServerError
                    result.errorMessage = "\(error)"
                }
                return result
            }
            return try encoder.encode(DeleteTopicsResponse(throttleTimeMs: 0, responses: results))
        }
    }
}
