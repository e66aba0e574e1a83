import NIOCore
import SamsaProtocol

/// The broker that coordinates a group (or a transactional id).
public struct CoordinatorLocation: Sendable, Equatable, CustomStringConvertible {
    public var nodeId: Int32
    public var address: BrokerAddress

    public init(nodeId: Int32, address: BrokerAddress) {
        self.nodeId = nodeId
        self.address = address
    }

    /// Kafka's `host:port  (id: N rack: null)`, as ConsumerGroupCommand prints a coordinator.
    public var description: String { "\(address.host):\(address.port)  (\(nodeId))" }
}

/// FindCoordinator's key types.
public enum CoordinatorKeyType: Int8, Sendable {
    case group = 0
    case transaction = 1
}

extension Cluster {
    /// Asks any broker which one coordinates `key` (FindCoordinator, one key; batched in v4+).
    public func findCoordinator(key: String, keyType: CoordinatorKeyType = .group) async throws(ClientError) -> CoordinatorLocation {
        let connection = try await anyConnection()
        let version = try connection.version(for: FindCoordinatorRequest.self)
        let response: FindCoordinatorResponse
        do {
            response = try await connection.request(
                FindCoordinatorRequest(key: key, keyType: keyType.rawValue, coordinatorKeys: [key]))
        } catch {
            if !connection.isActive { forget(connection) }
            throw error
        }
        let context = "FindCoordinator '\(key)'"
        let (errorCode, message, nodeId, host, port): (ErrorCode, String?, Int32, String, Int32)
        if version >= 4 {
            guard let entry = response.coordinators.first(where: { $0.key == key }) ?? response.coordinators.first else {
                throw .protocolViolation("\(context): the response names no coordinator")
            }
            (errorCode, message, nodeId, host, port) = (entry.errorCode, entry.errorMessage, entry.nodeId, entry.host, entry.port)
        } else {
            (errorCode, message, nodeId, host, port) = (
                response.errorCode, response.errorMessage, response.nodeId, response.host, response.port
            )
        }
        guard errorCode == .none else { throw .broker(errorCode, context: context, message: message) }
        guard nodeId >= 0, (1...65535).contains(port), !host.isEmpty else {
            throw .protocolViolation("\(context): coordinator \(nodeId) at '\(host):\(port)'")
        }
        return CoordinatorLocation(nodeId: nodeId, address: BrokerAddress(host: host, port: Int(port)))
    }

    /// `findCoordinator`, retrying retriable errors (COORDINATOR_NOT_AVAILABLE while the offsets topic is made,
    /// a lost connection) every `backoffMs` until `deadline`.
    public func findCoordinator(
        key: String, keyType: CoordinatorKeyType = .group, deadline: NIODeadline, backoffMs: Int64
    ) async throws(ClientError) -> CoordinatorLocation {
        while true {
            do {
                return try await findCoordinator(key: key, keyType: keyType)
            } catch {
                if !error.isRetriable || NIODeadline.now() + .milliseconds(backoffMs) >= deadline { throw error }
                try? await Task.sleep(for: .milliseconds(backoffMs))
            }
        }
    }
}
