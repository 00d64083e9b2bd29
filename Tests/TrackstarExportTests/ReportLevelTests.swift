// The roll-up levels a report reads (the smallest that answers exactly), the upgrade of a store made
// before the audience, daily and offer audience levels (summed from finer levels, so right even where
// raw clicks were deleted), and the click tally's own hash table against a Dictionary.
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
        // Detail columns with offer (no affiliate): the audience level with offer.
        for groupBy: [ReportDimension] in [[.offer, .country], [.offer, .country, .device], [.os, .offer, .day],
                                           [.offer, .browser, .event, .trafficbackReason, .smartlink]] {
            #expect(level(ReportRequest(groupBy: groupBy)) == "rollup_clicks_offer_audience", "\(groupBy)")
        }
        #expect(level(ReportRequest(fromMillis: start + 24 * hour, groupBy: [.offer, .device])) == "rollup_clicks_offer_audience")
        #expect(level(ReportRequest(groupBy: [.browser, .offer], timeZone: berlin)) == "rollup_clicks_offer_audience")  // no day: the zone changes nothing
        // Detail columns with affiliate: the detail level.
        #expect(level(ReportRequest(groupBy: [.browser, .affiliate, .day])) == "rollup_clicks_detail")
        #expect(level(ReportRequest(groupBy: [.offer, .affiliate, .country])) == "rollup_clicks_detail")
        // A store without the newer levels (made before them; the exporter has not opened it since).
        let two = [SQLiteRollups.coarse, SQLiteRollups.detail], four = two + [SQLiteRollups.audience, SQLiteRollups.daily]
        #expect(level(ReportRequest(groupBy: []), among: two) == "rollup_clicks")
        #expect(level(ReportRequest(groupBy: [.offer]), among: two) == "rollup_clicks")
        #expect(level(ReportRequest(groupBy: [.country]), among: two) == "rollup_clicks_detail")
        #expect(level(ReportRequest(groupBy: [.offer, .country, .device]), among: four) == "rollup_clicks_detail")
        #expect(level(ReportRequest(groupBy: [.country]), among: four) == "rollup_clicks_audience")
        // None: raw rows, and why, said of the finest level keeping the columns.
        let cut = Reporter.rollupLevel(ReportRequest(fromMillis: start + 13 * hour, groupBy: [.country]))
        #expect(cut.level == nil && cut.miss == "--from is not on a whole UTC day (grouping by country)", "\(cut)")
        let offerCut = Reporter.rollupLevel(ReportRequest(toMillis: start + 13 * hour, groupBy: [.offer, .device]))
        #expect(offerCut.level == nil && offerCut.miss == "--to is not on a whole UTC day (grouping by device)", "\(offerCut)")
        let offerHours = Reporter.rollupLevel(ReportRequest(groupBy: [.offer, .os, .hour]))
        #expect(offerHours.level == nil && offerHours.miss == "the roll-up with os holds UTC days, not hours", "\(offerHours)")
        let hourly = Reporter.rollupLevel(ReportRequest(groupBy: [.device, .hour]))
        #expect(hourly.level == nil && hourly.miss == "the roll-up with device holds UTC days, not hours", "\(hourly)")
        let halfHour = Reporter.rollupLevel(ReportRequest(fromMillis: start + hour / 2, groupBy: []))
        #expect(halfHour.level == nil && halfHour.miss == "--from is not on a whole hour", "\(halfHour)")
    }

    /// Makes a store as the exporter before `levels` left it (by default before the audience, daily and
    /// offer audience levels): no tables of theirs, and conversion triggers that roll up into the other levels only.
    static func removeNewLevels(_ db: SQLiteDatabase,
                                _ levels: [SQLiteRollups.Level] = [SQLiteRollups.audience, SQLiteRollups.daily, SQLiteRollups.offerAudience]) throws {
        for level in levels {
            try db.execute("DROP TABLE \(level.clicks); DROP TABLE \(level.conversions)")
            for row in try db.rows("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%\(level.conversions) %'") {
                guard let name = row[0], let sql = row[1] else { continue }
                // Trigger bodies are statements ending in ";": keep those that do not write the level.
                let statements = sql.split(separator: ";", omittingEmptySubsequences: false)
                let kept = statements.filter { !$0.contains(level.conversions + " ") }.joined(separator: ";")
                try db.execute("DROP TRIGGER \(name); \(kept)")
            }
        }
        for level in levels {
            #expect(try db.rows("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%\(level.clicks) %' OR sql LIKE '%\(level.conversions) %'") == [["0"]])
        }
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
        #expect(try db.rows("SELECT sum(clicks) FROM rollup_clicks_offer_audience") == [["60"]])
    }

    /// A store the exporter of main 17d4f0b made (four levels: no offer audience) with its raw clicks
    /// aged out: opening it adds the level summed from the detail level, every figure the detail level
    /// has; reports by offer and country then read it, and match raw rows once more rows come.
    @Test func aStoreFromBeforeTheOfferAudienceLevelGetsItFromTheDetailLevel() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (logs, db) = try ReportRollupTests.exportedStore(in: dir)
        try ReportLevelTests.removeNewLevels(db, [SQLiteRollups.offerAudience])
        let old = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        #expect(old.rollupLevels == [SQLiteRollups.coarse, SQLiteRollups.detail, SQLiteRollups.audience, SQLiteRollups.daily])
        let byOfferCountry = ReportRequest(groupBy: [.offer, .country, .device])
        let before = try Reporter.run(byOfferCountry, on: old)  // from the detail level meanwhile
        #expect(before.note == nil && before.totals.clicks == 50)
        try db.execute("DELETE FROM click_blocks")
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        _ = try sink.open()
        sink.close()
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        #expect(backend.rollupLevels == SQLiteRollups.levels)
        #expect(Reporter.rollupLevel(byOfferCountry, among: backend.rollupLevels).level == SQLiteRollups.offerAudience)
        #expect(try Reporter.run(byOfferCountry, on: backend) == before)
        for request in try ReportRollupTests.requests() where ReportRollupTests.answering(request).contains(SQLiteRollups.offerAudience) {
            let summed = try Reporter.run(request, on: backend, rollup: SQLiteRollups.offerAudience)
            let detail = try Reporter.run(request, on: backend, rollup: SQLiteRollups.detail)
            #expect(summed == detail, "\(request.groupBy)\noffer audience \(summed)\ndetail \(detail)")
        }
        // The exporter keeps the level from then on, conversions (by the sink's tally and triggers) too.
        ReportRollupTests.fill(logs, clicks: 10, tag: "c")
        SQLiteSinkTests().export(logs, to: dir, batchRows: 10)
        for request in [byOfferCountry, ReportRequest(groupBy: [.offer, .event, .os])] {
            let now = try Reporter.run(request, on: backend, rollup: SQLiteRollups.offerAudience)
            #expect(now == (try Reporter.run(request, on: backend, rollup: SQLiteRollups.detail)), "\(request.groupBy)")
            #expect(now.totals.clicks == 60)
        }
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
        #expect(try db.rows("SELECT sum(clicks), sum(unique_clicks), sum(bot_clicks) FROM rollup_clicks_offer_audience")
                == db.rows("SELECT sum(clicks), sum(unique_clicks), sum(bot_clicks) FROM rollup_clicks_detail"))
        for (level, source) in [(SQLiteRollups.audience, SQLiteRollups.detail), (SQLiteRollups.daily, SQLiteRollups.coarse),
                                (SQLiteRollups.offerAudience, SQLiteRollups.detail)] {
            for request in try ReportRollupTests.requests() where ReportRollupTests.answering(request).contains(level) {
                let summed = try Reporter.run(request, on: backend, rollup: level)
                let finer = try Reporter.run(request, on: backend, rollup: source)
                #expect(summed == finer, "\(request.groupBy)\n\(level.suffix) \(summed)\n\(source.suffix) \(finer)")
                #expect(summed.totals.clicks == 50 || request.fromMillis != nil)
            }
        }
    }

    /// A store whose hourly conversion table has the key of main 17d4f0b (currency last) gets the key
    /// with currency first on open: the same rows, reports unchanged, conversions rolled up from then on.
    @Test func theHourlyConversionTableIsRekeyedOnOpen() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (logs, db) = try ReportRollupTests.exportedStore(in: dir)
        var old = SQLiteRollups.coarse
        old.conversionKeyOrder = nil
        let triggers = SQLiteRollups.conversionTriggers(SQLiteRollups.levels).map { "DROP TRIGGER \($0.name);" }.joined()
        try db.execute(triggers + "ALTER TABLE rollup_conversions RENAME TO t; \(SQLiteRollups.conversionTable(old)) "
                       + "INSERT INTO rollup_conversions SELECT * FROM t; DROP TABLE t;")
        try SQLiteRollups.installConversionTriggers(db)
        func key() throws -> String { try db.rows("SELECT sql FROM sqlite_master WHERE name = 'rollup_conversions'")[0][0] ?? "" }
        #expect(try key().contains("PRIMARY KEY (hour, offer_id, aff_id, event, trafficback_reason, smartlink, currency)"))
        let rows = "SELECT * FROM rollup_conversions ORDER BY hour, offer_id, aff_id, event, trafficback_reason, smartlink, currency"
        let before = try db.rows(rows)
        #expect(before.count > 5)
        let request = ReportRequest(groupBy: [.offer, .hour])
        let report = try Reporter.run(request, on: try Reporter.backend(config: ExportConfig(), dataDir: dir))
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        _ = try sink.open()
        sink.close()
        #expect(try key().contains("PRIMARY KEY (hour, currency, offer_id, aff_id, event, trafficback_reason, smartlink)"))
        #expect(try db.rows(rows) == before)
        #expect(try Reporter.run(request, on: try Reporter.backend(config: ExportConfig(), dataDir: dir)) == report)
        ReportRollupTests.fill(logs, clicks: 10, tag: "c")
        ReportRollupTests.transitions(logs)
        SQLiteSinkTests().export(logs, to: dir, batchRows: 10)
        try ReportRollupTests.expectSame(dir, "after the hourly conversion key changed")
    }

    /// Reports read a level's groups in key order (no sort of the level's rows; at most a sort of
    /// per-bucket sums): by offer and day in a zone and by hour (hourly level), by offer, country and
    /// device (offer audience), by offer (daily), by country (audience).
    @Test func theBigLevelsAreReadInKeyOrder() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (_, db) = try ReportRollupTests.exportedStore(in: dir)
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dir)
        let berlin = try ReportTimeZone.load("Europe/Berlin")
        for request in [ReportRequest(groupBy: [.offer, .day], timeZone: berlin), ReportRequest(groupBy: [.hour]),
                        ReportRequest(groupBy: [.offer, .country, .device]), ReportRequest(groupBy: [.offer, .country]),
                        ReportRequest(groupBy: [.offer]), ReportRequest(groupBy: [.country])] {
            let level = try #require(Reporter.rollupLevel(request).level)
            for kind in [LogKind.clicks, .conversions] {
                let columns = request.groupBy.map { $0.rollupExpression(backend.intDiv, zoned: request.timeZone != nil, level: level) }
                    + (kind == .conversions ? ["currency"] : [])
                let sql = "SELECT " + columns.joined(separator: ", ") + ", count(*)" + Reporter.rollupQuery(request, kind, level, backend, columns: columns)
                // (id, parent, detail): a sort of the level's rows is a temporary b-tree beside its scan.
                let plan = try db.rows("EXPLAIN QUERY PLAN " + sql).map { ($0[0] ?? "", $0[1] ?? "", $0.last.flatMap { $0 } ?? "") }
                let scan = try #require(plan.first { $0.2.hasPrefix("SCAN rollup_") }, "\(plan)")
                #expect(!plan.contains { $0.1 == scan.1 && $0.2.contains("TEMP B-TREE") }, "\(request.groupBy) \(kind): \(sql)\n\(plan)")
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
