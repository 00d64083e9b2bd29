// The roll-up levels a report reads (the smallest that answers exactly), the upgrade of a store made
// before the audience and daily levels (summed from finer levels, so right even where raw clicks were deleted),
// and the click tally's own hash table against a Dictionary.
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration

@Suite struct ReportLevelTests {
    let hour = ReportRollupTests.hour, start = ReportRollupTests.start

    @Test func aReportReadsTheSmallestLevelThatAnswersIt() throws {
        let berlin = try ReportTimeZone.load("Europe/Berlin")
        func level(_ request: ReportRequest, among levels: [SQLiteRollups.Level] = SQLiteRollups.levels) -> String? {
            Reporter.rollupLevel(request, among: levels).level.map { "rollup_clicks" + $0.suffix }
        }
        // Neither offer nor affiliate nor hour: the audience level.
        for groupBy: [ReportDimension] in [[], [.day], [.event], [.country], [.device, .os, .browser], [.trafficbackReason, .smartlink],
                                           [.country, .day, .event]] {
            #expect(level(ReportRequest(groupBy: groupBy)) == "rollup_clicks_audience", "\(groupBy)")
        }
        #expect(level(ReportRequest(fromMillis: start + 24 * hour, toMillis: start + 48 * hour, groupBy: [.country])) == "rollup_clicks_audience")
        // Offer or affiliate over whole days: the hourly level by day.
        #expect(level(ReportRequest(groupBy: [.offer])) == "rollup_clicks_daily")
        #expect(level(ReportRequest(groupBy: [.offer, .affiliate, .day, .trafficbackReason])) == "rollup_clicks_daily")
        #expect(level(ReportRequest(fromMillis: start + 24 * hour, groupBy: [.affiliate])) == "rollup_clicks_daily")
        // Hours, or a range or zone that cuts days: the hourly level.
        #expect(level(ReportRequest(groupBy: [.offer, .day], timeZone: berlin)) == "rollup_clicks")
        #expect(level(ReportRequest(fromMillis: start + 13 * hour, groupBy: [.affiliate])) == "rollup_clicks")
        #expect(level(ReportRequest(groupBy: [.hour, .smartlink])) == "rollup_clicks")
        #expect(level(ReportRequest(groupBy: [.day], timeZone: berlin)) == "rollup_clicks")
        #expect(level(ReportRequest(fromMillis: start + 13 * hour, groupBy: [])) == "rollup_clicks")
        // Detail columns with offer or affiliate: the detail level.
        #expect(level(ReportRequest(groupBy: [.offer, .country])) == "rollup_clicks_detail")
        #expect(level(ReportRequest(groupBy: [.browser, .affiliate, .day])) == "rollup_clicks_detail")
        // A store without the newer levels (made before them; the exporter has not opened it since).
        #expect(level(ReportRequest(groupBy: []), among: [SQLiteRollups.coarse, SQLiteRollups.detail]) == "rollup_clicks")
        #expect(level(ReportRequest(groupBy: [.offer]), among: [SQLiteRollups.coarse, SQLiteRollups.detail]) == "rollup_clicks")
        #expect(level(ReportRequest(groupBy: [.country]), among: [SQLiteRollups.coarse, SQLiteRollups.detail]) == "rollup_clicks_detail")
        // None: raw rows, and why, said of the finest level keeping the columns.
        let cut = Reporter.rollupLevel(ReportRequest(fromMillis: start + 13 * hour, groupBy: [.country]))
        #expect(cut.level == nil && cut.miss == "--from is not on a whole UTC day (grouping by country)", "\(cut)")
        let hourly = Reporter.rollupLevel(ReportRequest(groupBy: [.device, .hour]))
        #expect(hourly.level == nil && hourly.miss == "the roll-up with device holds UTC days, not hours", "\(hourly)")
        let halfHour = Reporter.rollupLevel(ReportRequest(fromMillis: start + hour / 2, groupBy: []))
        #expect(halfHour.level == nil && halfHour.miss == "--from is not on a whole hour", "\(halfHour)")
    }

    /// Makes a store as the exporter before the audience and daily levels left it: no tables of
    /// theirs, and conversion triggers that roll up into the other levels only.
    static func removeNewLevels(_ db: SQLiteDatabase) throws {
        for level in [SQLiteRollups.audience, SQLiteRollups.daily] {
            try db.execute("DROP TABLE \(level.clicks); DROP TABLE \(level.conversions)")
            for row in try db.rows("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%\(level.conversions) %'") {
                guard let name = row[0], let sql = row[1] else { continue }
                // Trigger bodies are statements ending in ";": keep those that do not write the level.
                let statements = sql.split(separator: ";", omittingEmptySubsequences: false)
                let kept = statements.filter { !$0.contains(level.conversions + " ") }.joined(separator: ";")
                try db.execute("DROP TRIGGER \(name); \(kept)")
            }
        }
        #expect(try db.rows("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%_audience%' OR sql LIKE '%_daily%'") == [["0"]])
    }

