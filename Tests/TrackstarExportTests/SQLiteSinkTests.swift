// The SQLite sink and the report over it: rows land with every column a report needs, positions
// commit in the same transaction, a reopened database resumes, and `Reporter` sums what was written.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration

/// A fresh temporary directory.
func temporaryDirectory() -> String {
    var template = Array("/tmp/trackstar-export-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(decoding: UnsafeRawBufferPointer(start: mkdtemp($0.baseAddress!), count: 28), as: UTF8.self) }
}

func removeDirectory(_ path: String) {
    for entry in SegmentDirectory.entries(path) { unlink(path + "/" + entry) }
    rmdir(path)
}

@Suite struct SQLiteSinkTests {
    /// Exports `logs` to a database in `dir` with a real exporter and stops it.
    func export(_ logs: TestLogs, to dir: String, batchRows: Int = 4) {
        let exporter = Exporter(sink: SQLiteSink(path: SQLiteSink.path(dataDir: dir)), source: logs.source(),
                                batchRows: batchRows, batchAgeMillis: 10)
        exporter.start()
        #expect(eventually(within: 20) { exporter.lag().allSatisfy { $0.total == 0 } && exporter.status.connected })
        exporter.stop()
    }

    /// Transitions update their conversion's row by version whatever order they are exported in: here
    /// both are in shard 0's log, before the conversion in shard 1's, and every batch is one record.
    @Test func transitionsUpdateTheirConversionInAnyOrder() throws {
        let logs = TestLogs(shards: 2)
        let ref = logs.click(shard: 1, offer: 1, aff: 7, time: 1_767_225_600_000, subs: ["", "", "", "", "", "", "", ""])
        logs.conversion(shard: 1, clickRef: ref, status: .pending, txid: "t-1")
        let conversionID = (UInt64(1) << 40 | 0) + 1
        logs.transition(shard: 0, conversionID: conversionID, previous: .approved, to: ConversionState(status: .rejected, version: 2))
        logs.transition(shard: 0, conversionID: conversionID, previous: .pending, to: ConversionState(status: .approved, version: 1),
                        amount: 7_000_000)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        export(logs, to: dir, batchRows: 1)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT status, version, amount_micros, amount_currency, payout_micros FROM conversions")
                == [["rejected", "2", "7000000", "EUR", "2500000"]])
        #expect(try db.rows("SELECT transition_id, conversion_id, previous_status, status, version, amount_micros, actor, detail "
                            + "FROM conversion_transitions ORDER BY version")
                == [["2", "\(conversionID)", "pending", "approved", "1", "7000000", "postback", "127.0.0.1"],
                    ["1", "\(conversionID)", "approved", "rejected", "2", nil, "postback", "127.0.0.1"]])
        let report = try Reporter.run(ReportRequest(), on: try Reporter.backend(config: ExportConfig(), dataDir: dir))
        #expect(report.totals.money.first?.rejectedPayout == 2_500_000 && report.totals.payout == 0 && report.totals.conversions == 0)
    }

    /// A report.sqlite created by the release before amount_currency existed gets the column.
    @Test func aStoreFromTheEarlierReleaseGetsTheAmountCurrencyColumn() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        do {
            let old = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
            try old.execute("""
                CREATE TABLE conversions (
                  conversion_id INTEGER PRIMARY KEY, click_ref INTEGER NOT NULL, click_id TEXT NOT NULL,
                  click_time_ms INTEGER NOT NULL, time_ms INTEGER NOT NULL, offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL,
                  sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL, sub5 TEXT NOT NULL,
                  aff_click_id TEXT NOT NULL, source TEXT NOT NULL, event TEXT NOT NULL, event_index INTEGER NOT NULL,
                  status TEXT NOT NULL, amount_micros INTEGER, payout_micros INTEGER NOT NULL, revenue_micros INTEGER NOT NULL,
                  currency TEXT NOT NULL, txid TEXT NOT NULL);
                INSERT INTO conversions VALUES (99, 0, '', 0, 0, 1, 7, '', '', '', '', '', '', '', 'conversion', 0, 'approved',
                  NULL, 2500000, 4000000, 'JPY', 'old');
                CREATE INDEX conversions_click ON conversions (click_ref);
                """)
        }
        let logs = TestLogs(shards: 1)
        let ref = logs.click(shard: 0, offer: 1, aff: 7, subs: ["", "", "", "", "", "", "", ""])
        logs.conversion(shard: 0, clickRef: ref, payoutCurrency: 0x52_5545)
        export(logs, to: dir)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT conversion_id, currency, amount_currency FROM conversions ORDER BY conversion_id")
                == [["1", "EUR", ""], ["99", "JPY", ""]])
        // The earlier release's index on click_ref (no query reads it) is dropped; the time index stays.
        #expect(try db.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'conversions' ORDER BY name")
                == [["conversions_time"]])
    }

    @Test func writesEveryColumnAndCommitsPositionsWithTheRows() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let logs = TestLogs(shards: 2)
        let ref = logs.click(shard: 1, offer: 3, aff: 9, subs: ["spring", "b", "", "", "e5", "their-id", "news", "Mozilla/5.0"])
        logs.conversion(shard: 0, clickRef: ref, offer: 3, aff: 9, event: 1, status: .pending, payout: 1_000_000, revenue: 2_500_000, txid: "order-7")
        logs.refusal(shard: 1, reason: .expired, status: 410, params: "click_id=ABC&txid=9")
        export(logs, to: dir)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        let click = try db.rows("SELECT click_ref, click_id, offer_id, aff_id, sub1, sub2, sub3, sub5, aff_click_id, source, ip, user_agent FROM clicks")
        #expect(click == [["\(1 << 40)", "C1-0", "3", "9", "spring", "b", "", "e5", "their-id", "news", "127.0.0.1", "Mozilla/5.0"]])
        let conversion = try db.rows("""
            SELECT conversion_id, click_ref, click_id, offer_id, sub1, source, event, event_index, status, amount_micros,
              payout_micros, revenue_micros, currency, txid FROM conversions
            """)
        #expect(conversion == [["1", "\(1 << 40)", "C1-0", "3", "spring", "news", "upsell", "1", "pending", nil, "1000000", "2500000", "USD", "order-7"]])
        let refusal = try db.rows("SELECT refusal_ref, reason, http_status, params FROM refusals")
        #expect(refusal == [["\(1 << 40)", "expired", "410", "click_id=ABC&txid=9"]])
        let positions = try db.rows("SELECT shard, log, records FROM export_positions ORDER BY shard, log")
        #expect(positions == [["0", "clicks", "0"], ["0", "conversions", "1"], ["0", "refusals", "0"],
                              ["1", "clicks", "1"], ["1", "conversions", "0"], ["1", "refusals", "1"]])
        #expect(try db.rows("PRAGMA journal_mode") == [["delete"]])  // not WAL: the sink's connection uses TRUNCATE
    }

    @Test func aSecondExporterOnTheSameDatabaseAddsOnlyNewRows() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let logs = TestLogs(shards: 2)
        for i in 0..<30 { logs.click(shard: i % 2) }
        export(logs, to: dir, batchRows: 7)
        for i in 0..<11 { logs.click(shard: i % 2) }
        export(logs, to: dir, batchRows: 7)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT count(*), count(DISTINCT click_ref) FROM clicks") == [["41", "41"]])
    }

    /// Logs cut after export (as recovery cuts an unsynced tail after a machine crash): the rows of
    /// the cut records go, in every table, and new records reusing the sequence numbers are written.
    @Test func rowsPastACutLogAreRemovedAndTheirSequencesReused() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        func fill(_ logs: TestLogs, clicks: Int, tag: String) {
            for i in 0..<clicks {
                let ref = logs.click(shard: i % 2, subs: ["\(tag)\(i)", "", "", "", "", "", "", ""])
                if i % 3 == 0 { logs.conversion(shard: i % 2, clickRef: ref, txid: "\(tag)\(i)") }
                if i % 4 == 0 { logs.refusal(shard: i % 2) }
            }
        }
        let before = TestLogs(shards: 2)
        fill(before, clicks: 12, tag: "a")
        export(before, to: dir)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT count(*) FROM clicks") == [["12"]])

        // The same first 4 records per log survive the crash (records 0..<8 of the fill, both shards).
        let after = TestLogs(shards: 2)
        fill(after, clicks: 8, tag: "a")
        let messages = Messages()
        let exporter = Exporter(sink: SQLiteSink(path: SQLiteSink.path(dataDir: dir)), source: after.source(),
                                batchRows: 4, batchAgeMillis: 10, log: { messages.add($0) })
        exporter.start()
        #expect(eventually(within: 20) { exporter.status.connected && exporter.lag().allSatisfy { $0.total == 0 } })
        #expect(try db.rows("SELECT count(*) FROM clicks") == [["8"]])
        #expect(try db.rows("SELECT count(*) FROM conversions") == [["3"]])
        #expect(try db.rows("SELECT count(*) FROM refusals") == [["2"]])
        #expect(try db.rows("SELECT shard, records FROM export_positions WHERE log = 'clicks' ORDER BY shard") == [["0", "4"], ["1", "4"]])
        for i in 0..<2 { after.click(shard: i, subs: ["b\(i)", "", "", "", "", "", "", ""]) }
        #expect(eventually(within: 20) { exporter.lag().allSatisfy { $0.total == 0 } })
        exporter.stop()
        #expect(try db.rows("SELECT click_ref, sub1 FROM clicks WHERE click_ref IN (4, \(1 << 40 | 4)) ORDER BY click_ref")
                == [["4", "b0"], ["\(1 << 40 | 4)", "b1"]])
        #expect(messages.all.contains { $0.contains("holds shard 0 clicks up to record 6, but the log has only 4") }, "\(messages.all)")
    }

    @Test func inspectionShowsWhatIsNotYetExported() {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let logs = TestLogs(shards: 2)
        #expect(ExportInspection.lines(dataDir: dir, clicks: logs.clicks, conversions: logs.conversions, refusals: logs.refusals)
                == ["export: no \(dir)/report.sqlite (export has not run, or it goes elsewhere)"])
        for i in 0..<5 { logs.click(shard: i % 2) }
        export(logs, to: dir)
        logs.click(shard: 1, time: WallClock.nowMillis() - 90_000)
        logs.refusal(shard: 1, time: WallClock.nowMillis())
        let lines = ExportInspection.lines(dataDir: dir, clicks: logs.clicks, conversions: logs.conversions, refusals: logs.refusals)
        let head = "export to SQLite \(dir)/report.sqlite: 2 records not yet exported; the oldest is "
        #expect(lines.first?.hasPrefix(head) == true, "\(lines)")
        let age = lines.first.flatMap { Int($0.dropFirst(head.count).prefix { $0 != " " }) }
        #expect(age.map { (90...150).contains($0) } == true, "the click waits since 90 s ago: \(lines)")
        #expect(Array(lines.dropFirst()) == ["  shard 0: exported 3 clicks, 0 conversions, 0 refusals; not yet: 0, 0, 0",
                                             "  shard 1: exported 2 clicks, 0 conversions, 0 refusals; not yet: 1, 0, 1"], "\(lines)")
    }

    @Test func aLockedDatabaseIsRetriedUntilItIsFree() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let logs = TestLogs(shards: 1)
        logs.click(shard: 0)
        export(logs, to: dir)
        let other = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        try other.execute("BEGIN IMMEDIATE")  // another writer holds the database
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 10, batchAgeMillis: 10)
        exporter.minBackoffMillis = 10
        exporter.start()
        for _ in 0..<5 { logs.click(shard: 0) }
        #expect(eventually(within: 30) { exporter.status.consecutiveFailures >= 1 })
        #expect(exporter.status.lastError?.contains("locked") == true, "\(exporter.status)")
        try other.execute("COMMIT")
        #expect(eventually(within: 30) { exporter.lag()[0].total == 0 })
        exporter.stop()
        #expect(try other.rows("SELECT count(*) FROM clicks") == [["6"]])
    }
}

