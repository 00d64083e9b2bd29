// `tsload summarize`: reads the JSON lines of a comparison (labels `measure/server`) and prints one
// table of medians over the rounds, the ratios the targets are stated in, and each round's ratio.
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the comparison table from tsload --json lines.")

    @Argument(help: "File of JSON lines written by `tsload --json --label MEASURE/SERVER`.") var file: String
    @Option(name: .customLong("baseline-rss-kb"), help: "Trackstar's RSS right after it started, KiB.") var baselineRSS: UInt64 = 0
    @Flag(help: "The pinned comparison's table (loadtest/pinned.sh).") var pinned = false

    func run() throws {
        let text = ProcReader.readFile(file) ?? ""
        let reports = try text.split(separator: "\n").filter { $0.first == "{" }.map {
            try RunReport.decoder.decode(RunReport.self, from: Data($0.utf8))
        }
        print(pinned ? PinnedTable(reports: reports).render() : ComparisonTable(reports: reports, baselineRSS: baselineRSS).render())
    }
}

/// The comparison: every figure the harness measured, by measure and server, over the rounds.
struct ComparisonTable {
    let reports: [RunReport]
    let baselineRSS: UInt64

    /// The runs labelled `measure/server`, in order (one per round).
    func runs(_ measure: String, _ server: String) -> [RunReport] {
        reports.filter { $0.label == "\(measure)/\(server)" }
    }

    /// Per-round values of `value` for `measure/server`.
    func values(_ measure: String, _ server: String, _ value: (RunReport) -> Double?) -> [Double] {
        runs(measure, server).compactMap(value)
    }

    static let perSecond: @Sendable (RunReport) -> Double? = { $0.perSecond }
    static let cpu: @Sendable (RunReport) -> Double? = { $0.server?.cpuMicrosPerRequest }
    static let p99: @Sendable (RunReport) -> Double? = { $0.latency.p99 }
    static let validPerSecond: @Sendable (RunReport) -> Double? = { report in
        report.kinds.first { $0.kind == RequestKind.postbackValid.name }?.perSecond
    }

    func render() -> String {
        let rounds = runs("clicks", "trackstar").count
        var table = TextTable(columns: ["measure", "trackstar", "nginx", "floor", "ratio", "target", "", "ratio by round"])
        addClickRows(&table)
        addPostbackRows(&table)
        addOpenLoopRow(&table)
        addFootRows(&table)
        var lines = ["loadtest: medians over \(rounds) round(s), servers alternated within each round; "
            + "\(reports.first.map { "\($0.connections) connections, \($0.threads) generator thread(s), \(fixed($0.windowSeconds, 0)) s per run" } ?? "no runs")"]
        lines.append(table.render())
        lines += problems()
        return lines.joined(separator: "\n")
    }

    func addClickRows(_ table: inout TextTable) {
        let t = values("clicks", "trackstar", Self.perSecond), n = values("clicks", "nginx", Self.perSecond), f = values("clicks", "floor", Self.perSecond)
        table.add(ratioRow("click redirects/s (closed loop)", t, n, f, against: n, target: 1.25, atLeast: true, digits: 0))
        // What a server doing nothing at all reaches in the same runs: the most any server can.
        table.add(ratioRow("  ceiling: floor clicks/s vs nginx", [], [], [], against: n, target: nil, atLeast: true, digits: 0, ratioOf: f))
        let tc = values("clicks", "trackstar", Self.cpu), nc = values("clicks", "nginx", Self.cpu), fc = values("clicks", "floor", Self.cpu)
        table.add(ratioRow("server CPU µs per click vs nginx", tc, nc, fc, against: nc, target: 0.75, atLeast: false, digits: 2))
        table.add(ratioRow("  ceiling: floor CPU vs nginx", [], [], [], against: nc, target: nil, atLeast: false, digits: 2, ratioOf: fc))
        table.add(ratioRow("server CPU µs per click vs floor", tc, nc, fc, against: fc, target: 1.15, atLeast: false, digits: 2))
        // The io_uring floor, when the run had one: in the floor column, no target (see compare.sh).
        let uc = values("clicks", "floor-uring", Self.cpu), ur = values("clicks", "floor-uring", Self.perSecond)
        if !uc.isEmpty {
            table.add(ratioRow("  … vs io_uring floor (no target)", tc, [], uc, against: uc, target: nil, atLeast: false, digits: 2))
            table.add(ratioRow("  io_uring floor clicks/s vs nginx", [], n, ur, against: n, target: nil, atLeast: true, digits: 0, ratioOf: ur))
        }
    }

    func addPostbackRows(_ table: inout TextTable) {
        let valid = values("postbacks", "trackstar", Self.validPerSecond), nginx = values("clicks", "nginx", Self.perSecond)
        table.add(ratioRow("valid postbacks/s vs nginx 302/s", valid, nginx, [], against: nginx, target: 1.25, atLeast: true, digits: 0))
        let forged = values("forged", "trackstar", Self.perSecond)
        table.add(ratioRow("forged postbacks/s vs valid", forged, [], [], against: valid, target: 1.5, atLeast: true, digits: 0))
        // Both sides of the machine pay per request (server and generator share the cores): if refusing
        // cost no more than the floor's answer, forged/valid could reach at most this.
        let both: (RunReport) -> Double? = { r in r.server.map { $0.cpuMicrosPerRequest + r.generatorCPUMicrosPerRequest } }
        let validCost = values("postbacks", "trackstar", both), floorCost = values("clicks", "floor", both)
        table.add(ratioRow("  ceiling: valid cost / floor cost", [], [], [], against: floorCost, target: nil, atLeast: true,
                           digits: 0, ratioOf: validCost))
        let cpu = values("postbacks", "trackstar", Self.cpu)
        table.add(["server CPU µs per valid postback", cell(cpu, 2), "", "", "", "", "", ""])
    }

