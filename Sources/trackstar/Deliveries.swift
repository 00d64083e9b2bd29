// `trackstar deliveries`: partner-postback delivery status from the delivery log, resuming a
// paused endpoint, and queueing failed postbacks again.
import ArgumentParser
import TrackstarCore
import TrackstarDelivery
import TrackstarExport
import TrackstarStore
import Foundation
import TrackstarConfiguration

/// `trackstar deliveries --config FILE [--affiliate ID] [--failed] [--format table|json] [--resume ENDPOINT]`.
struct Deliveries: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show partner-postback deliveries: success rate, pending, paused endpoints, last error per endpoint.")

    @Option(name: .long, help: "Configuration file (TOML); its [storage] data_dir holds the delivery log.")
    var config: String

    @Option(name: .customLong("data-dir"), help: "Data directory, overriding [storage] data_dir.")
    var dataDir: String?

    @Option(name: .long, help: "Only this affiliate's postbacks.")
    var affiliate: UInt32?

    @Flag(name: .long, help: "Also list postbacks that failed for good (the most recent 1000; compaction carries them into the live log).")
    var failed = false

    @Option(name: .long, help: "table or json.")
    var format: String = "table"

    @Option(name: .long, help: "Resume a paused endpoint (scheme://host:port, or any URL on it).")
    var resume: String?

    @Flag(name: .customLong("retry-failed"),
          help: "Queue postbacks that failed for good again, selected by --endpoint, --affiliate, --from/--to (failure time) or --conversion.")
    var retryFailed = false

    @Option(name: .long, help: "With --retry-failed: postbacks that failed at this endpoint (scheme://host:port, or any URL on it).")
    var endpoint: String?

    @Option(name: .long, help: "With --retry-failed: failed at or after this UTC time (YYYY-MM-DD[ HH:MM[:SS]]).")
    var from: String?

    @Option(name: .long, help: "With --retry-failed: failed before this UTC time (a date alone includes that day).")
    var to: String?

    @Option(name: .long, help: "With --retry-failed: only this conversion's postback.")
    var conversion: UInt64?

    @Flag(name: .long, help: "With --retry-failed: render each URL from the current configuration (running server only).")
    var rerender = false

    @Option(name: .long, help: "With --retry-failed: the request's id; the same id carried out twice queues nothing the second time.")
    var request: String?

    func run() throws {
        var settings = try loadConfig(config)
        if let dataDir { settings.storage.dataDir = dataDir }
        guard format == "table" || format == "json" else { throw ValidationError("--format: expected table or json, got \(format)") }
        if let resume {
            try resumeEndpoint(resume, settings: settings)
            return
        }
        if retryFailed {
            try retry(settings: settings)
            return
        }
        if endpoint != nil || from != nil || to != nil || conversion != nil || rerender || request != nil {
            throw ValidationError("--endpoint, --from, --to, --conversion, --rerender and --request select postbacks for --retry-failed; add it")
        }
        // The live generation carries the counts and the most recent failures across compactions
        // (and archive retention), so it alone answers, however long the history.
        let ledger: DeliverySnapshot
        do {
            ledger = DeliveryLedger.replay(try DeliveryLog(dataDir: settings.storage.dataDir, writer: false),
                                           pauseAfter: settings.delivery.pauseAfter).snapshot()
        } catch {
            printError("trackstar: deliveries: \(error.description)")
            throw ExitCode(1)
        }
        print(format == "json" ? DeliveryReport.json(ledger, affiliate: affiliate, failed: failed)
                               : DeliveryReport.table(ledger, affiliate: affiliate, failed: failed), terminator: "")
    }

    func resumeEndpoint(_ text: String, settings: TrackstarConfig) throws {
        guard let endpoint = PartnerTemplate.endpoint(of: text) else {
            throw ValidationError("--resume: expected an endpoint such as https://partner.example:443, got \(text)")
        }
        let log: DeliveryLog
        do { log = try DeliveryLog(dataDir: settings.storage.dataDir, writer: true) } catch {
            // The server is running (it holds the log): ask it through its admin listener.
            guard let host = settings.admin.host else {
                printError("trackstar: deliveries: \(error.description); set [admin] listen so a running server can be asked to resume")
                throw ExitCode(1)
            }
            let (status, body) = try AdminClient.post(host: host, port: settings.admin.port, path: "/deliveries/resume",
                                                      parameters: [("endpoint", endpoint)])
            guard status == 200 else {
                printError("trackstar: deliveries: \(body.trimmingCharacters(in: .newlines))")
                throw ExitCode(1)
            }
            print(body, terminator: "")
            return
        }
        guard DeliveryReport.resumeOffline(log, endpoint: endpoint, nowMillis: WallClock.nowMillis()) else {
            printError("trackstar: deliveries: \(endpoint) is not paused")
            throw ExitCode(1)
        }
        print("resumed \(endpoint)")
    }
}

