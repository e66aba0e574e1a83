/// What a cleaning learns about transactions while it maps the dirty section (the part of Kafka's
/// `CleanedTransactionMetadata` and aborted-transaction index the cleaner needs):
///
/// - records of a transaction enter the offset map only when its COMMIT marker is read (an ABORTed or still
///   open transaction never makes an older value of a key disappear);
/// - the batches of a transaction aborted in the dirty section are removed when they are rewritten;
/// - the last batch of every producer seen is known, so an emptied batch that carries the producer's last
///   sequence is kept (empty) as Kafka keeps it.
///
/// Everything here counts against the offset map's budget, so the cleaner's memory stays bounded.
struct TransactionIndex {
    /// Records of open transactions in the dirty section, by producer id: added to the map on COMMIT.
    private(set) var pending: [Int64: [(digest: KeyDigest, offset: Int64)]] = [:]
    /// The first offset of each open transaction seen in the dirty section.
    private var openedAt: [Int64: Int64] = [:]
    private(set) var pendingCount = 0
    /// Offset ranges of aborted transactions (first data batch ... marker), by producer id, in offset order.
    private var aborted: [Int64: [ClosedRange<Int64>]] = [:]
    private(set) var abortedCount = 0
    /// The last offset of each producer's last batch in the mapped section.
    private(set) var producerLast: [Int64: Int64] = [:]

    /// Entries held, for the map's budget.
    var entryCount: Int { pendingCount + abortedCount + producerLast.count }

    mutating func clear() {
        pending.removeAll()
        openedAt.removeAll()
        pendingCount = 0
        aborted.removeAll()
        abortedCount = 0
        producerLast.removeAll()
    }

    /// A transactional data batch begins or continues its producer's transaction.
    mutating func onTransactionalBatch(producerId: Int64, baseOffset: Int64) {
        if openedAt[producerId] == nil { openedAt[producerId] = baseOffset }
    }

    /// Holds a record of an open transaction until its marker.
    mutating func addPending(producerId: Int64, digest: KeyDigest, offset: Int64) {
        pending[producerId, default: []].append((digest, offset))
        pendingCount += 1
    }

    /// A COMMIT marker: the transaction's records are handed to `commit` (to enter the offset map).
    mutating func onCommit(producerId: Int64, _ commit: (KeyDigest, Int64) -> Void) {
        if let records = pending.removeValue(forKey: producerId) {
            for record in records { commit(record.digest, record.offset) }
            pendingCount -= records.count
        }
        openedAt[producerId] = nil
    }

    /// An ABORT marker at `markerOffset`: the transaction's batches in the dirty section will be removed.
    mutating func onAbort(producerId: Int64, markerOffset: Int64) {
        if let records = pending.removeValue(forKey: producerId) { pendingCount -= records.count }
        if let first = openedAt.removeValue(forKey: producerId) {
            aborted[producerId, default: []].append(first...markerOffset)
            abortedCount += 1
        }
    }

    mutating func onBatch(producerId: Int64, lastOffset: Int64) {
        guard producerId >= 0 else { return }
        producerLast[producerId] = lastOffset
    }

    /// Whether the transactional batch at `offset` belongs to a transaction aborted in the dirty section.
    func isAborted(producerId: Int64, offset: Int64) -> Bool {
        guard let ranges = aborted[producerId] else { return false }
        // Ranges are few per producer and sorted: a binary search for the last range starting at or below.
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if ranges[mid].lowerBound <= offset {
                if ranges[mid].contains(offset) { return true }
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return false
    }

    /// Whether an emptied batch must stay (as a header) because it carries its producer's last sequence: it is
    /// the producer's last batch in the mapped section, or the producer was not seen there at all.
    func isLastBatchOfProducer(producerId: Int64, lastOffset: Int64) -> Bool {
        guard producerId >= 0 else { return false }
        guard let last = producerLast[producerId] else { return true }
        return last == lastOffset
    }
}
