// Helpers for the reporting-feed live tests: traffic whose expected report is known, `trackstar
// report` as JSON, ground truth read straight from the logs, and kill -9 rounds checked against it
// (the ClickHouse server of the tests' own is in ClickHouseTestSupport).
import Foundation
import Testing
import TrackstarCore
import TrackstarExport
import TrackstarStore
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

/// What the clients were told: counts and sums a report must reproduce.
struct SentTraffic: Equatable {
    var clicks = 0
    var conversions = 0
    var payoutMicros: Int64 = 0
    var revenueMicros: Int64 = 0
    var refusals: [String: Int] = [:]
    var clicksByOffer: [Int: Int] = [:]
    var conversionsByOffer: [Int: Int] = [:]

    mutating func add(_ other: SentTraffic) {
        clicks += other.clicks; conversions += other.conversions
        payoutMicros += other.payoutMicros; revenueMicros += other.revenueMicros
        refusals.merge(other.refusals, uniquingKeysWith: +)
        clicksByOffer.merge(other.clicksByOffer, uniquingKeysWith: +)
        conversionsByOffer.merge(other.conversionsByOffer, uniquingKeysWith: +)
    }
}

/// Money in a JSON answer (a number) as micros.
func micros(_ value: Any?) -> Int64 {
    guard let number = value as? NSNumber else { return 0 }
    return Int64((number.doubleValue * 1_000_000).rounded())
}

/// Clicks on offers 1, 3 and 5 with subs, conversions of several kinds, and refused postbacks,
/// tallying what the server acknowledged. `tag` keeps txids unique across calls.
func sendMixedTraffic(_ server: LiveServer, tag: String) throws -> SentTraffic {
    var sent = SentTraffic()
    let c = try server.connect()
    func click(_ offer: Int, _ query: String) throws -> String {
        let id = try #require(clickID(try c.get("/click?offer_id=\(offer)&aff_id=7&\(query)")))
        sent.clicks += 1
        sent.clicksByOffer[offer, default: 0] += 1
        return id
    }
    func postback(_ query: String, offer: Int) throws {
        let r = try c.get("/postback?" + query)
        if r.status == 200 {
            guard r.json["duplicate"] as? Bool != true else { return }
            if r.json["status"] as? String != "rejected" {
                sent.conversions += 1
                sent.conversionsByOffer[offer, default: 0] += 1
            }
            // The report's payout and revenue are those of approved conversions.
            if r.json["status"] as? String == "approved" {
                sent.payoutMicros += micros(r.json["payout"])
                sent.revenueMicros += micros(r.json["revenue"])
            }
        } else if let reason = r.json["reason"] as? String {
            sent.refusals[reason, default: 0] += 1
        }
    }
    for i in 0..<30 {
        let id = try click(1, "sub1=s\(i % 3)&sub2=b&source=news&aff_click_id=ac\(i)")
        if i % 3 == 0 { try postback("click_id=\(id)&txid=\(tag)-\(i)&amount=10.5", offer: 1) }
        if i % 3 == 0 { try postback("click_id=\(id)&txid=\(tag)-\(i)", offer: 1) }  // a repeat: no new row
        if i % 5 == 1 { try postback("click_id=\(id)&event=upsell", offer: 1) }
        if i == 2 { try postback("click_id=\(id)&txid=\(tag)-r&status=rejected", offer: 1) }
        if i == 4 { try postback("click_id=\(id)&event=nope", offer: 1) }
    }
    for i in 0..<8 {
        let id = try click(5, "sub1=m&source=search")
        try postback("click_id=\(id)&txid=\(tag)-m\(i)", offer: 5)
    }
    for i in 0..<4 {
        let id = try click(3, "sub3=g")
        try postback(i % 2 == 0 ? "click_id=\(id)&token=adv-secret" : "click_id=\(id)&token=wrong", offer: 3)
    }
    try postback("click_id=0000000000000000000000000", offer: 0)
    try postback("click_id={click_id}", offer: 0)
    return sent
}

/// A report as parsed JSON.
struct ReportJSON {
    let object: [String: Any]
    var totals: [String: Any] { object["totals"] as? [String: Any] ?? [:] }
    var rows: [[String: Any]] { object["rows"] as? [[String: Any]] ?? [] }
    var refusals: [String: Int] {
        var byReason: [String: Int] = [:]
        for r in object["refusals"] as? [[String: Any]] ?? [] { byReason[r["reason"] as? String ?? "", default: 0] += r["count"] as? Int ?? 0 }
        return byReason
    }