    func addOpenLoopRow(_ table: inout TextTable) {
        let rates = values("open", "trackstar") { $0.rate }
        let t = values("open", "trackstar", Self.p99), n = values("open", "nginx", Self.p99), f = values("open", "floor", Self.p99)
        table.add(ratioRow("p99 µs, open loop at \(fixed(median(rates), 0))/s", t, n, f, against: n, target: nil, atLeast: false, digits: 0))
        let tp50 = values("open", "trackstar") { $0.latency.p50 }, np50 = values("open", "nginx") { $0.latency.p50 }
        let fp50 = values("open", "floor") { $0.latency.p50 }
        table.add(ratioRow("p50 µs, same runs", tp50, np50, fp50, against: np50, target: nil, atLeast: false, digits: 0))
        let lag: (RunReport) -> Double? = { $0.sendLag?.p99 }
        let tl = values("open", "trackstar", lag), nl = values("open", "nginx", lag), fl = values("open", "floor", lag)
        table.add(["generator send lag p99 µs, same runs", cell(tl, 0), cell(nl, 0), cell(fl, 0), "", "", "", "(late against schedule)"])
    }

    /// The generator's own ceiling and Trackstar's memory per stored click.
    func addFootRows(_ table: inout TextTable) {
        let floor = values("clicks", "floor", Self.perSecond), t = values("clicks", "trackstar", Self.perSecond)
        table.add(ratioRow("generator ceiling: floor 302/s", [], [], floor, against: floor, target: nil, atLeast: true, digits: 0, ratioOf: t))
        table.rows[table.rows.count - 1][6] = "(ratio = trackstar/floor)"
        table.add(["trackstar RSS bytes per stored click", "", "", "", "", "", "", rssPerClick()])
    }

    /// Growth of RSS over Trackstar's click-only runs (warm-up included) per click they stored; the
    /// postback runs are left out, since conversions and their index take memory of their own.
    func rssPerClick() -> String {
        let runs = reports.filter { $0.label?.hasSuffix("/trackstar") == true && $0.scenario == Scenario.clicks.rawValue }
        let clicks = runs.reduce(0) { $0 + $1.minted }
        let growthKB = runs.reduce(Int64(0)) { sum, run in
            sum + (run.server.map { Int64($0.rssKBEnd) - Int64($0.rssKBBeforeRun) } ?? 0)
        }
        guard clicks > 0 else { return "-" }
        var text = "\(fixed(Double(growthKB) * 1024 / Double(clicks), 0)) (\(clicks) clicks)"
        if baselineRSS > 0, let last = reports.last(where: { $0.label?.hasSuffix("/trackstar") == true })?.server {
            text += "; RSS \(baselineRSS / 1024) → \(last.rssKBEnd / 1024) MiB over all runs"
        }
        return text
    }

    /// A row: medians per server, the ratio of the first column's median to `against`'s, the target and
    /// whether it is met, and the per-round ratios.
    func ratioRow(_ name: String, _ t: [Double], _ n: [Double], _ f: [Double], against: [Double], target: Double?,
                  atLeast: Bool, digits: Int, ratioOf: [Double]? = nil) -> [String] {
        let numerator = ratioOf ?? t
        let ratio = median(numerator) / median(against)
        let verdict = target.map { (atLeast ? ratio >= $0 : ratio <= $0) ? "ok" : "MISS" } ?? ""
        let perRound = zip(numerator, against).map { fixed($0 / $1, 2) }.joined(separator: " ")
        return [name, cell(t, digits), cell(n, digits), cell(f, digits), ratio.isFinite ? fixed(ratio, 2) + "×" : "-",
                target.map { (atLeast ? "≥" : "≤") + fixed($0, 2) + "×" } ?? "", verdict, perRound]
    }

    func cell(_ values: [Double], _ digits: Int) -> String { values.isEmpty ? "" : fixed(median(values), digits) }

    /// Unexpected statuses, lost requests and reconnects, so a fast wrong answer is never taken for a win.
    func problems() -> [String] {
        reports.compactMap { report in
            let issues = report.kinds.filter { $0.unexpected > 0 || $0.errors > 0 }.map { kind in
                "\(kind.kind): \(kind.unexpected) unexpected (\(kind.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))), \(kind.errors) errors"
            }
            let expectsTrackstar = report.label?.hasSuffix("/trackstar") == true
            guard (expectsTrackstar && !issues.isEmpty) || report.reconnects > 0 || report.malformedResponses > 0 else { return nil }
            return "note: \(report.label ?? "?"): \(issues.joined(separator: "; ")) reconnects \(report.reconnects), malformed \(report.malformedResponses)"
        }
    }
}

/// The median (mean of the middle two for an even count); NaN for none.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// A plain text table with columns sized to their widest cell.
struct TextTable {
    let columns: [String]
    var rows: [[String]] = []

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        let all = [columns] + rows
        let widths = columns.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            row.indices.map { i in i == 0 || i == row.count - 1 ? pad(row[i], widths[i]) : pad(row[i], widths[i], right: true) }
                .joined(separator: "  ").trimmingSuffixSpaces()
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        return ([line(columns), rule] + rows.map(line)).joined(separator: "\n")
    }
}

extension String {
    func trimmingSuffixSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
