// `trackstar update-conversion`: an operator changes a conversion's status (approve a pending lead,
// reject or reverse one) through a running server's admin listener, with a reason kept in the log.
import ArgumentParser
import TrackstarCore
import Foundation
import TrackstarConfiguration

/// `trackstar update-conversion ID --status approved|pending|rejected --reason TEXT --config FILE`.
struct UpdateConversion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-conversion",
        abstract: "Change a conversion's status (pending → approved or rejected, approved → rejected) on a running server.")

    @Argument(help: "The conversion id (as postback answers and reports give it).")
    var id: UInt64

    @Option(name: .long, help: "The new status: approved, pending or rejected.")
    var status: String

    @Option(name: .long, help: "Why (kept with the transition in the conversion log and the reports).")
    var reason: String

    @Option(name: .long, help: "Configuration file (TOML); its [admin] listen is where the server is asked.")
    var config: String

    func run() throws {
        guard ["approved", "pending", "rejected"].contains(status) else {
            throw ValidationError("--status: expected approved, pending or rejected, got \(status)")
        }
        guard !reason.isEmpty else { throw ValidationError("--reason: say why the status changes") }
        let settings = try loadConfig(config)
        guard let host = settings.admin.host else {
            printError("trackstar: update-conversion: the configuration has no [admin] listen; set it so the running server can be asked")
            throw ExitCode(1)
        }
        let (code, body) = try AdminClient.post(host: host, port: settings.admin.port, path: "/conversions/\(id)/status",
                                                parameters: [("status", status), ("reason", reason)], command: "update-conversion")
        guard code == 200 else {
            printError("trackstar: update-conversion: \(body.trimmingCharacters(in: .newlines))")
            throw ExitCode(1)
        }
        print(body, terminator: "")
    }
}
