// `trackstar deliveries`: partner-postback delivery status from the delivery log, and resuming a
// paused endpoint.
import ArgumentParser
import TrackstarCore
import TrackstarDelivery
import TrackstarStore

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

    @Flag(name: .long, help: "Also list postbacks that failed for good (most recent 1000).")
    var failed = false

    @Option(name: .long, help: "table or json.")
    var format: String = "table"

    @Option(name: .long, help: "Resume a paused endpoint (scheme://host:port, or any URL on it).")
    var resume: String?

    func run() throws {
        var settings = try loadConfig(config)
        if let dataDir { settings.storage.dataDir = dataDir }
        guard format == "table" || format == "json" else { throw ValidationError("--format: expected table or json, got \(format)") }
        if let resume {
            try resumeEndpoint(resume, settings: settings)
            return
        }
        let log: DeliveryLog
        do { log = try DeliveryLog(dataDir: settings.storage.dataDir, writer: false) } catch {
            printError("trackstar: deliveries: \(error.description)")
            throw ExitCode(1)
        }
        let ledger = DeliveryLedger.replay(log, pauseAfter: settings.delivery.pauseAfter)
        print(format == "json" ? DeliveryReport.json(ledger, affiliate: affiliate, failed: failed)
                               : DeliveryReport.table(ledger, affiliate: affiliate, failed: failed), terminator: "")
    }

    func resumeEndpoint(_ text: String, settings: TrackstarConfig) throws {
        guard let endpoint = PartnerTemplate.endpoint(of: text) else {
            throw ValidationError("--resume: expected an endpoint such as https://partner.example:443, got \(text)")
        }
        let log: DeliveryLog
        do { log = try DeliveryLog(dataDir: settings.storage.dataDir, writer: true) } catch {
            printError("trackstar: deliveries: \(error.description); resume it through the running server instead")
            throw ExitCode(1)
        }
        guard DeliveryReport.resumeOffline(log, endpoint: endpoint, nowMillis: StoppableThread.nowMillis()) else {
            printError("trackstar: deliveries: \(endpoint) is not paused")
            throw ExitCode(1)
        }
        print("resumed \(endpoint)")
    }
}
