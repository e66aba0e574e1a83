extension Log {
    /// Kafka's ListOffsets MAX_TIMESTAMP (-3): the largest record timestamp in the log and the first offset at or
    /// above the log start that carries it; nil when the log holds no timestamped record.
    public func maxTimestampOffset() throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        let largest = try state.withLock { (state) throws(LogError) -> Int64 in
            guard !state.closed else { throw .closed(directory: directory) }
            var largest: Int64 = -1
            for i in state.segments.indices {
                try ensureIndexesLoaded(i, state: &state)
                largest = max(largest, state.segments[i].largestTimestamp)
            }
            return largest
        }
        guard largest >= 0 else { return nil }
        return try offset(forTimestamp: largest)
    }
}
