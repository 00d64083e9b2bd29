// `trackstar report` output is safe and unambiguous: CSV text cells cannot become spreadsheet
// formulas, the table tells an empty value from a literal "-" and keeps each row on one line, an
// empty --from/--to range is refused naming both, and --tz groups days and hours in a zone.
import Testing
import TrackstarCore
import TrackstarExport
@testable import TrackstarExport
import TrackstarConfiguration

@Suite struct ReportSafetyTests {
    func result(_ subs: [String], profitNegative: Bool = false) -> ReportResult {
        let rows = subs.enumerated().map { i, sub -> ReportRow in
            var row = ReportRow(key: [.number(Int64(i + 1)), .text(sub)])
            row.clicks = 1
            if profitNegative {
                var money = CurrencyFigures(currency: "USD")
                money.payout = 1_500_000
                row.add(money)
            }
            return row
        }
        var totals = ReportRow(key: [])
        for row in rows { totals.add(row) }
        return ReportResult(groupBy: [.offer, .sub1], rows: rows, totals: totals, refusalGroupBy: [.offer], refusals: [])
    }

    @Test func csvTextCellsCannotBecomeFormulas() {
        let hostile = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "-"]
        let csv = ReportFormat.csv.render(result(hostile, profitNegative: true), request: ReportRequest())
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[1].hasPrefix("1,\"'=HYPERLINK(\"\"http://x\"\")\",1,"), "\(lines[1])")
        #expect(lines[2].hasPrefix("2,'+1,1,"))
        #expect(lines[3].hasPrefix("3,'-2,1,"))
        #expect(lines[4].hasPrefix("4,'@SUM(A1),1,"))
        #expect(lines[5].hasPrefix("5,'\tx,1,"))
        #expect(lines[6].hasPrefix("6,\"'\rx\",1,"))
        #expect(lines[7].hasPrefix("7,plain,1,"))
        #expect(lines[8].hasPrefix("8,'-,1,"))
        // Our own figures stay numbers: a negative profit is not prefixed.
        #expect(lines[1].contains(",-1.50,"), "\(lines[1])")
    }

    @Test func tableTellsEmptyFromADashAndKeepsRowsOnOneLine() {
        let table = ReportFormat.table.render(result(["", "-", "two\nlines", " padded", "\"quoted"]), request: ReportRequest())
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines[1].hasPrefix("1      \"\" "), "\(table)")
        #expect(lines[2].hasPrefix("2      -  "), "\(table)")
        #expect(lines[3].hasPrefix("3      \"two\\u000Alines\""), "\(table)")
        #expect(lines[4].hasPrefix("4      \" padded\""), "\(table)")
        #expect(lines[5].hasPrefix("5      \"\\\"quoted\""), "\(table)")
        #expect(lines[6].hasPrefix("TOTAL"), "\(table)")
    }

    @Test func fromAfterToIsAnErrorNamingBoth() throws {
        guard case .failure(let error) = ReportRequest.range(from: "2026-02-01", to: "2026-01-01", timeZone: nil) else {
            Issue.record("accepted --from after --to"); return
        }
        #expect(error.description.contains("--from 2026-02-01") && error.description.contains("--to 2026-01-01"), "\(error)")
        #expect((try? ReportRequest.range(from: "2026-01-01 10:00", to: "2026-01-01 10:00", timeZone: nil).get()) == nil)
        let day = try ReportRequest.range(from: "2026-01-01", to: "2026-01-01", timeZone: nil).get()
        #expect(day.from == 20454 * CivilTime.dayMillis && day.to == 20455 * CivilTime.dayMillis)
    }

    @Test func timeZonesComeFromTheSystemDatabase() throws {
        let berlin = try ReportTimeZone.load("Europe/Berlin")
        let winter = 20454 * CivilTime.dayMillis  // 2026-01-01 00:00 UTC
        #expect(berlin.offsetMillis(atUTC: winter) == 3_600_000)
        let summer = CivilTime.days(year: 2026, month: 7, day: 1) * CivilTime.dayMillis
        #expect(berlin.offsetMillis(atUTC: summer) == 7_200_000)
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST at 01:00 UTC.
        let change = CivilTime.days(year: 2026, month: 3, day: 29) * CivilTime.dayMillis + 3_600_000
        #expect(berlin.offsetMillis(atUTC: change - 1) == 3_600_000 && berlin.offsetMillis(atUTC: change) == 7_200_000)
        #expect(berlin.utcMillis(fromLocal: winter) == winter - 3_600_000)
        #expect(try ReportTimeZone.load("Asia/Kathmandu").offsetMillis(atUTC: winter) == 20_700_000)  // +05:45
        #expect(try ReportTimeZone.load("UTC").offsetMillis(atUTC: winter) == 0)
        for bad in ["Mars/Olympus", "../etc/passwd", "/etc/passwd", ""] {
            #expect(throws: ExportError.self) { try ReportTimeZone.load(bad) }
        }
        #expect(throws: ExportError.self) { try ReportTimeZone.parse(name: "x", Array("TZif2 but short".utf8)) }
    }

    @Test func daysAndHoursInAZoneFromSQLite() throws {
        let logs = TestLogs(shards: 1)
        let day = 20454 * CivilTime.dayMillis  // 2026-01-01 00:00 UTC
        // 18:20 UTC is 23:50 in Kolkata (+05:30) on Jan 1; 18:40 UTC is 00:10 on Jan 2.
        logs.click(shard: 0, time: day + 18 * 3_600_000 + 20 * 60_000)
        logs.click(shard: 0, time: day + 18 * 3_600_000 + 40 * 60_000)
        logs.click(shard: 0, time: day + 18 * 3_600_000 + 50 * 60_000)
        logs.refusal(shard: 0, time: day + 18 * 3_600_000 + 45 * 60_000)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir)
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)

        let utc = try Reporter.run(ReportRequest(groupBy: [.day]), on: backend)
        #expect(utc.rows.map(\.clicks) == [3])

        let kolkata = try ReportTimeZone.load("Asia/Kolkata")
        let zoned = try Reporter.run(ReportRequest(groupBy: [.day, .hour], timeZone: kolkata), on: backend)
        let jan1: Int64 = 20454, jan2: Int64 = 20455
        let expectedKeys: [[ReportValue]] = [[.number(jan1), .number(jan1 * 24 + 23)], [.number(jan2), .number(jan2 * 24)]]
        #expect(zoned.rows.map { $0.key } == expectedKeys)
        #expect(zoned.rows.map(\.clicks) == [1, 2])
        let refusalKeys: [[ReportValue]] = [[.number(jan2), .number(jan2 * 24)]]
        #expect(zoned.refusals.map { $0.key } == refusalKeys)
        let table = ReportFormat.table.render(zoned, request: ReportRequest(groupBy: [.day, .hour], timeZone: kolkata))
        #expect(table.contains("2026-01-02  2026-01-02 00:00"), "\(table)")
        let json = ReportFormat.json.render(zoned, request: ReportRequest(groupBy: [.day], timeZone: kolkata))
        #expect(json.contains("\"time_zone\":\"Asia/Kolkata\""))

        // --from/--to are local too: from Jan 2 (Kolkata) starts at 18:30 UTC on Jan 1.
        let range = try ReportRequest.range(from: "2026-01-02", to: nil, timeZone: kolkata).get()
        #expect(range.from == day + 18 * 3_600_000 + 30 * 60_000)
        let late = try Reporter.run(ReportRequest(fromMillis: range.from, groupBy: [], timeZone: kolkata), on: backend)
        #expect(late.totals.clicks == 2)
    }
}