    @Test func aStoreFromBeforeTheNewLevelsGetsThemOnOpen() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (logs, db) = try ReportRollupTests.exportedStore(in: dir)
        try ReportLevelTests.removeNewLevels(db)
        let old = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        #expect(old.hasRollups && old.rollupLevels == [SQLiteRollups.coarse, SQLiteRollups.detail])
        #expect(try Reporter.run(ReportRequest(groupBy: [.country]), on: old).note == nil)  // from the detail level meanwhile
        ReportRollupTests.fill(logs, clicks: 10, tag: "c")  // more rows, conversions among them, after the upgrade
        SQLiteSinkTests().export(logs, to: dir, batchRows: 10)
        #expect(try Reporter.backend(config: ExportConfig(), dataDir: dir).rollupLevels == SQLiteRollups.levels)
        try ReportRollupTests.expectSame(dir, "after adding the audience and daily levels")
        #expect(try db.rows("SELECT sum(clicks) FROM rollup_clicks_audience") == [["60"]])
        #expect(try db.rows("SELECT sum(clicks) FROM rollup_clicks_daily") == [["60"]])
    }

    /// Raw clicks deleted, roll-ups kept (raw rows may age out): the new level is summed from the detail
    /// level, so it holds every click the other levels do, not only the raw rows left.
    @Test func theNewLevelsAreFilledFromFinerLevels() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (_, db) = try ReportRollupTests.exportedStore(in: dir)
        try ReportLevelTests.removeNewLevels(db)
        try db.execute("DELETE FROM click_blocks")
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        _ = try sink.open()
        sink.close()
        #expect(try db.rows("SELECT sum(clicks), sum(unique_clicks), sum(bot_clicks) FROM rollup_clicks_audience")
                == db.rows("SELECT sum(clicks), sum(unique_clicks), sum(bot_clicks) FROM rollup_clicks_detail"))
        #expect(try db.rows("SELECT sum(clicks) FROM rollup_clicks_audience") == [["50"]])
        #expect(try db.rows("SELECT sum(clicks), sum(unique_clicks), sum(bot_clicks) FROM rollup_clicks_daily")
                == db.rows("SELECT sum(clicks), sum(unique_clicks), sum(bot_clicks) FROM rollup_clicks"))
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        for (level, source) in [(SQLiteRollups.audience, SQLiteRollups.detail), (SQLiteRollups.daily, SQLiteRollups.coarse)] {
            for request in try ReportRollupTests.requests() where ReportRollupTests.answering(request).contains(level) {
                let summed = try Reporter.run(request, on: backend, rollup: level)
                let finer = try Reporter.run(request, on: backend, rollup: source)
                #expect(summed == finer, "\(request.groupBy)\n\(level.suffix) \(summed)\n\(source.suffix) \(finer)")
                #expect(summed.totals.clicks == 50 || request.fromMillis != nil)
            }
        }
    }

    /// The tally's open-addressing table sums as a Dictionary does, through growth, names at other
    /// addresses with the same bytes, and names alike in their first and last eight bytes.
    @Test func clickGroupsSumAsADictionary() {
        let names = ["Android", "Windows", "Mac OS X", "Chrome Mobile WebView", "Chrome Mobile iOS WebView", "", "iOS"]
        // Each name twice, at different addresses: groups must match by bytes, not by pointer.
        let copies = (0..<2).map { _ in names.map { name -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(name.utf8.count, 1), alignment: 1)
            _ = buffer.initializeMemory(as: UInt8.self, from: name.utf8)
            return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<name.utf8.count])
        } }
        defer { for copy in copies { for buffer in copy { buffer.deallocate() } } }
        struct Key: Hashable { var hour: Int64, offer: UInt32, country: UInt16, smartlink: UInt32, os: String, browser: String }
        var expected: [Key: Int64] = [:]
        var table = ClickGroups(capacity: 16)
        var random: UInt64 = 7
        for i in 0..<20_000 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let r = Int(truncatingIfNeeded: random >> 33)
            let os = r % names.count, browser = r / 7 % names.count, copy = r / 49 % 2
            let group = ClickTally.Group(hour: Int64(r / 98 % 40), offerID: UInt32(r / 3920 % 9), affID: 3, country: UInt16(r % 3),
                                         device: .desktop, reason: .none, smartlink: UInt32(i % 2),
                                         os: UnsafeRawBufferPointer(copies[copy][os]), browser: UnsafeRawBufferPointer(copies[1 - copy][browser]))
            table.add(group, ClickTally.Figures(clicks: 1, unique: Int64(i % 2), bots: 0))
            expected[Key(hour: group.hour, offer: group.offerID, country: group.country, smartlink: group.smartlink,
                         os: names[os], browser: names[browser]), default: 0] += 1
        }
        #expect(table.count == expected.count)
        var total: Int64 = 0
        for (group, figures) in table {
            let key = Key(hour: group.hour, offer: group.offerID, country: group.country, smartlink: group.smartlink,
                          os: String(decoding: group.os, as: UTF8.self), browser: String(decoding: group.browser, as: UTF8.self))
            #expect(expected[key] == figures.clicks, "\(key)")
            total += figures.clicks
        }
        #expect(total == 20_000)
        table.removeAll()
        #expect(table.isEmpty && Array(table).isEmpty)
    }
}
