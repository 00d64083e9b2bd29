// The reporting feed end to end with ClickHouse (Debian's clickhouse-server, started here on loopback):
// `trackstar report` equals what was sent and equals the SQLite report of the same logs; kill -9 during
// export gives exact counts (rows written twice collapse), with one exporter thread or two; a stopped
// ClickHouse is caught up on return; rows sent ahead of their positions go when recovery cuts them.
import Foundation
import ClickHouseTestSupport
import Testing
import TrackstarCore
import TrackstarExport
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

@Suite("export to ClickHouse", .serialized, .enabled(if: ClickHouseServer.isInstalled, "clickhouse-server is not installed (make test installs it)"))
struct ExportClickHouseTests {
    /// A ClickHouse of the test's own (stopped and removed when the test ends).
    func clickhouse() throws -> ClickHouseServer { try ClickHouseServer() }

    /// The `[export]` settings of `database` on `ch`, for the test's own sinks and report backends.
    func settings(_ ch: ClickHouseServer, _ database: String) -> ExportConfig {
        var settings = ExportConfig()
        settings.sink = .clickhouse
        settings.url = ch.url
        settings.database = database
        return settings
    }

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
        let exportConfig = settings(ch, database)
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
        let config = settings(ch, database)
        let sink = try ClickHouseSink(config: config)
        _ = try sink.open()
        _ = try sink.open()  // a second open finds the column and leaves it
        #expect(try ch.query("SELECT name FROM system.columns WHERE database = '\(database)' AND table = 'conversions' "
                             + "AND name LIKE '%currency' ORDER BY name") == "amount_currency\ncurrency\n")
    }

    @Test func killNineDuringExportThenRestartGivesExactCounts() throws {
        try killNineRounds(extra: "", rounds: 3)
    }

    /// Two exporter threads (one per shard) into one database: kill -9 under load, restarts, exact counts.
    @Test func twoExportersKillNineThenRestartGiveExactCounts() throws {
        let stderr = try killNineRounds(extra: "exporters = 2\n", rounds: 2)
        #expect(stderr.contains("2 exporter threads, each writing its own shards"), "\(stderr)")
    }

    /// Rounds of load, each ended by kill -9 and a restart on the same data; then the report, the
    /// logs and the table agree exactly. Returns the last server's standard error.
    @discardableResult
    func killNineRounds(extra: String, rounds: Int) throws -> String {
        let ch = try clickhouse()
        var (text, database) = config(ch)
        text += extra
        let (server, truth) = try killNineRoundsThenTheReportEqualsTheLogs(config: text, rounds: rounds)
        // The roll-ups survived the kill -9s exactly once too: they answer, and as the raw rows do.
        let exportConfig = settings(ch, database)
        let backend = try Reporter.backend(config: exportConfig, dataDir: server.dataPath)
        #expect(backend.hasRollups)
        var raw = ReportRequest(groupBy: [.offer, .day])
        raw.useRollups = false
        #expect(try Reporter.run(ReportRequest(groupBy: [.offer, .day]), on: backend) == (try Reporter.run(raw, on: backend)))
        let final = try ch.query("SELECT count(), uniqExact(click_ref) FROM \(database).clicks FINAL")
        #expect(final == "\(truth.clicks)\t\(truth.clicks)\n", "\(final)")
        return server.stderrText
    }

    /// The gap of issue 19: rows inserted but their positions not (a crash between the two), then
    /// the log cut by recovery below those rows but above the committed position. The sent mark
    /// written before the rows shows where they may be, so they are retracted at the next start.
    @Test func rowsSentAheadOfTheirPositionsAreRemovedWhenRecoveryCutsBelowThem() throws {
        let ch = try clickhouse()
        let (text, database) = config(ch)
        try checkRowsOfCutRecordsAreRemoved(text, logSays: "may hold rows of shard 0 clicks up to record 10") {
            #expect(try ch.query("SELECT max(records) FROM \(database).export_positions WHERE shard = 0 AND log = 'sent_clicks'") == "10\n")
            // Rows 5…9 are in the table, their positions never committed: the position says 5.
            _ = try ch.query("ALTER TABLE \(database).export_positions DELETE WHERE shard = 0 AND log = 'clicks'")
            #expect(eventually(within: 60) {
                (try? ch.query("SELECT count() FROM system.mutations WHERE database = '\(database)' AND is_done = 0")) == "0\n"
            })
            _ = try ch.query("INSERT INTO \(database).export_positions VALUES (0, 'clicks', 5, 0, now())")
        }
    }

    /// A store made by an earlier release (a clicks table without the enrichment and trafficback
    /// columns) is migrated when the sink opens: it ends with the columns a new store has, in the
    /// same order, and takes the export.
    @Test func anEarlierReleasesClicksTableGetsTheNewColumnsAndKeepsWorking() throws {
        let ch = try clickhouse()
        let (text, database) = config(ch)
        _ = try ch.query("CREATE DATABASE \(database)")
        _ = try ch.query("""
            CREATE TABLE \(database).clicks (click_ref UInt64, click_id String, time DateTime('UTC'), time_ms Int64,
              offer_id UInt32, aff_id UInt32, sub1 String, sub2 String, sub3 String, sub4 String, sub5 String, aff_click_id String,
              source String, ip String, user_agent String)
              ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (offer_id, aff_id, time_ms, click_ref)
            """)
        let server = try LiveServer(config: text)
        let sent = try sendMixedTraffic(server, tag: "old")
        #expect(try reportWhenCaughtUp(server, sent).matches(sent))
        server.stop()
        let fresh = settings(ch, database + "_new")
        _ = try ClickHouseSink(config: fresh).open()
        func columns(_ db: String) throws -> String {
            try ch.query("SELECT name, type FROM system.columns WHERE database = '\(db)' AND table = 'clicks' FORMAT TabSeparated")
        }
        #expect(try columns(database) == (try columns(fresh.database)))
        #expect(try columns(database).contains("bot_reason\tString"))
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