    /// The totals as the same shape as `SentTraffic` (counts and sums only).
    func matches(_ sent: SentTraffic) -> Bool {
        totals["clicks"] as? Int == sent.clicks && totals["conversions"] as? Int == sent.conversions
            && micros(totals["payout"]) == sent.payoutMicros && micros(totals["revenue"]) == sent.revenueMicros
            && refusals == sent.refusals
    }

    var summary: String { "totals \(totals), refusals \(refusals)" }
}

/// Runs `trackstar report --format json` against `server`'s config and data dir.
func report(_ server: LiveServer, _ extra: [String] = []) throws -> ReportJSON {
    guard reportCommandRegistered else { return try reportInProcess(server, extra) }
    let arguments = ["report", "--config", server.configPath, "--data-dir", server.dataPath, "--format", "json"] + extra
    let result = try LiveServer.run(arguments)
    guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
        throw ExportError("trackstar report failed (\(result.status)): \(result.stderr) \(result.stdout)")
    }
    return ReportJSON(object: object)
}

/// Whether this build's `trackstar` lists the `report` subcommand (until `Report.self` is added to
/// the subcommands in Trackstar.swift, the tests compute the report in process with the same code).
let reportCommandRegistered: Bool = {
    let help = (try? LiveServer.run(["--help"]))?.stdout ?? ""
    return help.contains("  report ")
}()

/// The same report computed by `Reporter` in this process (the code `trackstar report` runs).
func reportInProcess(_ server: LiveServer, _ extra: [String]) throws -> ReportJSON {
    let config = try ConfigLoader.load(path: server.configPath).get()
    var request = ReportRequest()
    if let i = extra.firstIndex(of: "--group-by") { request.groupBy = try ReportDimension.parseList(extra[i + 1]).get() }
    let result = try Reporter.run(request, on: try Reporter.backend(config: config.export, dataDir: server.dataPath))
    let text = ReportFormat.json.render(result, request: request)
    return ReportJSON(object: try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:])
}

/// Polls `trackstar report` until its totals match `sent` or `seconds` pass; returns the last report.
/// A report that fails (the exporter has not made its tables yet) is polled again; if every one
/// failed, the last failure is thrown.
func reportWhenCaughtUp(_ server: LiveServer, _ sent: SentTraffic, seconds: Double = 60) throws -> ReportJSON {
    var last: ReportJSON?
    _ = eventually(within: seconds, every: 0.2) {
        if let answer = try? report(server) { last = answer }
        return last?.matches(sent) == true
    }
    return try last ?? report(server)
}

/// Polls the report until `done` holds or `seconds` pass (a report that fails because the exporter
/// has not made its tables yet counts as "not yet"); returns the last answer.
func reportUntil(_ server: LiveServer, _ extra: [String] = [], seconds: Double = 30,
                 _ done: (ReportJSON) -> Bool) throws -> ReportJSON {
    var last: ReportJSON?
    _ = eventually(within: seconds, every: 0.2) {
        if let answer = try? report(server, extra) { last = answer }
        return last.map(done) ?? false
    }
    return try last ?? report(server, extra)
}

/// What the logs of a stopped server's data dir hold: records written and sealed, counted from the start.
struct LogTruth: Equatable {
    var clicks: UInt64 = 0
    var conversions: UInt64 = 0
    var refusals: UInt64 = 0

    init(dataDir: String) {
        for shard in 0..<ShardLayout.existingShards(dataDir: dataDir) {
            clicks += LogTruth.count(ShardLayout.clickTable(dataDir: dataDir, shard: shard), checksumAt: 56)
            conversions += LogTruth.count(ShardLayout.conversionTable(dataDir: dataDir, shard: shard), checksumAt: 88)
            refusals += LogTruth.count(ShardLayout.refusalTable(dataDir: dataDir, shard: shard), checksumAt: 40)
        }
    }

    /// Sealed records from sequence 0 (a seal is the last store of a record; recovery cut any torn tail).
    static func count(_ table: RecordTable, checksumAt offset: Int) -> UInt64 {
        _ = try? table.mapExisting()
        var n: UInt64 = 0
        while let p = table.slot(n), p.load(fromByteOffset: offset, as: UInt64.self) != 0 { n += 1 }
        return n
    }
}


