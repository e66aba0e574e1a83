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
            return state.next
        }
    }
}
