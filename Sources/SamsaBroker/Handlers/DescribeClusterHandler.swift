import NIOCore
import SamsaProtocol

/// DescribeCluster (key 60): the cluster id and this broker, which is also the controller.
struct DescribeClusterHandler: ApiHandler {
    typealias Request = DescribeClusterRequest
    let broker: Broker

    static let brokersEndpoint: Int8 = 1

    func handle(_ request: DescribeClusterRequest, context: RequestContext) -> EventLoopFuture<Reply> {
        let nodeId = broker.config.nodeId
        guard request.endpointType == Self.brokersEndpoint else {
            return context.reply(
                DescribeClusterResponse(
                    errorCode: .mismatchedEndpointType,
                    errorMessage: "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type \(request.endpointType == 2 ? "CONTROLLER" : "\(request.endpointType)")",
                    endpointType: request.endpointType, clusterId: broker.clusterId, controllerId: -1, brokers: []))
        }
        let listener = broker.advertisedListener(context.connection.listenerName) ?? broker.config.advertisedListeners[0]
        return context.reply(
            DescribeClusterResponse(
                throttleTimeMs: 0, errorCode: .none, errorMessage: nil, endpointType: Self.brokersEndpoint,
                clusterId: broker.clusterId, controllerId: nodeId,
                brokers: [.init(brokerId: nodeId, host: listener.host, port: Int32(listener.port), rack: nil)]))
    }
}
