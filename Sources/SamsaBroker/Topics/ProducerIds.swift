import SamsaLog
import Synchronization

/// Hands out producer ids (InitProducerId) that are never reused, across restarts: ids come from blocks of
/// `blockSize`, and the start of the next block is written (atomically) to `samsa-producer-ids.properties`
/// before the first id of a block is given out, as Kafka's controller allocates producer id blocks.
final class ProducerIds: Sendable {
    static let fileName = "samsa-producer-ids.properties"
    static let blockSize: Int64 = 1000
    let path: String
    let fileSystem: any FileSystem
    private struct State {
        var next: Int64
        var blockEnd: Int64
        /// Epochs handed out by this process: producer id -> (current, previous).
        var epochs: [Int64: (current: Int16, previous: Int16?)] = [:]
    }
    private let state: Mutex<State>

    init(dataDirectory: String, fileSystem: any FileSystem) throws(BrokerError) {
        path = dataDirectory + "/" + Self.fileName
        self.fileSystem = fileSystem
        var start: Int64 = 0
        if let text = try AtomicFile.read(path, fileSystem: fileSystem) {
            let entries: [JavaProperties.Entry]
            do { entries = try JavaProperties.parse(text) } catch { throw .invalidMetadata(path: path, reason: error.description) }
            guard let value = entries.last(where: { $0.key == "next.block.start" })?.value, let n = Int64(value), n >= 0 else {
                throw .invalidMetadata(path: path, reason: "no valid next.block.start")
            }
            start = n
        }
        // Nothing of the block on record is handed out until its successor is on record.
        state = Mutex(State(next: start, blockEnd: start))
    }

    /// A fresh producer id; blocks on a file write once per `blockSize` ids.
    func next() throws(BrokerError) -> Int64 {
        try state.withLock { (state) throws(BrokerError) -> Int64 in
            if state.next >= state.blockEnd {
                let end = state.next + Self.blockSize
                let text = "# The first producer id of the next block Samsa may hand out.\n"
                    + JavaProperties.format([("next.block.start", "\(end)")])
                do throws(FileSystemError) { try AtomicFile.write(text, to: path, fileSystem: fileSystem) } catch { throw .io(error) }
                state.blockEnd = end
            }
            defer { state.next += 1 }
            state.epochs[state.next] = (0, nil)
            return state.next
        }
    }

    /// What re-initialising an idempotent producer gives.
    enum Reinitialised: Equatable {
        /// The same id with the next epoch (or, when its epochs are used up or the id was never handed out, a new
        /// id at epoch 0): batches of the old epoch are fenced by the logs from now on.
        case bumped(producerId: Int64, epoch: Int16)
        /// The epoch is older than the current one: another instance has re-initialised since.
        case fenced(current: Int16)
    }

    /// Bumps the epoch of a producer that presents its id and epoch (InitProducerId v3+, KIP-360). A retry of
    /// the last bump (the previous epoch presented again) gets the same answer. Epochs are remembered for this
    /// process only: after a restart any presented epoch is accepted and bumped, which still fences everything
    /// older than it.
    func bumpEpoch(producerId: Int64, epoch: Int16) throws(BrokerError) -> Reinitialised {
        let known = state.withLock { (state) -> Reinitialised? in
            guard producerId < state.next else { return nil }
            let entry = state.epochs[producerId]
            if let entry {
                if epoch == entry.previous { return .bumped(producerId: producerId, epoch: entry.current) }
                if epoch < entry.current { return .fenced(current: entry.current) }
            }
            guard epoch < Int16.max - 1 else { return nil }
            state.epochs[producerId] = (epoch + 1, epoch)
            return .bumped(producerId: producerId, epoch: epoch + 1)
        }
        if let known { return known }
        return .bumped(producerId: try next(), epoch: 0)
    }
}