extension Deliveries {
    /// `--retry-failed`: asks a running server's admin listener, or appends to the log of a stopped one.
    func retry(settings: TrackstarConfig) throws {
        var parameters: [(String, String)] = []
        if let endpoint { parameters.append(("endpoint", endpoint)) }
        if let affiliate { parameters.append(("affiliate", String(affiliate))) }
        if let from { parameters.append(("from", from)) }
        if let to { parameters.append(("to", to)) }
        if let conversion { parameters.append(("conversion", String(conversion))) }
        if rerender { parameters.append(("rerender", "1")) }
        parameters.append(("request", request ?? RetrySelection.newRequestID()))
        let selection: RetrySelection
        do { selection = try RetrySelection.parse { name in parameters.first { $0.0 == name }?.1 } } catch {
            throw ValidationError("--retry-failed: \(error.description)")
        }
        let log: DeliveryLog
        do { log = try DeliveryLog(dataDir: settings.storage.dataDir, writer: true) } catch {
            // The server is running (it holds the log): ask it through its admin listener.
            guard let host = settings.admin.host else {
                printError("trackstar: deliveries: \(error.description); set [admin] listen so a running server can be asked to retry")
                throw ExitCode(1)
            }
            let (status, body) = try AdminClient.post(
                host: host, port: settings.admin.port, path: "/deliveries/retry",
                parameters: parameters + (format == "json" ? [("format", "json")] : []),
                unreachable: "; send the same request again with --request \(selection.requestID)")
            guard status == 200 else {
                printError("trackstar: deliveries: \(body.trimmingCharacters(in: .newlines))")
                throw ExitCode(1)
            }
            print(body, terminator: "")
            return
        }
        guard !selection.rerender else {
            printError("trackstar: deliveries: --rerender needs the running server (it renders from the conversion logs and the loaded configuration); start it and send the request again")
            throw ExitCode(1)
        }
        let result = DeliveryRetry.runOffline(selection, log: log, nowMillis: WallClock.nowMillis())
        print(format == "json" ? result.json : result.text, terminator: "")
        if result.storageFailed { throw ExitCode(1) }
    }
}

/// The CLI's calls to a running server's admin listener, over TrackstarExport's libcurl `HTTPClient`.
enum AdminClient {
    /// POSTs `path` with `parameters` as its query (values percent-encoded by `ByteWriter`'s encoder)
    /// and returns the answer's status and body; prints why and exits when the listener cannot be reached.
    static func post(host: String, port: UInt16, path: String, parameters: [(String, String)], unreachable: String = "",
                     command: String = "deliveries") throws
        -> (status: Int, body: String) {
        let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let query = parameters.map { "\($0.0)=\(HTTPClient.encode($0.1))" }.joined(separator: "&")
        do {
            // The admin handler waits at most 5 s for the dispatcher, so 10 s without a byte is a dead server.
            let answer = try HTTPClient(baseURL: base, timeoutSeconds: 10).request(.post, query.isEmpty ? path : path + "?" + query)
            return (answer.status, answer.text)
        } catch {
            printError("trackstar: \(command): cannot reach the admin listener: \(error.description)\(unreachable)")
            throw ExitCode(1)
        }
    }
}
