// Roll-ups answer as the raw rows do: the same logs reported from roll-ups (each level that can answer)
// and from raw rows give the same figures and the same text, through out-of-order status transitions,
// retraction of a cut log, a store that predates roll-ups and one that predates the newer levels; a
// report reads the smallest level that answers it, and a request none can answer reads raw rows and says why.
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration

@Suite struct ReportRollupTests {
    static let hour: Int64 = 3_600_000
    static let start: Int64 = 1_767_225_600_000  // 2026-01-01 00:00 UTC

    /// Clicks over three days in two shards: four offers, three affiliates, enriched and not, bots,
    /// unique ones, trafficback reasons and smart links; conversions of three statuses in two
    /// currencies and two events; transitions (one before its conversion's shard is exported); refusals.
    static func fill(_ logs: TestLogs, clicks: Int, tag: String = "a") {
        let countries: [UInt16] = [0x5355, 0x4544, 0x5246]  // "US", "DE", "FR" as stored (little-endian letters)
        let reasons: [TrafficReason] = [.none, .none, .capReached, .geo, .none, .bot]
        for i in 0..<clicks {
            let shard = i % 2
            let time = start + Int64(i) * 2_345_678 % (3 * 24 * hour)
            let enriched = i % 5 != 0
            let head = ClickEnrichmentHead(country: countries[i % 3], device: i % 4 == 0 ? .mobile : .desktop,
                                           botReason: i % 7 == 0 ? .spider : .none, unique: i % 3 != 1)
            let traffic = ClickTraffic(reason: reasons[i % reasons.count], destination: reasons[i % reasons.count] == .none ? .offer : .serverTrafficback,
                                       requestedOffer: 0, smartlink: i % 4 == 3 ? 9 : 0)
            let ref = logs.click(shard: shard, offer: UInt32(1 + i % 4), aff: UInt32(7 + i % 3), time: time,
                                 subs: ["\(tag)\(i % 5)", "", "", "", "", "", "src\(i % 2)", "agent"],
                                 enrichment: enriched ? head : nil, os: i % 2 == 0 ? "Android" : "Windows", browser: "Chrome", traffic: traffic)
            if i % 3 == 0 {
                let status: ConversionStatus = [.approved, .pending, .rejected][i / 3 % 3]
                logs.conversion(shard: shard, clickRef: ref, offer: UInt32(1 + i % 4), aff: UInt32(7 + i % 3), event: UInt8(i % 2),
                                status: status, payout: Int64(1 + i % 4) * 1_000_000, time: time + 600_000, txid: "\(tag)\(i)",
                                payoutCurrency: i % 6 == 0 ? 0x52_5545 : 0)
            }
            if i % 8 == 0 { logs.refusal(shard: shard, reason: i % 16 == 0 ? .badToken : .expired, time: time) }
        }
    }

    /// Transitions of shard 1's first conversion, written to shard 0's log: version 2 before version 1.
    static func transitions(_ logs: TestLogs) {
        let conversionID = (UInt64(1) << 40 | 0) + 1
        logs.transition(shard: 0, conversionID: conversionID, previous: .approved, to: ConversionState(status: .rejected, version: 2))
        logs.transition(shard: 0, conversionID: conversionID, previous: .pending, to: ConversionState(status: .approved, version: 1))
    }

    /// Requests the roll-ups answer, with days and hours in UTC and in a whole-hour zone.
    static func requests() throws -> [ReportRequest] {
        let berlin = try ReportTimeZone.load("Europe/Berlin")
        let groupings: [[ReportDimension]] = [[], [.offer], [.offer, .affiliate, .day], [.hour], [.event, .offer], [.country, .device],
                                              [.os, .browser, .affiliate], [.trafficbackReason], [.smartlink, .trafficbackReason, .day]]
        var all = groupings.map { ReportRequest(groupBy: $0) }
        all.append(ReportRequest(fromMillis: start + 5 * hour, toMillis: start + 40 * hour, groupBy: [.offer, .hour]))
        all.append(ReportRequest(groupBy: [.day, .hour, .offer], timeZone: berlin))
        all.append(ReportRequest(fromMillis: start + 23 * hour, groupBy: [.day], timeZone: berlin))
        all.append(ReportRequest(fromMillis: start + 24 * hour, toMillis: start + 72 * hour, groupBy: [.country, .day]))
        all.append(ReportRequest(groupBy: [.day, .device, .trafficbackReason], timeZone: try ReportTimeZone.load("UTC")))
        all.append(ReportRequest(groupBy: [.browser, .offer], timeZone: berlin))
        all += [[.device, .os, .browser], [.event], [.country, .event, .smartlink], [.day, .trafficbackReason], [.offer, .country, .device],
                [.smartlink, .offer, .event, .os, .day]].map { ReportRequest(groupBy: $0) }
        all.append(ReportRequest(fromMillis: start + 24 * hour, groupBy: [.offer, .browser, .trafficbackReason]))
        all.append(ReportRequest(fromMillis: start + 24 * hour, toMillis: start + 48 * hour, groupBy: []))
        return all
    }

