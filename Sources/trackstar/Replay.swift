// `trackstar replay`: sends refused postbacks of one reason and time range again through the
// server's /postback (after the profile or offer that refused them was fixed). Idempotent.
import ArgumentParser
import TrackstarCore
import TrackstarExport
import TrackstarServer
import TrackstarStore
import TrackstarConfiguration

/// `trackstar replay --config FILE --reason REASON [--from T] [--to T] [--url URL] [--data-dir DIR] [--dry-run]`.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send refused postbacks (by reason and time range) again through the server's /postback; a replay run twice records once.")

    @Option(name: .long, help: "Configuration file (TOML).")
    var config: String

    @Option(name: .customLong("data-dir"), help: "Data directory, overriding [storage] data_dir.")
    var dataDir: String?

    @Option(name: .long, help: "Refusal reason, such as unknown_status, unknown_event or missing_parameter.")
    var reason: String

    @Option(name: .long, help: "Start (inclusive): YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS], UTC.")
    var from: String?

    @Option(name: .long, help: "End: a date includes that whole day; a time is exclusive.")
    var to: String?

    @Option(name: .long, help: "The server's public listener (default: http:// + [server] listen).")
    var url: String?

    @Flag(name: .customLong("dry-run"), help: "List what would be sent, send nothing.")
    var dryRun = false

    func run() throws {
        var settings = try loadConfig(config)
        if let dataDir { settings.storage.dataDir = dataDir }
        guard let chosen = RefusalReason.allCases.first(where: { "\($0.name)" == reason && !$0.isClick }) else {
            throw ValidationError("--reason: no postback refusal reason \(reason)")
        }
        let range: (from: Int64?, to: Int64?)
        switch ReportRequest.range(from: from, to: to, timeZone: nil) {
        case .success(let r): range = r
        case .failure(let error): throw ValidationError(error.description)
        }
        let items: [RefusalReplay.Item]
        switch RefusalReplay.select(dataDir: settings.storage.dataDir, reason: chosen, fromMillis: range.from, toMillis: range.to) {
        case .success(let found): items = found
        case .failure(let error):
            printError("trackstar: replay: \(error)")
            throw ExitCode(1)
        }
        let host = settings.server.host.contains(":") ? "[\(settings.server.host)]" : settings.server.host
        let base = url ?? "http://\(host):\(settings.server.port)"
        var outcomes: [String: Int] = [:]
        let client = dryRun ? nil : try? HTTPClient(baseURL: base)
        for item in items {
            let query = RefusalReplay.query(item, config: settings)
            guard let client else { print("would send: /postback?\(query)"); continue }
            do {
                let answer = try client.request(.get, "/postback?" + query)
                let outcome = ReplayOutcome.name(answer)
                outcomes[outcome, default: 0] += 1
                print("\(item.ref >> 40)-\(item.ref & 0xFF_FFFF_FFFF) \(answer.status) \(outcome)")
            } catch {
                printError("trackstar: replay: \(base): \(error)")
                throw ExitCode(1)
            }
        }
        print("replayed \(items.count) refused postbacks (\(reason)): "
              + outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }
}

/// What a replayed postback's answer says.
enum ReplayOutcome {
    static func name(_ answer: HTTPResponse) -> String {
        let text = answer.text
        if answer.status == 200 { return text.contains("\"duplicate\":true") ? "duplicate" : "recorded" }
        if let range = text.range(of: "\"reason\":\""), let end = text[range.upperBound...].firstIndex(of: "\"") {
            return "refused " + text[range.upperBound..<end]
        }
        return "http \(answer.status)"
    }
}
