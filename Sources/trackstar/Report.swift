// `trackstar report`: clicks, conversions, conversion rate, payout, revenue, profit, EPC and refusals
// by reason, grouped as asked, from whichever reporting store `[export]` configures.
import ArgumentParser
import TrackstarCore
import TrackstarExport
import TrackstarConfiguration

/// `trackstar report --config FILE [--from DATE] [--to DATE] [--tz ZONE] [--group-by COLS] [--format table|csv|json]`.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report clicks, conversions, CR, payout, revenue, profit, EPC and refusals from the reporting store.")

    @Option(name: .long, help: "Configuration file (TOML); [export] says which store to read.")
    var config: String

    @Option(name: .customLong("data-dir"), help: "Data directory, overriding [storage] data_dir (holds report.sqlite).")
    var dataDir: String?

    @Option(name: .long, help: "Start: YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] (inclusive), in --tz (default UTC).")
    var from: String?

    @Option(name: .long, help: "End, in --tz: a date includes that whole day; a time is exclusive. Must be after --from.")
    var to: String?

    @Option(name: .long, help: "Time zone of days, hours, --from and --to: a tz database name such as Europe/Berlin (default UTC).")
    var tz: String?

    @Option(name: .customLong("group-by"), help: "Comma-separated: offer,affiliate,sub1..sub5,source,day,hour,event,country,asn,device,os,browser,trafficback_reason,smartlink.")
    var groupBy: String?

    @Option(name: .long, help: "table, csv or json.")
    var format: String = "table"

    func run() throws {
        var settings = try loadConfig(config)
        if let dataDir { settings.storage.dataDir = dataDir }
        guard let format = ReportFormat(rawValue: format) else {
            throw ValidationError("--format: expected table, csv or json, got \(format)")
        }
        let request = try makeRequest()
        do {
            let backend = try Reporter.backend(config: settings.export, dataDir: settings.storage.dataDir)
            let result = try Reporter.run(request, on: backend)
            print(format.render(result, request: request), terminator: "")
            // Table and JSON carry the note; CSV stays rows only, so it goes to standard error.
            if format == .csv, let note = result.note { printError("trackstar: report: \(note)") }
        } catch {
            printError("trackstar: report: \(error)")
            throw ExitCode(1)
        }
    }

    func makeRequest() throws -> ReportRequest {
        var request = ReportRequest()
        if let tz {
            do { request.timeZone = try ReportTimeZone.load(tz) } catch { throw ValidationError(error.description) }
        }
        switch ReportRequest.range(from: from, to: to, timeZone: request.timeZone) {
        case .success(let range): (request.fromMillis, request.toMillis) = range
        case .failure(let error): throw ValidationError(error.description)
        }
        if let groupBy {
            switch ReportDimension.parseList(groupBy) {
            case .success(let dimensions): request.groupBy = dimensions
            case .failure(let error): throw ValidationError(error.description)
            }
        }
        return request
    }
}