    /// Every request from roll-ups and from raw rows: equal results, equal text in all three formats.
    static func expectSame(_ dir: String, _ comment: String) throws {
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        #expect(backend.hasRollups)
        for request in try requests() {
            let (_, fromRaw) = try expectRollupsMatchRaw(request, on: backend, comment)
            // Not only the level the report picks: every level that can answer gives the raw rows' figures.
            for level in answering(request) {
                let fromLevel = try Reporter.run(request, on: backend, rollup: level)
                #expect(fromLevel == fromRaw, "\(comment): \(request.groupBy) from rollup_clicks\(level.suffix)\n\(fromLevel)\nraw \(fromRaw)")
            }
        }
    }

    /// `request` on `backend` from the roll-ups (no note) and from raw rows: equal results and equal
    /// text in all three formats (the SQLite and the ClickHouse roll-up tests). Returns both answers.
    @discardableResult
    static func expectRollupsMatchRaw(_ request: ReportRequest, on backend: ReportBackend,
                                      _ comment: String) throws -> (rollups: ReportResult, raw: ReportResult) {
        var raw = request
        raw.useRollups = false
        let fromRollups = try Reporter.run(request, on: backend), fromRaw = try Reporter.run(raw, on: backend)
        #expect(fromRollups.note == nil, "\(comment): \(request.groupBy) read raw rows: \(fromRollups.note ?? "")")
        #expect(fromRollups == fromRaw, "\(comment): \(request.groupBy)\nroll-ups \(fromRollups)\nraw \(fromRaw)")
        for format in ReportFormat.allCases {
            #expect(format.render(fromRollups, request: request) == format.render(fromRaw, request: raw), "\(comment): \(format)")
        }
        return (fromRollups, fromRaw)
    }

    /// The levels that keep the request's columns and whole buckets.
    static func answering(_ request: ReportRequest) -> [SQLiteRollups.Level] {
        SQLiteRollups.levels.filter { level in request.groupBy.allSatisfy(level.keeps) && Reporter.miss(request, level) == nil }
    }

