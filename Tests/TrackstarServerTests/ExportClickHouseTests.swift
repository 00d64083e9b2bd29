// The reporting feed end to end with ClickHouse (Debian's clickhouse-server, started here on loopback):
// `trackstar report` equals what was sent and equals the SQLite report of the same logs; kill -9 during
// export gives exact counts (rows written twice collapse), with one exporter thread or two; a stopped
// ClickHouse is caught up on return; rows sent ahead of their positions go when recovery cuts them.
import Foundation
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
        var generator = SystemRandomNumberGenerator()
        let first = try LiveServer(config: text)
        first.ownsDataDir = false
        var server = first
        var acknowledgedClicks = 0
        for round in 0..<rounds {
            let victim = server
            let acknowledged = Acknowledged(triggerAt: Int.random(in: 200...1500, using: &generator)) { victim.kill9() }
            DurabilityTests().load(server, clients: 4, acknowledged: acknowledged, round: round)
            acknowledgedClicks += acknowledged.snapshot.0.count
            let restarted = try LiveServer(config: text, dataDir: first.dataDir)
            restarted.ownsDataDir = round == rounds - 1
            server = restarted
        }
        server.stop()
        let truth = LogTruth(dataDir: server.dataPath)
        #expect(truth.clicks >= UInt64(acknowledgedClicks) && truth.clicks <= UInt64(acknowledgedClicks + 12), "\(truth) vs \(acknowledgedClicks)")
        let out = try report(server)
        #expect(out.totals["clicks"] as? Int == Int(truth.clicks), "\(out.summary) vs logs \(truth)")
        #expect(out.totals["conversions"] as? Int == Int(truth.conversions), "\(out.summary) vs logs \(truth)")
        #expect(micros(out.totals["payout"]) == Int64(truth.conversions) * 2_500_000, "\(out.summary)")
        // The roll-ups survived the kill -9s exactly once too: they answer, and as the raw rows do.
        var exportConfig = ExportConfig()
        exportConfig.sink = .clickhouse
        exportConfig.url = ch.url
        exportConfig.database = database
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
        let (exportText, database) = config(ch)
        let text = exportText + "\n[storage]\nsnapshot_interval = \"1h\"\n"  // no manifest vouches for the tail
        let first = try LiveServer(config: text, loops: 1)
        first.ownsDataDir = false
        let c = try first.connect()
        for i in 0..<10 { #expect(try c.get("/click?offer_id=1&aff_id=7&sub1=old\(i)").status == 302) }
        #expect(try reportUntil(first) { $0.totals["clicks"] as? Int == 10 }.totals["clicks"] as? Int == 10)
        first.kill9()
        #expect(try ch.query("SELECT max(records) FROM \(database).export_positions WHERE shard = 0 AND log = 'sent_clicks'") == "10\n")
        // Rows 5…9 are in the table, their positions never committed: the position says 5.
        _ = try ch.query("ALTER TABLE \(database).export_positions DELETE WHERE shard = 0 AND log = 'clicks'")
        #expect(eventually(within: 60) {
            (try? ch.query("SELECT count() FROM system.mutations WHERE database = '\(database)' AND is_done = 0")) == "0\n"
        })
        _ = try ch.query("INSERT INTO \(database).export_positions VALUES (0, 'clicks', 5, 0, now())")
        let segment = first.dataPath + "/shard-0/clicks-000000.rec"
        let handle = try #require(FileHandle(forUpdatingAtPath: segment))
        try handle.seek(toOffset: 7 * 64)
        try handle.write(contentsOf: Data(count: 3 * 64))  // records 7, 8 and 9 never reached the disk
        try handle.close()

        let restarted = try LiveServer(config: text, loops: 1, dataDir: first.dataDir)
        #expect(restarted.startupOutput.contains("shard 0: 7 clicks"), "\(restarted.startupOutput)")
        let cut = try reportUntil(restarted) { $0.totals["clicks"] as? Int == 7 }
        #expect(cut.totals["clicks"] as? Int == 7, "rows sent past the cut stayed: \(cut.summary)")
        let d = try restarted.connect()
        for i in 0..<2 { #expect(try d.get("/click?offer_id=1&aff_id=7&sub1=new\(i)").status == 302) }
        let after = try reportUntil(restarted, ["--group-by", "sub1"]) { $0.totals["clicks"] as? Int == 9 }
        #expect(Set(after.rows.compactMap { $0["sub1"] as? String }) == Set((0..<7).map { "old\($0)" } + ["new0", "new1"]), "\(after.rows)")
        restarted.stop()
        #expect(restarted.stderrText.contains("may hold rows of shard 0 clicks up to record 10"), "\(restarted.stderrText)")
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
        var fresh = ExportConfig()
        fresh.sink = .clickhouse
        fresh.url = ch.url
        fresh.database = database + "_new"
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
