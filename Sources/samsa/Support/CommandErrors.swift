import ArgumentParser
import SamsaClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A command failed: `message` is the one line shown to the user.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs a command body; any failure becomes one line on standard error (`prefix` + the message) and exit
/// code 1. Argument errors (`ValidationError`, `ExitCode`, `CleanExit`) pass through to the parser.
func reportingErrors(prefix: String = "Error: ", _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        Terminal.write(prefix + oneLine(error) + "\n", to: STDERR_FILENO)
        throw ExitCode.failure
    }
}

/// An error's description with newlines folded, so that it stays one line.
func oneLine(_ error: any Error) -> String {
    let text: String
    if let client = error as? ClientError {
        text = client.description
    } else if let failure = error as? CommandFailure {
        text = failure.message
    } else {
        text = String(describing: error)
    }
    return text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
}

/// `key=value` options into a dictionary; a malformed entry is a usage error naming the option.
func parseProperties(_ entries: [String], option: String) throws -> [String: String] {
    do {
        return try Properties.parse(entries)
    } catch {
        throw ValidationError("\(option) expects key=value, got '\(entries.first { !$0.contains("=") } ?? "")'")
    }
}

/// Reads a properties file (`--command-config`, `--producer.config`...).
func loadPropertiesFile(_ path: String) throws -> [String: String] {
    guard let file = fopen(path, "r") else {
        throw CommandFailure("cannot read \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return Properties.load(contents: String(decoding: bytes, as: UTF8.self))
}

/// Warns once about properties a command does not use.
func warnUnused(_ keys: Set<String>, what: String) {
    guard !keys.isEmpty else { return }
    Terminal.write("WARNING: ignoring unknown \(what) properties: \(keys.sorted().joined(separator: ", "))\n", to: STDERR_FILENO)
}


/// Runs `body` with an admin client for `--bootstrap-server` (and `--command-config`), closing it however `body`
/// ends: the shape `topics` and `consumer-groups` share.
func withAdmin(
    bootstrapServer: String?, commandConfig: String?, clientId: String, operationTimeoutMs: Int32 = 30_000,
    _ body: (Admin) async throws -> Void
) async throws {
    var clientConfig = try ClientConfig(bootstrap: bootstrapServer ?? "", clientId: clientId)
    if let commandConfig { try clientConfig.apply(try loadPropertiesFile(commandConfig)) }
    let admin = Admin(config: clientConfig, operationTimeoutMs: operationTimeoutMs)
    do {
        try await body(admin)
    } catch {
        await admin.close()
        throw error
    }
    await admin.close()
}