@Suite struct ReportTests {
    /// Offer 1 (aff 7): 4 clicks on day 1, 2 conversions (one rejected, its 2.50 payout at stake counted
    /// apart); offer 2 (aff 8): 2 clicks on day 2, 1 upsell; refusals: 2 bad_token, 1 expired.
    func logs() -> TestLogs {
        let logs = TestLogs(shards: 2)
        let day1: Int64 = 1_767_225_600_000, day2 = day1 + CivilTime.dayMillis
        var refs: [UInt64] = []
        for i in 0..<4 { refs.append(logs.click(shard: i % 2, offer: 1, aff: 7, time: day1 + Int64(i) * 1000, subs: ["a", "", "", "", "", "", "mail", ""])) }
        for i in 0..<2 { refs.append(logs.click(shard: i % 2, offer: 2, aff: 8, time: day2 + 5000, subs: ["b", "", "", "", "", "", "", ""])) }
        logs.conversion(shard: 0, clickRef: refs[0], offer: 1, aff: 7, time: day1 + 60_000)
        logs.conversion(shard: 1, clickRef: refs[1], offer: 1, aff: 7, status: .rejected, payout: 2_500_000, revenue: 4_000_000, time: day1 + 60_000)
        logs.conversion(shard: 1, clickRef: refs[4], offer: 2, aff: 8, event: 1, payout: 1_000_000, revenue: 3_000_000, time: day2 + 60_000)
        logs.refusal(shard: 0, reason: .badToken, time: day1)
        logs.refusal(shard: 1, reason: .badToken, time: day2)
        logs.refusal(shard: 1, reason: .expired, status: 410, time: day2)
        return logs
    }

