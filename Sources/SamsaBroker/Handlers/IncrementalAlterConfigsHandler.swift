import NIOCore
import SamsaProtocol

/// IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on topic settings. The result is checked
/// whole (INVALID_CONFIG with the reason), persisted, and given to the topic's running logs at once. Broker
/// settings are static (server.properties) here: altering them is refused. Runs off the event loop.
struct IncrementalAlterConfigsHandler: ApiHandler {
    typealias Request = IncrementalAlterConfigsRequest
    let broker: Broker

    func handle(_ request: IncrementalAlterConfigsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let broker = self.broker
        let encoder = context.encoder
        return context.offload {
            let responses = request.resources.map { resource -> IncrementalAlterConfigsResponse.AlterConfigsResourceResponse in
                var response = IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                    errorCode: .none, errorMessage: nil, resourceType: resource.resourceType, resourceName: resource.resourceName)
                do throws(TopicError) {
                    switch resource.resourceType {
                    case DescribeConfigsHandler.topicResource:
                        var operations: [TopicManager.ConfigOperation] = []
                        var seen = Set<String>()
                        for config in resource.configs {
                            guard seen.insert(config.name).inserted else {
                                throw .invalidRequest("Error due to duplicate config keys: \(config.name)")
                            }
                            switch config.configOperation {
                            case 0:
                                guard let value = config.value else { throw .invalidConfig("Null value not supported for: \(config.name)") }
                                operations.append(.set(config.name, value))
                            case 1: operations.append(.delete(config.name))
                            case 2, 3:
                                guard let value = config.value else { throw .invalidConfig("Null value not supported for: \(config.name)") }
                                operations.append(config.configOperation == 2 ? .append(config.name, value) : .subtract(config.name, value))
                            default:
                                throw .invalidRequest("Unknown config operation \(config.configOperation) for \(config.name)")
                            }
                        }
                        try broker.topics.alterConfig(name: resource.resourceName, operations: operations, validateOnly: request.validateOnly)
                    case DescribeConfigsHandler.brokerResource:
                        throw .invalidRequest("Broker settings come from server.properties; this broker does not alter them at run time.")
                    default:
                        throw .invalidRequest("Resource type \(resource.resourceType) is not supported by this broker.")
                    }
                } catch {
                    response.errorCode = error.errorCode
                    response.errorMessage = error.description
                }
                return response
            }
            return try encoder.encode(IncrementalAlterConfigsResponse(throttleTimeMs: 0, responses: responses))
        }
    }
}