/// A stopped server's tables, opened and positioned at their sealed records, to export them again.
func openLogs(dataDir: String) -> (clicks: [RecordTable], conversions: [RecordTable], refusals: [RecordTable]) {
    func restored(_ table: RecordTable, checksumAt: Int, byteEnd: (UnsafeRawPointer) -> UInt64) -> RecordTable {
        let count = LogTruth.count(table, checksumAt: checksumAt)
        table.restore(count: count, byteEnd: count > 0 ? byteEnd(table.slot(count - 1)!) : 0)
        return table
    }
    let shards = ShardLayout.existingShards(dataDir: dataDir)
    return ((0..<shards).map { restored(ShardLayout.clickTable(dataDir: dataDir, shard: $0), checksumAt: 56) { ClickSlot.varOffset($0) + UInt64(ClickSlot.varLength($0)) } },
            (0..<shards).map { restored(ShardLayout.conversionTable(dataDir: dataDir, shard: $0), checksumAt: 88) { ConversionRecord.varOffset($0) + UInt64(ConversionRecord.varLength($0)) } },
            (0..<shards).map { restored(ShardLayout.refusalTable(dataDir: dataDir, shard: $0), checksumAt: 40) { RefusalRecord.varOffset($0) + UInt64(RefusalRecord.varLength($0)) } })
}

/// Exports a stopped server's logs into a fresh SQLite database at `path` and waits for it.
func exportToSQLite(dataDir: String, path: String) -> Bool {
    let logs = openLogs(dataDir: dataDir)
    let source = ExportSource(clicks: logs.clicks, conversions: logs.conversions, refusals: logs.refusals,
                              clickIDText: { shard, sequence, _ in "\(shard)-\(sequence)" },
                              eventName: { _, index in index == 0 ? "conversion" : index == 1 ? "upsell" : "event-\(index)" })
    let exporter = Exporter(sink: SQLiteSink(path: path), source: source, batchRows: 1000, batchAgeMillis: 10)
    exporter.start()
    _ = eventually(within: 60, every: 0.05) { exporter.status.connected && exporter.lag().allSatisfy { $0.total == 0 } }
    exporter.stop()
    return exporter.lag().allSatisfy { $0.total == 0 }
}

/// Rounds of load on `config`, each ended by kill -9 at a random acknowledged request and a restart
/// on the same data; then a clean stop, and the logs hold every acknowledged record (at most a few
/// clicks more: answered after the kill's trigger) and the report equals the logs exactly. Returns
/// the stopped server and its logs' counts.
func killNineRoundsThenTheReportEqualsTheLogs(config: String, rounds: Int) throws -> (server: LiveServer, truth: LogTruth) {
    var generator = SystemRandomNumberGenerator()
    let first = try LiveServer(config: config)
    first.ownsDataDir = false
    var server = first
    var acknowledgedClicks = 0, acknowledgedConversions = 0
    for round in 0..<rounds {
        let victim = server
        let acknowledged = Acknowledged(triggerAt: Int.random(in: 200...1500, using: &generator)) { victim.kill9() }
        DurabilityTests().load(server, clients: 4, acknowledged: acknowledged, round: round)
        acknowledgedClicks += acknowledged.snapshot.0.count
        acknowledgedConversions += acknowledged.snapshot.1.count
        let restarted = try LiveServer(config: config, dataDir: first.dataDir)
        restarted.ownsDataDir = round == rounds - 1
        server = restarted
    }
    // A clean stop writes the last batch; the logs are then the ground truth.
    server.stop()
    let truth = LogTruth(dataDir: server.dataPath)
    #expect(truth.clicks >= UInt64(acknowledgedClicks) && truth.clicks <= UInt64(acknowledgedClicks + 12), "\(truth) vs \(acknowledgedClicks)")
    #expect(truth.conversions >= UInt64(acknowledgedConversions), "\(truth) vs \(acknowledgedConversions)")
    let out = try report(server)
    #expect(out.totals["clicks"] as? Int == Int(truth.clicks), "\(out.summary) vs logs \(truth)")
    #expect(out.totals["conversions"] as? Int == Int(truth.conversions), "\(out.summary) vs logs \(truth)")
    #expect(micros(out.totals["payout"]) == Int64(truth.conversions) * 2_500_000, "\(out.summary)")
    return (server, truth)
}