    @Test func rollupsGiveTheRawRowsFiguresAndText() throws {
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 120)
        ReportRollupTests.transitions(logs)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir, batchRows: 7)
        try ReportRollupTests.expectSame(dir, "after export")
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        let totals = try Reporter.run(ReportRequest(), on: backend).totals
        #expect(totals.clicks == 120)
        // The roll-ups really answer: with the raw clicks gone (no trigger on them), they still count 120.
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        try db.execute("DELETE FROM click_blocks")
        #expect(try Reporter.run(ReportRequest(groupBy: [.offer]), on: backend).totals.clicks == 120)
        var raw = ReportRequest(groupBy: [.offer])
        raw.useRollups = false
        #expect(try Reporter.run(raw, on: backend).totals.clicks == 0)
    }

    /// A cut log (recovery after a machine crash): the roll-ups lose the retracted rows with them.
    @Test func rollupsFollowARetraction() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let before = TestLogs(shards: 2)
        ReportRollupTests.fill(before, clicks: 60)
        SQLiteSinkTests().export(before, to: dir, batchRows: 9)
        let after = TestLogs(shards: 2)
        ReportRollupTests.fill(after, clicks: 41)
        ReportRollupTests.fill(after, clicks: 4, tag: "b")  // new records reusing cut sequences
        SQLiteSinkTests().export(after, to: dir, batchRows: 9)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT count(*) FROM clicks") == [["45"]])
        try ReportRollupTests.expectSame(dir, "after retraction")
        #expect(try Reporter.run(ReportRequest(), on: try Reporter.backend(config: ExportConfig(), dataDir: dir)).totals.clicks == 45)
    }

    /// A report.sqlite from before roll-ups: opening it fills them from its rows, once.
    /// Two shards' logs with 50 clicks (and `fill`'s conversions and refusals) exported into a store
    /// in `dir` in batches of 10, and that store opened: the set-up of the store-upgrade tests.
    static func exportedStore(in dir: String) throws -> (logs: TestLogs, db: SQLiteDatabase) {
        let logs = TestLogs(shards: 2)
        fill(logs, clicks: 50)
        SQLiteSinkTests().export(logs, to: dir, batchRows: 10)
        return (logs, try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir)))
    }

    @Test func aStoreFromBeforeRollupsGetsThemFilled() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (logs, db) = try ReportRollupTests.exportedStore(in: dir)
        for trigger in ["rollup_conversions_insert", "rollup_conversions_status", "rollup_conversions_delete", "rollup_refusals_insert",
                        "rollup_refusals_delete"] { try db.execute("DROP TRIGGER IF EXISTS \(trigger)") }
        for table in SQLiteRollups.levels.flatMap({ [$0.clicks, $0.conversions] }) + ["rollup_refusals"] { try db.execute("DROP TABLE \(table)") }
        #expect(try !Reporter.backend(config: ExportConfig(), dataDir: dir).hasRollups)
        ReportRollupTests.fill(logs, clicks: 10, tag: "c")  // more rows after the upgrade
        SQLiteSinkTests().export(logs, to: dir, batchRows: 10)
        try ReportRollupTests.expectSame(dir, "after the upgrade")
        #expect(try Reporter.run(ReportRequest(), on: try Reporter.backend(config: ExportConfig(), dataDir: dir)).totals.clicks == 60)
    }

    /// Columns, ranges and zones the roll-ups cannot answer: raw rows, and the output says why.
    @Test func whatTheRollupsCannotAnswerIsReadFromRawRowsAndSaid() throws {
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 20)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir)
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        let bySub = try Reporter.run(ReportRequest(groupBy: [.offer, .sub1]), on: backend)
        #expect(bySub.note?.contains("the roll-ups have no sub1") == true, "\(bySub.note ?? "nil")")
        #expect(ReportFormat.table.render(bySub, request: ReportRequest()).hasSuffix("\n(\(bySub.note ?? ""))\n"))
        #expect(ReportFormat.json.render(bySub, request: ReportRequest()).contains("\"note\":\"read from raw rows: the roll-ups have no sub1"))
        let halfHour = try Reporter.run(ReportRequest(fromMillis: ReportRollupTests.start + 1_800_000, groupBy: [.offer]), on: backend)
        #expect(halfHour.note?.contains("--from is not on a whole hour") == true)
        let kolkata = try Reporter.run(ReportRequest(groupBy: [.day], timeZone: try ReportTimeZone.load("Asia/Kolkata")), on: backend)
        #expect(kolkata.note?.contains("Asia/Kolkata") == true)
        #expect(try Reporter.run(ReportRequest(groupBy: [.offer, .country]), on: backend).note == nil)
        let countryByHour = try Reporter.run(ReportRequest(groupBy: [.country, .hour]), on: backend)
        #expect(countryByHour.note?.contains("holds UTC days, not hours") == true, "\(countryByHour.note ?? "nil")")
        let berlinCountries = try Reporter.run(ReportRequest(groupBy: [.country, .day], timeZone: try ReportTimeZone.load("Europe/Berlin")), on: backend)
        #expect(berlinCountries.note?.contains("not a whole number of UTC days") == true, "\(berlinCountries.note ?? "nil")")
    }

    /// The trafficback facts land in their columns and group the report.
    @Test func trafficbackColumnsAndGrouping() throws {
        let logs = TestLogs(shards: 1)
        let head = ClickEnrichmentHead(country: 0x5355, device: .desktop, botReason: .none, unique: true)
        let plain = logs.click(shard: 0, enrichment: head, os: "Linux", browser: "Firefox")
        logs.click(shard: 0, enrichment: head, traffic: ClickTraffic(reason: .capReached, destination: .offerTrafficback))
        logs.click(shard: 0, enrichment: head, traffic: ClickTraffic(reason: .capReached, destination: .offerTrafficback))
        let linked = logs.click(shard: 0, offer: 3, enrichment: head,
                                traffic: ClickTraffic(reason: .none, destination: .offer, requestedOffer: 2, smartlink: 5))
        logs.conversion(shard: 0, clickRef: linked, offer: 3)
        logs.conversion(shard: 0, clickRef: plain)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT trafficback_reason, destination, requested_offer, smartlink FROM clicks ORDER BY click_ref")
                == [["", "offer", "0", "0"], ["cap_reached", "offer_trafficback_url", "0", "0"], ["cap_reached", "offer_trafficback_url", "0", "0"],
                    ["", "offer", "2", "5"]])
        #expect(try db.rows("SELECT trafficback_reason, smartlink FROM conversions ORDER BY conversion_id") == [["", "5"], ["", "0"]])
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        let byReason = try Reporter.run(ReportRequest(groupBy: [.trafficbackReason]), on: backend)
        #expect(byReason.rows.map { [$0.key[0], .number($0.clicks), .number($0.conversions)] }
                == [[.text(""), .number(2), .number(2)], [.text("cap_reached"), .number(2), .number(0)]])
        let byLink = try Reporter.run(ReportRequest(groupBy: [.smartlink]), on: backend)
        #expect(byLink.rows.map { [$0.key[0], .number($0.clicks), .number($0.conversions)] }
                == [[.number(0), .number(3), .number(1)], [.number(5), .number(1), .number(1)]])
        #expect(ReportFormat.json.render(byLink, request: ReportRequest(groupBy: [.smartlink])).contains("{\"smartlink\":5,\"clicks\":1"))
        #expect(try ReportDimension.parseList("trafficback_reason,smartlink").get() == [.trafficbackReason, .smartlink])
    }
}
