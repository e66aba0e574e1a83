import SamsaLog
import SamsaProtocol

extension Cluster {
    /// Resolves `spec` for each partition with ListOffsets at its leader. A timestamp with no record at or
    /// after it resolves to the end of the log.
    public func listOffsets(
        _ partitions: [TopicPartition], spec: OffsetSpec, isolationLevel: Int8 = 0, retryBackoffMs: Int64 = 100
    ) async throws(ClientError) -> [TopicPartition: Int64] {
        let timestamp: Int64
        switch spec {
        case .earliest: timestamp = -2
        case .latest: timestamp = -1
        case .timestamp(let ms): timestamp = ms
        case .offset(let offset): return Dictionary(uniqueKeysWithValues: partitions.map { ($0, offset) })
        }
        var result: [TopicPartition: Int64] = [:]
        var remaining = partitions
        var attempt = 0
        while !remaining.isEmpty {
            attempt += 1
            let known = try await self.metadata(for: Array(Set(remaining.map(\.topic))))
            var byLeader: [Int32: [TopicPartition]] = [:]
            for tp in remaining {
                guard let leader = known.leader(topic: tp.topic, partition: tp.partition) else {
                    if known.topics[tp.topic] == nil { throw .unknownTopic(tp.topic) }
                    if known.topics[tp.topic]?.partition(tp.partition) == nil {
                        throw .unknownPartition(topic: tp.topic, partition: tp.partition)
                    }
                    byLeader[-1, default: []].append(tp)
                    continue
                }
                byLeader[leader, default: []].append(tp)
            }
            var retry: [TopicPartition] = byLeader[-1] ?? []
            var lastError: ClientError?
            for (leader, tps) in byLeader where leader >= 0 {
                do throws(ClientError) {
                    let connection = try await connection(to: leader)
                    var byTopic: [String: [ListOffsetsRequest.ListOffsetsPartition]] = [:]
                    for tp in tps {
                        byTopic[tp.topic, default: []].append(
                            ListOffsetsRequest.ListOffsetsPartition(partitionIndex: tp.partition, timestamp: timestamp))
                    }
                    let request = ListOffsetsRequest(
                        replicaId: -1, isolationLevel: isolationLevel,
                        topics: byTopic.map { ListOffsetsRequest.ListOffsetsTopic(name: $0.key, partitions: $0.value) })
                    let response = try await connection.request(request)
                    for topic in response.topics {
                        for partition in topic.partitions {
                            let tp = TopicPartition(topic.name, partition.partitionIndex)
                            if partition.errorCode == .none {
                                if partition.offset >= 0 {
                                    result[tp] = partition.offset
                                } else if timestamp >= 0 {
                                    retry.append(tp)  // no record at or after the time: resolve to the end below
                                }
                            } else if partition.errorCode.isRetriable {
                                retry.append(tp)
                                lastError = .broker(partition.errorCode, context: "ListOffsets \(tp)", message: nil)
                                if partition.errorCode.invalidatesMetadata { invalidate(topic: tp.topic) }
                            } else {
                                throw .broker(partition.errorCode, context: "ListOffsets \(tp)", message: nil)
                            }
                        }
                    }
                } catch {
                    if !error.isRetriable { throw error }
                    lastError = error
                    retry.append(contentsOf: tps)
                    for tp in tps { invalidate(topic: tp.topic) }
                }
            }
            // Timestamps past the last record resolve to the log end.
            let pastEnd = retry.filter { tp in timestamp >= 0 && lastError == nil && result[tp] == nil }
            if !pastEnd.isEmpty {
                let ends = try await listOffsets(pastEnd, spec: .latest, isolationLevel: isolationLevel, retryBackoffMs: retryBackoffMs)
                result.merge(ends) { a, _ in a }
                retry.removeAll { ends[$0] != nil }
            }
            remaining = retry
            if !remaining.isEmpty {
                if attempt >= 10 { throw lastError ?? .timedOut(what: "ListOffsets", afterMs: Int64(attempt) * retryBackoffMs) }
                try? await Task.sleep(for: .milliseconds(retryBackoffMs))
            }
        }
        return result
    }
}
