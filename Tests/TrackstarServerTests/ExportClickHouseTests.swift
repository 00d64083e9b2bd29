// The reporting feed end to end with ClickHouse (Debian's clickhouse-server, started here on loopback):
// `trackstar report` equals what was sent and equals the SQLite report of the same logs; kill -9 during
// export gives exact counts (rows written twice collapse); a stopped ClickHouse is caught up on return.
import Foundation
import Testing
import TrackstarCore
import TrackstarExport
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

@Suite("export to ClickHouse", .serialized, .enabled(if: ClickHouseServer.isInstalled, "clickhouse-server is not installed (make test installs it)"))
struct ExportClickHouseTests {
    /// A ClickHouse of the test's own (stopped and removed when the test ends).
    func clickhouse() throws -> ClickHouseServer { try ClickHouseServer() }

    /// The live-test config exporting to a database of its own.
    func config(_ ch: ClickHouseServer) -> (config: String, database: String) {
        let database = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        return (exportConfig("sink = \"clickhouse\"\nurl = \"\(ch.url)\"\ndatabase = \"\(database)\"\n"), database)
    }

    @Test func reportEqualsWhatWasSentAndTheSQLiteReportOfTheSameLogs() throws {
        let ch = try clickhouse()
        let (text, database) = config(ch)
        let server = try LiveServer(config: text)
        let sent = try sendMixedTraffic(server, tag: "ch")
        let out = try reportWhenCaughtUp(server, sent)
        #expect(out.matches(sent), "report \(out.summary) vs sent \(sent)")
        server.stop()
        #expect(try ch.query("SELECT count() FROM \(database).clicks WHERE length(click_id) = 26 AND ip = '127.0.0.1'") == "\(sent.clicks)\n")

        let sqlitePath = server.dataDir + "/compare.sqlite"
        #expect(exportToSQLite(dataDir: server.dataPath, path: sqlitePath))
        var exportConfig = ExportConfig()
        exportConfig.sink = .clickhouse
        exportConfig.url = ch.url
        exportConfig.database = database
        let clickhouseBackend = try Reporter.backend(config: exportConfig, dataDir: server.dataPath)
        let sqliteBackend = try SQLiteReportBackend(path: sqlitePath)
        let groupings: [[ReportDimension]] = [[], [.offer], [.offer, .affiliate, .day], [.sub1, .sub2, .source, .event], [.hour, .sub3]]
        for groupBy in groupings {
            let request = ReportRequest(groupBy: groupBy)
            let fromClickHouse = try Reporter.run(request, on: clickhouseBackend)
            let fromSQLite = try Reporter.run(request, on: sqliteBackend)
            #expect(fromClickHouse == fromSQLite, "group by \(groupBy): ClickHouse \(fromClickHouse) vs SQLite \(fromSQLite)")
        }
        // Days and hours in a time zone (a half-hour offset): the same on both stores.
        let kolkata = try ReportTimeZone.load("Asia/Kolkata")
        let zoned = ReportRequest(groupBy: [.day, .hour, .offer], timeZone: kolkata)
        let fromClickHouse = try Reporter.run(zoned, on: clickhouseBackend)
        #expect(fromClickHouse == (try Reporter.run(zoned, on: sqliteBackend)))
        #expect(fromClickHouse.totals == (try Reporter.run(ReportRequest(), on: sqliteBackend)).totals)
    }

    /// Rows of records that recovery cut are deleted from ClickHouse too (mutations), so the report
    /// equals the recovered logs.
    @Test func rowsOfRecordsRecoveryCutAreRemoved() throws {
        let ch = try clickhouse()
        try checkRowsOfCutRecordsAreRemoved(config(ch).config)
    }

    /// Tables created by the release before amount_currency existed get the column when the sink opens.
    @Test func tablesFromTheEarlierReleaseGetTheAmountCurrencyColumn() throws {
        let ch = try clickhouse()
        let database = "t_old_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased()
        _ = try ch.query("CREATE DATABASE \(database)")
        _ = try ch.query("""
            CREATE TABLE \(database).conversions (conversion_id UInt64, click_ref UInt64, click_id String,
              click_time_ms Int64, time DateTime('UTC'), time_ms Int64, offer_id UInt32, aff_id UInt32, sub1 String,
              sub2 String, sub3 String, sub4 String, sub5 String, aff_click_id String, source String,
              event String, event_index UInt8, status String, amount_micros Nullable(Int64), payout_micros Int64,
              revenue_micros Int64, currency String, txid String)
              ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (offer_id, aff_id, time_ms, conversion_id)
            """)
        var config = ExportConfig()
        config.sink = .clickhouse
        config.url = ch.url
        config.database = database
        let sink = try ClickHouseSink(config: config)
        _ = try sink.open()
        _ = try sink.open()  // a second open finds the column and leaves it
        #expect(try ch.query("SELECT name FROM system.columns WHERE database = '\(database)' AND table = 'conversions' "
                             + "AND name LIKE '%currency' ORDER BY name") == "amount_currency\ncurrency\n")
    }

    @Test func killNineDuringExportThenRestartGivesExactCounts() throws {
        let ch = try clickhouse()
        let (text, database) = config(ch)
        var generator = SystemRandomNumberGenerator()
        let first = try LiveServer(config: text)
        first.ownsDataDir = false
        var server = first
        var acknowledgedClicks = 0
        for round in 0..<3 {
            let victim = server
            let acknowledged = Acknowledged(triggerAt: Int.random(in: 200...1500, using: &generator)) { victim.kill9() }
            DurabilityTests().load(server, clients: 4, acknowledged: acknowledged, round: round)
            acknowledgedClicks += acknowledged.snapshot.0.count
            let restarted = try LiveServer(config: text, dataDir: first.dataDir)
            restarted.ownsDataDir = round == 2
            server = restarted
        }
        server.stop()
        let truth = LogTruth(dataDir: server.dataPath)
        #expect(truth.clicks >= UInt64(acknowledgedClicks) && truth.clicks <= UInt64(acknowledgedClicks + 12), "\(truth) vs \(acknowledgedClicks)")
        let out = try report(server)
        #expect(out.totals["clicks"] as? Int == Int(truth.clicks), "\(out.summary) vs logs \(truth)")
        #expect(out.totals["conversions"] as? Int == Int(truth.conversions), "\(out.summary) vs logs \(truth)")
        #expect(micros(out.totals["payout"]) == Int64(truth.conversions) * 2_500_000, "\(out.summary)")
        let final = try ch.query("SELECT count(), uniqExact(click_ref) FROM \(database).clicks FINAL")
        #expect(final == "\(truth.clicks)\t\(truth.clicks)\n", "\(final)")
    }

    @Test func stoppedClickHouseIsCaughtUpWhenItReturns() throws {
        let ch = try clickhouse()
        let (text, _) = config(ch)
        let server = try LiveServer(config: text)
        var sent = try sendMixedTraffic(server, tag: "up")
        #expect(try reportWhenCaughtUp(server, sent).matches(sent))
        ch.stop()
        defer { if (try? ch.query("SELECT 1")) == nil { try? ch.start() } }
        let started = Date()
        sent.add(try sendMixedTraffic(server, tag: "down"))
        #expect(Date().timeIntervalSince(started) < 10, "clicks slowed down while the sink was down")
        #expect(throws: (any Error).self) { try report(server) }
        try ch.start()
        let after = try reportWhenCaughtUp(server, sent)
        #expect(after.matches(sent), "report \(after.summary) vs sent \(sent)")
    }
}
