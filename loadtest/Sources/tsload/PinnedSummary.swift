// The pinned comparison's table (`tsload summarize --pinned`): server on one core, generator on the
// other, so server CPU decides throughput. Every figure is a ratio against the do-nothing floor and
// nginx measured in the same rounds; CPU is counted until the server is idle again after each run.

/// Labels `measure/server`: measures `keepalive`, `close`, `postbacks`, `forged`, `open`; servers
/// `trackstar` (reporting feed off), `trackstar-default` (the default configuration: SQLite feed on),
/// `nginx`, `floor`.
struct PinnedTable {
    let reports: [RunReport]

    func values(_ measure: String, _ server: String, _ value: (RunReport) -> Double?) -> [Double] {
        reports.filter { $0.label == "\(measure)/\(server)" }.compactMap(value)
    }

    static let perSecond: @Sendable (RunReport) -> Double? = { $0.perSecond }
    static let cpu: @Sendable (RunReport) -> Double? = { $0.server.map { $0.cpuMicrosPerRequestSettled ?? $0.cpuMicrosPerRequest } }
    static let p99: @Sendable (RunReport) -> Double? = { $0.latency.p99 }
    static let validCPU: @Sendable (RunReport) -> Double? = { report in
        guard let server = report.server, let valid = report.kinds.first(where: { $0.kind == RequestKind.postbackValid.name }),
              valid.requests > 0 else { return nil }
        return (server.cpuMicrosPerRequestSettled ?? server.cpuMicrosPerRequest) * Double(report.requests) / Double(valid.requests)
    }

    static let servers = ["trackstar", "trackstar-default", "nginx", "floor"]

    func render() -> String {
        let rounds = values("keepalive", "floor", Self.perSecond).count
        var table = TextTable(columns: ["measure"] + Self.servers + ["ratio", "target", "", "ratio by round"])
        for (measure, title) in [("keepalive", "keep-alive"), ("close", "one connection per click")] {
            table.add(row("\(title): clicks/s", measure, Self.perSecond, digits: 0))
            table.add(row("\(title): server CPU µs per click", measure, Self.cpu, digits: 2))
            let feedOff = measure == "keepalive" ? 1.05 : 1.05
            table.add(ratio("  trackstar (feed off) vs floor", values(measure, "trackstar", Self.cpu), values(measure, "floor", Self.cpu), target: feedOff))
            table.add(ratio("  default (feed on) vs floor", values(measure, "trackstar-default", Self.cpu), values(measure, "floor", Self.cpu),
                            target: measure == "keepalive" ? 1.10 : nil))
            table.add(ratio("  default vs feed off", values(measure, "trackstar-default", Self.cpu), values(measure, "trackstar", Self.cpu),
                            target: measure == "keepalive" ? 1.15 : nil))
            table.add(ratio("  trackstar (feed off) vs nginx", values(measure, "trackstar", Self.cpu), values(measure, "nginx", Self.cpu), target: nil))
        }
        let floorCPU = values("keepalive", "floor", Self.cpu)
        table.add(row("valid postbacks: server CPU µs each", "postbacks", Self.validCPU, digits: 2))
        table.add(ratio("  vs floor's click", values("postbacks", "trackstar", Self.validCPU), floorCPU, target: 1.15))
        table.add(row("forged postbacks: server CPU µs each", "forged", Self.cpu, digits: 2))
        table.add(ratio("  vs floor's click", values("forged", "trackstar", Self.cpu), floorCPU, target: 1.02))
        let rates = values("open", "floor") { $0.rate }
        table.add(row("open loop at \(fixed(median(rates), 0))/s: p99 µs", "open", Self.p99, digits: 0))
        table.add(ratio("  default vs feed off", values("open", "trackstar-default", Self.p99), values("open", "trackstar", Self.p99), target: 1.5))
        table.add(ratio("  default vs nginx", values("open", "trackstar-default", Self.p99), values("open", "nginx", Self.p99), target: 1.5))
        table.add(ratio("  feed off vs nginx", values("open", "trackstar", Self.p99), values("open", "nginx", Self.p99), target: nil))
        let settle: (RunReport) -> Double? = { $0.server?.settleSeconds }
        table.add(row("seconds to idle after the keep-alive runs", "keepalive", settle, digits: 2))
        let first = reports.first
        var lines = ["loadtest (pinned): medians over \(rounds) round(s); server on one core, generator on the other; "
            + "\(first.map { "\($0.connections) keep-alive connections, \(fixed($0.windowSeconds, 0)) s per run" } ?? "no runs"); "
            + "CPU counted until the server was idle again"]
        lines.append(table.render())
        lines += ComparisonTable(reports: reports, baselineRSS: 0).problems()
        return lines.joined(separator: "\n")
    }

    /// One measure's medians for every server.
    func row(_ name: String, _ measure: String, _ value: (RunReport) -> Double?, digits: Int) -> [String] {
        [name] + Self.servers.map { cell(values(measure, $0, value), digits) } + ["", "", "", ""]
    }

    /// The ratio of two medians, its target and verdict, and the ratio in each round.
    func ratio(_ name: String, _ numerator: [Double], _ denominator: [Double], target: Double?) -> [String] {
        let r = median(numerator) / median(denominator)
        let verdict = target.map { r <= $0 ? "ok" : "MISS" } ?? ""
        let perRound = zip(numerator, denominator).map { fixed($0 / $1, 2) }.joined(separator: " ")
        return [name] + Self.servers.map { _ in "" } + [r.isFinite ? fixed(r, 2) + "×" : "-", target.map { "≤" + fixed($0, 2) + "×" } ?? "",
                                                      verdict, perRound]
    }

    func cell(_ values: [Double], _ digits: Int) -> String { values.isEmpty ? "" : fixed(median(values), digits) }
}
