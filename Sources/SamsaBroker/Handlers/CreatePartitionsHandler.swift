import NIOCore
import SamsaProtocol

/// CreatePartitions (key 37): grows topics (never shrinks them); explicit assignments must name this broker
/// alone. Runs off the event loop.
struct CreatePartitionsHandler: ApiHandler {
    typealias Request = CreatePartitionsRequest
    let broker: Broker

    func handle(_ request: CreatePartitionsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let broker = self.broker
        let encoder = context.encoder
        return context.offload {
            var counts: [String: Int] = [:]
            for topic in request.topics { counts[topic.name, default: 0] += 1 }
            let results = request.topics.map { topic -> CreatePartitionsResponse.CreatePartitionsTopicResult in
                var result = CreatePartitionsResponse.CreatePartitionsTopicResult(name: topic.name, errorCode: .none, errorMessage: nil)
                do throws(TopicError) {
                    guard counts[topic.name, default: 0] == 1 else {
                        throw .invalidRequest("Duplicate topic in request: \(topic.name)")
                    }
                    guard topic.name != OffsetsTopic.name else {
                        // Groups are placed by a hash modulo its partition count.
                        throw .invalidRequest("The partition count of the internal topic \(topic.name) cannot change.")
                    }
                    if let assignments = topic.assignments {
                        let existing = broker.topics.topic(topic.name)?.partitionCount ?? 0
                        guard assignments.count == Int(topic.count) - Int(existing) else {
                            throw .invalidReplicaAssignment(
                                "Increasing the number of partitions by \(Int(topic.count) - Int(existing)) but \(assignments.count) assignments provided.")
                        }
                        for assignment in assignments where assignment.brokerIds != [broker.config.nodeId] {
                            throw .invalidReplicaAssignment(
                                "Assignment \(assignment.brokerIds) names brokers other than the only one, \(broker.config.nodeId).")
                        }
                    }
                    try broker.topics.createPartitions(name: topic.name, count: topic.count, validateOnly: request.validateOnly)
                } catch {
                    result.errorCode = error.errorCode
                    result.errorMessage = error.description
                }
                return result
            }
            return try encoder.encode(CreatePartitionsResponse(throttleTimeMs: 0, results: results))
        }
    }
}
