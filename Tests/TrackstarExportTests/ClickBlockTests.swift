// Clicks as blocks behind the `clicks` view (issue 19 item 1): every byte of a click's texts comes
// back through the view, a span is cut into blocks, a retraction inside a block keeps the clicks
// before the cut, and a store written a row per click by an earlier release is read and extended
// with the same reports as a store written in blocks from the start.
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration

@Suite struct ClickBlockTests {
    static let start: Int64 = 1_767_225_600_000

    /// Exports everything in `logs` with `sink` (a real exporter) and stops.
    static func export(_ logs: TestLogs, _ sink: SQLiteSink, batchRows: Int = 100) {
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: batchRows, batchAgeMillis: 10)
        exporter.start()
        #expect(eventually(within: 20) { exporter.status.connected && exporter.lag().allSatisfy { $0.total == 0 } })
        exporter.stop()
    }

    /// A sink of `dir`'s store that cuts blocks every five clicks.
    static func smallBlockSink(_ dir: String) -> SQLiteSink {
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        sink.maxBlockClicks = 5
        return sink
    }

    /// Texts JSON must escape, bytes that are not UTF-8, and a long agent.
    static let awkward: [UInt8] = Array("q\"uo\\te\t\n\u{1}é€😀\u{7f}".utf8) + [0xff, 0x80, 0xc3]

    /// Click `i` of shard `shard` with texts that depend on `tag` and `i`.
    static func click(_ logs: TestLogs, shard: Int, _ i: Int, tag: String) {
        logs.click(shard: shard, offer: UInt32(1 + i % 3), aff: 7, time: start + Int64(i) * 60_000,
                   enrichment: ClickEnrichmentHead(country: 0x4544, device: .mobile, botReason: i % 4 == 0 ? .spider : .none, unique: i % 2 == 0),
                   os: "Android", browser: "Chrome \"\\", traffic: ClickTraffic(reason: .none, destination: .offer, requestedOffer: 0, smartlink: 0),
                   rawSubs: [Array("\(tag)\(i)".utf8), awkward, [], Array("x\(i % 2)".utf8), [], Array("acid-\(i)".utf8), Array("src".utf8),
                             Array(String(repeating: "Mozilla/5.0 ", count: 1 + i % 30).utf8) + [UInt8(0x22)]])
    }

    /// Every byte of every text (escaped in the JSON, or not UTF-8) and every number's type come back.
    @Test func theViewGivesBackEveryByteAndType() throws {
        let logs = TestLogs(shards: 1)
        var every = (1...255).map { UInt8($0) }  // NUL aside: SQLite 3.40's JSON cuts a text at \u0000
        every += every
        logs.click(shard: 0, rawSubs: [every, ClickBlockTests.awkward, [], [], [], [], [], Array("agent \"x\" \\ y".utf8)])
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        ClickBlockTests.export(logs, SQLiteSink(path: SQLiteSink.path(dataDir: dir)))
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined() }
        #expect(try db.rows("SELECT hex(sub1), hex(sub2), hex(user_agent), sub3 FROM clicks")
                == [[hex(every), hex(ClickBlockTests.awkward), hex(Array("agent \"x\" \\ y".utf8)), ""]])
        #expect(try db.rows("SELECT typeof(click_ref), typeof(time_ms), typeof(offer_id), typeof(asn), typeof(is_unique), typeof(sub1), "
                            + "typeof(country) FROM clicks")
                == [["integer", "integer", "integer", "integer", "integer", "text", "text"]])
        #expect(try db.rows("SELECT name, type FROM sqlite_master WHERE name IN ('clicks', 'click_blocks', 'click_rows') ORDER BY name")
                == [["click_blocks", "table"], ["clicks", "view"]])
    }

    /// A span longer than a block is cut into blocks; a retraction inside one rewrites it with the
    /// clicks before the cut (texts intact), drops the later blocks, and the store then reports as
    /// one written from the recovered logs.
    @Test func aRetractionInsideABlockKeepsTheClicksBeforeTheCut() throws {
        let dir = temporaryDirectory(), fresh = temporaryDirectory()
        defer { removeDirectory(dir); removeDirectory(fresh) }
        let sink = ClickBlockTests.smallBlockSink
        let before = TestLogs(shards: 2)
        for i in 0..<23 { ClickBlockTests.click(before, shard: 0, i, tag: "a") }
        for i in 0..<7 { ClickBlockTests.click(before, shard: 1, i, tag: "a") }
        ClickBlockTests.export(before, sink(dir))
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        let s1: Int64 = 1 << 40
        #expect(try db.rows("SELECT first_ref, end_ref, clicks, min_time_ms, max_time_ms FROM click_blocks ORDER BY first_ref").map { $0.map { Int64($0 ?? "") ?? -1 } }
                == [[0, 5, 5, ClickBlockTests.start, ClickBlockTests.start + 4 * 60_000], [5, 10, 5, ClickBlockTests.start + 300_000, ClickBlockTests.start + 540_000],
                    [10, 15, 5, ClickBlockTests.start + 600_000, ClickBlockTests.start + 840_000],
                    [15, 20, 5, ClickBlockTests.start + 900_000, ClickBlockTests.start + 1_140_000],
                    [20, 23, 3, ClickBlockTests.start + 1_200_000, ClickBlockTests.start + 1_320_000],
                    [s1, s1 + 5, 5, ClickBlockTests.start, ClickBlockTests.start + 240_000], [s1 + 5, s1 + 7, 2, ClickBlockTests.start + 300_000, ClickBlockTests.start + 360_000]])
        let kept = try db.rows("SELECT click_ref, click_id, hex(sub2), hex(user_agent), browser FROM clicks WHERE click_ref < 12 ORDER BY click_ref")
        #expect(kept.count == 12)

        // Recovery cut shard 0's log after record 12 (mid-block); then new clicks reuse sequences 12…14.
        let after = TestLogs(shards: 2)
        for i in 0..<12 { ClickBlockTests.click(after, shard: 0, i, tag: "a") }
        for i in 0..<7 { ClickBlockTests.click(after, shard: 1, i, tag: "a") }
        ClickBlockTests.export(after, sink(dir))
        #expect(try db.rows("SELECT first_ref, end_ref, clicks FROM click_blocks WHERE first_ref < \(s1) ORDER BY first_ref")
                == [["0", "5", "5"], ["5", "10", "5"], ["10", "12", "2"]])
        for i in 12..<15 { ClickBlockTests.click(after, shard: 0, i, tag: "b") }
        ClickBlockTests.export(after, sink(dir))
        #expect(try db.rows("SELECT first_ref, end_ref, clicks FROM click_blocks WHERE first_ref < \(s1) ORDER BY first_ref")
                == [["0", "5", "5"], ["5", "10", "5"], ["10", "12", "2"], ["12", "15", "3"]])
        #expect(try db.rows("SELECT click_ref, click_id, hex(sub2), hex(user_agent), browser FROM clicks WHERE click_ref < 12 ORDER BY click_ref") == kept)
        #expect(try db.rows("SELECT group_concat(sub1) FROM clicks WHERE click_ref < \(s1)")
                == [[(0..<12).map { "a\($0)" }.joined(separator: ",") + ",b12,b13,b14"]])
        #expect(try db.rows("SELECT min_time_ms, max_time_ms FROM click_blocks WHERE first_ref = 10")
                == [["\(ClickBlockTests.start + 600_000)", "\(ClickBlockTests.start + 660_000)"]])

        // The same as a store that only ever saw the recovered logs, from roll-ups and raw rows alike.
        ClickBlockTests.export(after, sink(fresh))
        try ClickBlockTests.expectSameReports(dir, fresh, "after a retraction inside a block")
        try ReportRollupTests.expectSame(dir, "after a retraction inside a block")
    }

    /// Blocks hold a click's ref and time less the block's bases (a few digits, not thirteen); blocks
    /// written before the bases, with them whole, are read as before beside new ones, and a retraction
    /// inside one keeps the clicks before the cut.
    @Test func blocksFromBeforeTheBasesAreReadExtendedAndRetracted() throws {
        let old = temporaryDirectory(), new = temporaryDirectory()
        defer { removeDirectory(old); removeDirectory(new) }
        let sink = ClickBlockTests.smallBlockSink
        func fill(shard0: Int) -> TestLogs {
            let logs = TestLogs(shards: 2)
            for i in 0..<shard0 { ClickBlockTests.click(logs, shard: 0, i, tag: "a") }
            for i in 0..<7 { ClickBlockTests.click(logs, shard: 1, i, tag: "a") }
            return logs
        }
        let logs = fill(shard0: 12)
        ClickBlockTests.export(logs, sink(old))
        ClickBlockTests.export(logs, sink(new))
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: old))
        let start = String(ClickBlockTests.start)
        #expect(try db.rows("SELECT count(*) FROM click_blocks WHERE instr(rows, '\(start.prefix(7))') > 0 OR instr(rows, '\(1 << 40)') > 0")
                == [["0"]], "refs and times are relative")
        #expect(try db.rows("SELECT count(*) FROM click_blocks WHERE ref_base = first_ref AND time_base = min_time_ms") == [["5"]])

        // The earlier release's blocks: refs and times whole, no base columns.
        try db.execute("""
            BEGIN;
            UPDATE click_blocks SET rows = (SELECT json_group_array(json_set(j.value, '$[0]', (j.value ->> 0) + ref_base,
              '$[2]', (j.value ->> 2) + time_base)) FROM json_each(click_blocks.rows) j);
            DROP VIEW clicks;
            ALTER TABLE click_blocks DROP COLUMN ref_base; ALTER TABLE click_blocks DROP COLUMN time_base;
            CREATE VIEW clicks AS SELECT 1;
            COMMIT;
            """)
        #expect(try db.rows("SELECT count(*) FROM click_blocks WHERE rows ->> '$[0][0]' = first_ref AND rows ->> '$[0][2]' = min_time_ms")
                == [["5"]])

        // Opened by this release: the old blocks read as they were, new clicks go in blocks with bases.
        let more = fill(shard0: 17)
        ClickBlockTests.export(more, sink(old))
        ClickBlockTests.export(more, sink(new))
        #expect(try db.rows("SELECT count(*), sum(ref_base = 0 AND time_base = 0) FROM click_blocks") == [["6", "5"]])
        try ClickBlockTests.expectSameReports(old, new, "blocks from before the bases, extended")
        try ReportRollupTests.expectSame(old, "blocks from before the bases, extended")
        let read = "SELECT click_ref, click_id, time_ms, hex(sub2), hex(user_agent), browser FROM clicks"
        let kept = try db.rows(read + " ORDER BY click_ref")
        let fresh = try SQLiteDatabase(path: SQLiteSink.path(dataDir: new)).rows(read + " ORDER BY click_ref")
        #expect(kept.count == 24 && kept == fresh)

        // Recovery cut shard 0 after record 7, inside an old block.
        let cut = fill(shard0: 7)
        ClickBlockTests.export(cut, sink(old))
        ClickBlockTests.export(cut, sink(new))
        #expect(try db.rows("SELECT first_ref, end_ref, clicks, min_time_ms, max_time_ms FROM click_blocks WHERE first_ref < \(1 << 40) ORDER BY first_ref")
                == [["0", "5", "5", start, String(ClickBlockTests.start + 240_000)],
                    ["5", "7", "2", String(ClickBlockTests.start + 300_000), String(ClickBlockTests.start + 360_000)]])
        let before = try db.rows(read + " WHERE click_ref < 7 ORDER BY click_ref")
        #expect(Array(kept.prefix(7)) == before)
        try ClickBlockTests.expectSameReports(old, new, "blocks from before the bases, retracted")
        try ReportRollupTests.expectSame(old, "blocks from before the bases, retracted")
    }

    /// The reports of two stores are equal for the roll-up tests' requests, raw and from roll-ups, and by sub1.
    static func expectSameReports(_ a: String, _ b: String, _ comment: String) throws {
        let left = try Reporter.backend(config: ExportConfig(), dataDir: a), right = try Reporter.backend(config: ExportConfig(), dataDir: b)
        var requests = try ReportRollupTests.requests() + [ReportRequest(groupBy: [.sub1, .offer]), ReportRequest(groupBy: [.source, .asn, .day])]
        requests += requests.map { var raw = $0; raw.useRollups = false; return raw }
        requests.append(ReportRequest(fromMillis: start + 90_000, toMillis: start + 30 * 3_600_000, groupBy: [.sub1]))
        for request in requests {
            let x = try Reporter.run(request, on: left), y = try Reporter.run(request, on: right)
            #expect(x == y, "\(comment): \(request.groupBy) rollups \(request.useRollups)\n\(x)\n\(y)")
            #expect(x.totals.clicks > 0 || request.fromMillis != nil, "\(comment): an empty report proves nothing")
        }
    }

    /// Turns a store written in blocks into the layout of the release before them: `clicks` a table
    /// of rows with the `time_ms` index (without `city`, as a store from before issue 13 had).
    static func toRowLayout(_ dir: String) throws {
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        let columns = SQLiteClickBlocks.columns.dropLast()
        try db.execute("""
            BEGIN;
            CREATE TABLE clicks_old (
              click_ref INTEGER PRIMARY KEY, click_id TEXT NOT NULL, time_ms INTEGER NOT NULL,
              offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL,
              sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL, sub5 TEXT NOT NULL,
              aff_click_id TEXT NOT NULL, source TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL\(EnrichmentColumns.sqliteDefinitions(Array(EnrichmentColumns.clicks.dropLast()))));
            INSERT INTO clicks_old SELECT \(columns.joined(separator: ", ")) FROM clicks;
            DROP VIEW clicks; DROP TABLE click_blocks;
            ALTER TABLE clicks_old RENAME TO clicks;
            CREATE INDEX clicks_time ON clicks (time_ms);
            COMMIT;
            """)
    }

    /// A store with a row per click (the earlier layout) reports as before, gets blocks for new clicks
    /// with its rows kept and read through the view, and a retraction reaches into its rows.
    @Test func aStoreOfTheEarlierLayoutIsReadExtendedAndRetracted() throws {
        let old = temporaryDirectory(), new = temporaryDirectory()
        defer { removeDirectory(old); removeDirectory(new) }
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 60)
        SQLiteSinkTests().export(logs, to: old, batchRows: 9)
        SQLiteSinkTests().export(logs, to: new, batchRows: 9)
        try ClickBlockTests.toRowLayout(old)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: old))
        #expect(try db.rows("SELECT type, count(*) FROM sqlite_master WHERE name = 'clicks'") == [["table", "1"]])
        try ClickBlockTests.expectSameReports(old, new, "the earlier layout, as it was")

        // The new release opens it: the rows stay (as `click_rows`, `city` added), new clicks go in blocks.
        ReportRollupTests.fill(logs, clicks: 20, tag: "c")
        SQLiteSinkTests().export(logs, to: old, batchRows: 9)
        SQLiteSinkTests().export(logs, to: new, batchRows: 9)
        #expect(try db.rows("SELECT name, type FROM sqlite_master WHERE name IN ('clicks', 'click_blocks', 'click_rows') ORDER BY name")
                == [["click_blocks", "table"], ["click_rows", "table"], ["clicks", "view"]])
        #expect(try db.rows("SELECT (SELECT count(*) FROM click_rows), (SELECT sum(clicks) FROM click_blocks), (SELECT count(*) FROM clicks)")
                == [["60", "20", "80"]])
        #expect(try db.rows("SELECT count(*) FROM clicks WHERE city = ''") == [["80"]])
        try ClickBlockTests.expectSameReports(old, new, "the earlier layout, extended")
        try ReportRollupTests.expectSame(old, "the earlier layout, extended")

        // Recovery cut every log to its first 15 clicks a shard: rows and blocks past them go.
        // Then new records reuse the cut sequences.
        let cut = TestLogs(shards: 2)
        ReportRollupTests.fill(cut, clicks: 30)
        SQLiteSinkTests().export(cut, to: old, batchRows: 9)
        SQLiteSinkTests().export(cut, to: new, batchRows: 9)
        #expect(try db.rows("SELECT (SELECT count(*) FROM click_rows), (SELECT count(*) FROM click_blocks), (SELECT count(*) FROM clicks)")
                == [["30", "0", "30"]])
        ReportRollupTests.fill(cut, clicks: 4, tag: "d")
        SQLiteSinkTests().export(cut, to: old, batchRows: 9)
        SQLiteSinkTests().export(cut, to: new, batchRows: 9)
        #expect(try db.rows("SELECT (SELECT count(*) FROM click_rows), (SELECT sum(clicks) FROM click_blocks), (SELECT count(*) FROM clicks)")
                == [["30", "4", "34"]])
        try ClickBlockTests.expectSameReports(old, new, "the earlier layout, retracted")
        try ReportRollupTests.expectSame(old, "the earlier layout, retracted")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
