import NIOCore
import SamsaProtocol

/// DescribeConfigs (key 32): a topic's settings (with Kafka's names, sources and, on request, synonyms) or the
/// broker's (resource name: this node id, or empty for the cluster default).
struct DescribeConfigsHandler: ApiHandler {
    typealias Request = DescribeConfigsRequest
    let broker: Broker

    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4
    static let brokerLoggerResource: Int8 = 8

    func handle(_ request: DescribeConfigsRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let version = context.apiVersion
        let results = request.resources.map { resource -> DescribeConfigsResponse.DescribeConfigsResult in
            var result = DescribeConfigsResponse.DescribeConfigsResult(
                errorCode: .none, errorMessage: nil, resourceType: resource.resourceType, resourceName: resource.resourceName,
                configs: [])
            let described: [DescribedConfig]
            switch resource.resourceType {
            case Self.topicResource:
                guard let topic = broker.topics.topic(resource.resourceName) else {
                    result.errorCode = .unknownTopicOrPartition
                    result.errorMessage = TopicError.unknownTopic(resource.resourceName).description
                    return result
                }
                described = broker.describeTopicConfig(topic)
            case Self.brokerResource:
                guard resource.resourceName.isEmpty || resource.resourceName == "\(broker.config.nodeId)" else {
                    result.errorCode = .invalidRequest
                    result.errorMessage = "Unexpected broker id, expected \(broker.config.nodeId) or empty string, but received \(resource.resourceName)"
                    return result
                }
                described = broker.describeBrokerConfig()
            default:
                result.errorCode = .invalidRequest
                result.errorMessage = "Resource type \(resource.resourceType) is not supported by this broker."
                return result
            }
            let keys = resource.configurationKeys.map(Set.init)
            result.configs = described.filter { keys?.contains($0.name) ?? true }.map { config in
                DescribeConfigsResponse.DescribeConfigsResourceResult(
                    name: config.name, value: config.value, readOnly: config.readOnly,
                    isDefault: config.source == .defaultConfig,
                    configSource: version == 0 ? -1 : config.source.rawValue, isSensitive: false,
                    synonyms: request.includeSynonyms
                        ? config.synonyms.map { .init(name: $0.name, value: $0.value, source: $0.source.rawValue) } : [],
                    configType: config.type.rawValue, documentation: nil)
            }
            return result
        }
        return context.reply(DescribeConfigsResponse(throttleTimeMs: 0, results: results))
    }
}