    func sqliteResult(_ request: ReportRequest) throws -> ReportResult {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs(), to: dir)
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        return try Reporter.run(request, on: backend)
    }

    @Test func totalsWithoutGrouping() throws {
        let result = try sqliteResult(ReportRequest())
        #expect(result.totals.clicks == 6)
        #expect(result.totals.conversions == 2)
        #expect(result.totals.payout == 3_500_000)
        #expect(result.totals.revenue == 7_000_000)
        #expect(result.totals.profit == 3_500_000)
        #expect(result.totals.epc == 1_166_667)
        #expect(result.refusals.map { "\($0.reason)=\($0.count)" } == ["bad_token=2", "expired=1"])
    }

    @Test func groupsByOfferAndDayAndFiltersByTime() throws {
        let result = try sqliteResult(ReportRequest(groupBy: [.offer, .day]))
        #expect(result.rows.map { $0.key } == [[.number(1), .number(20454)], [.number(2), .number(20455)]])
        #expect(result.rows.map { [$0.clicks, $0.conversions, $0.payout] } == [[4, 1, 2_500_000], [2, 1, 1_000_000]])
        #expect(result.refusals.map { $0.key } == [[.number(0), .number(20454)], [.number(0), .number(20455)], [.number(0), .number(20455)]]
                || result.refusals.allSatisfy { $0.key.count == 2 })
        let day2 = try sqliteResult(ReportRequest(fromMillis: 20455 * CivilTime.dayMillis, groupBy: [.source, .event]))
        #expect(day2.rows.map { $0.key } == [[.text(""), .text("")], [.text(""), .text("upsell")]])
        #expect(day2.totals.clicks == 2 && day2.totals.conversions == 1)
        #expect(day2.refusals.count == 2)
    }

    @Test func rendersTableCSVAndJSON() throws {
        let request = ReportRequest(groupBy: [.offer])
        let result = try sqliteResult(request)
        let table = ReportFormat.table.render(result, request: request)
        #expect(table == """
            offer  clicks  unique  bots  conversions    CR%  currency  payout  revenue  profit       EPC  pending payout  pending revenue  rejected payout  rejected revenue
            1           4       0     0            1  25.00       USD    2.50     4.00    1.50      1.00            0.00             0.00             2.50              4.00
            2           2       0     0            1  50.00       USD    1.00     3.00    2.00      1.50            0.00             0.00             0.00              0.00
            TOTAL       6       0     0            2  33.33       USD    3.50     7.00    3.50  1.166667            0.00             0.00             2.50              4.00

            refusals by reason
            offer  reason     count
            1      bad_token      2
            1      expired        1

            """, "\(table)")
        let csv = ReportFormat.csv.render(result, request: request)
        #expect(csv.hasPrefix("offer,clicks,unique_clicks,bot_clicks,conversions,conversion_rate,currency,payout,revenue,profit,epc,pending_payout,pending_revenue,"
                              + "rejected_payout,rejected_revenue\n1,4,0,0,1,25.00,USD,2.50,4.00,1.50,1.00,0.00,0.00,2.50,4.00\n"), "\(csv)")
        let json = ReportFormat.json.render(result, request: request)
        #expect(json.contains("\"rejected_payout\":2.50,\"rejected_revenue\":4.00,\"currencies\""), "\(json)")
        #expect(json.contains("{\"offer\":1,\"clicks\":4,\"unique_clicks\":0,\"bot_clicks\":0,\"conversions\":1,\"conversion_rate\":25.00,\"currency\":\"USD\",\"payout\":2.50"), "\(json)")
        #expect(json.contains("\"refusals\":[{\"offer\":1,\"reason\":\"bad_token\",\"count\":2}"), "\(json)")
    }

    /// Offer 2's conversion paid in EUR: totals keep USD and EUR apart, in every format.
    @Test func moneyInTwoCurrenciesIsNeverAdded() throws {
        let logs = TestLogs(shards: 1)
        let a = logs.click(shard: 0, offer: 1, aff: 7, time: 1_767_225_600_000, subs: ["", "", "", "", "", "", "", ""])
        let b = logs.click(shard: 0, offer: 2, aff: 7, time: 1_767_225_600_000, subs: ["", "", "", "", "", "", "", ""])
        logs.conversion(shard: 0, clickRef: a, offer: 1)                                              // 2.50 USD (stored currency)
        logs.conversion(shard: 0, clickRef: b, offer: 2, payout: 1_000_000, revenue: 3_000_000, payoutCurrency: 0x52_5545)  // EUR
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir)
        let result = try Reporter.run(ReportRequest(), on: try Reporter.backend(config: ExportConfig(), dataDir: dir))
        #expect(result.totals.conversions == 2)
        #expect(result.totals.payout == nil && result.totals.revenue == nil && result.totals.epc == nil)
        #expect(result.totals.money.map(\.currency) == ["EUR", "USD"])
        #expect(result.totals.money.map(\.payout) == [1_000_000, 2_500_000])
        let table = ReportFormat.table.render(result, request: ReportRequest())
        #expect(table.hasPrefix("""
            clicks  unique  bots  conversions    CR%  currency  payout  revenue  profit   EPC  pending payout  pending revenue  rejected payout  rejected revenue
                 2       0     0            1  50.00       EUR    1.00     3.00    2.00  1.50            0.00             0.00             0.00              0.00
                                            1  50.00       USD    2.50     4.00    1.50  2.00            0.00             0.00             0.00              0.00
            """), "\(table)")
        let csv = ReportFormat.csv.render(result, request: ReportRequest())
        #expect(csv.hasPrefix("clicks,unique_clicks,bot_clicks,conversions,conversion_rate,currency,payout,revenue,profit,epc,pending_payout,pending_revenue,rejected_payout,"
                              + "rejected_revenue\n2,0,0,1,50.00,EUR,1.00,3.00,2.00,1.50,0.00,0.00,0.00,0.00\n,,,1,50.00,USD,2.50,4.00,1.50,2.00,0.00,0.00,0.00,0.00\n"),
                "\(csv)")
        let json = ReportFormat.json.render(result, request: ReportRequest())
        #expect(json.contains("\"totals\":{\"clicks\":2,\"unique_clicks\":0,\"bot_clicks\":0,\"conversions\":2,\"conversion_rate\":100.00,\"currency\":null,\"payout\":null"), "\(json)")
    }

    @Test func missingDatabaseSaysHowItIsCreated() {
        #expect(throws: ExportError.self) { try Reporter.backend(config: ExportConfig(), dataDir: "/nonexistent/trackstar") }
        do { _ = try Reporter.backend(config: ExportConfig(), dataDir: "/nonexistent") } catch {
            #expect(error.description.contains("created when `trackstar serve` runs"))
        }
    }
}

@Suite struct ReportTextTests {
    @Test func money() {
        #expect(ReportText.money(2_500_000) == "2.50")
        #expect(ReportText.money(1_234_567) == "1.234567")
        #expect(ReportText.money(0) == "0.00")
        #expect(ReportText.money(-500_000) == "-0.50")
    }

    @Test func datesAndHours() {
        #expect(CivilTime.dayText(0) == "1970-01-01")
        #expect(CivilTime.dayText(20454) == "2026-01-01")
        #expect(CivilTime.hourText(20454 * 24 + 13) == "2026-01-01 13:00")
        #expect(CivilTime.parse("2026-01-01")! == (20454 * CivilTime.dayMillis, true))
        #expect(CivilTime.parse("2026-01-01 13:30")! == (20454 * CivilTime.dayMillis + 13 * 3_600_000 + 30 * 60_000, false))
        #expect(CivilTime.parse("2024-02-29T00:00:01Z")!.millis == CivilTime.days(year: 2024, month: 2, day: 29) * CivilTime.dayMillis + 1000)
        #expect(CivilTime.parse("2025-02-29") == nil)
        #expect(CivilTime.parse("yesterday") == nil)
    }

    @Test func groupByListAndAliases() throws {
        #expect(try ReportDimension.parseList("offer, aff_id,sub3,day").get() == [.offer, .affiliate, .sub3, .day])
        guard case .failure(let error) = ReportDimension.parseList("offer,planet") else { Issue.record("accepted planet"); return }
        #expect(error.description.contains("unknown column \"planet\""))
        #expect(try ReportDimension.parseList("country,asn,device,os,browser").get() == [.country, .asn, .device, .os, .browser])
    }

    @Test func tabSeparatedUnescapes() {
        #expect(TabSeparated.unescape("a\\tb\\nc\\\\d") == "a\tb\nc\\d")
        #expect(TabSeparated.unescape("\\N") == nil)
    }
}
