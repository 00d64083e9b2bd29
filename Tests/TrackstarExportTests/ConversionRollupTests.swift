// Conversions summed in Swift as the sink writes them (issue 19 item 1): every roll-up level holds
// exactly the sums of the raw conversion rows, whatever the batch size, with transitions in the span
// of their conversion, before it, or in another shard; a span written again; a store with an insert
// trigger of an earlier release; and rows inserted by SQL and rolled up with `rollUpConversions`.
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration

@Suite struct ConversionRollupTests {
    /// Each level's rows (those with rows left) against the same sums made from the raw rows: no row
    /// in one and not the other. Returns the number of groups checked.
    @discardableResult
    static func expectRollupsEqualRawRows(_ dir: String, _ comment: String) throws -> Int {
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        var groups = 0
        for level in SQLiteRollups.levels {
            let dimensions = level.conversionDimensions.joined(separator: ", ")
            let raw = "SELECT time_ms / \(level.bucketMillis) AS h, \(dimensions), "
                + SQLiteRollups.conversionFigures("conversions").map { "sum(\($0))" }.joined(separator: ", ")
                + " FROM conversions GROUP BY h, \(dimensions)"
            let rolled = "SELECT * FROM \(level.conversions) WHERE row_count != 0"
            #expect(try db.rows("\(raw) EXCEPT \(rolled)") == [], "\(comment): \(level.conversions) lacks")
            #expect(try db.rows("\(rolled) EXCEPT \(raw)") == [], "\(comment): \(level.conversions) has more than")
            groups += Int(try db.rows("SELECT count(*) FROM (\(raw))")[0][0] ?? "0") ?? 0
        }
        // Refusals too: counted by the sink as well (`RefusalTally`).
        let raw = "SELECT time_ms / \(CivilTime.hourMillis) AS h, offer_id, aff_id, reason, count(*) FROM refusals GROUP BY h, offer_id, aff_id, reason"
        let rolled = "SELECT * FROM rollup_refusals WHERE refusals != 0"
        #expect(try db.rows("\(raw) EXCEPT \(rolled)") == [], "\(comment): rollup_refusals lacks")
        #expect(try db.rows("\(rolled) EXCEPT \(raw)") == [], "\(comment): rollup_refusals has more than")
        return groups
    }

    /// Conversions of three statuses in three shards; transitions in the span of their conversion,
    /// in a shard exported before it (version 2 before version 1), and one that only changes the amount.
    static func fill(_ logs: TestLogs) {
        ReportRollupTests.fill(logs, clicks: 90)
        ReportRollupTests.transitions(logs)
        let first0 = (UInt64(0) << 40 | 0) + 1, second0 = (UInt64(0) << 40 | 1) + 1
        // Shard 0's first two conversions were recorded approved and rejected.
        logs.transition(shard: 0, conversionID: first0, previous: .approved, to: ConversionState(status: .pending, version: 1))
        logs.transition(shard: 1, conversionID: second0, previous: .rejected, to: ConversionState(status: .approved, version: 1))
        logs.transition(shard: 0, conversionID: second0, previous: .approved, to: ConversionState(status: .approved, version: 2),
                        amount: 9_000_000)
    }

    @Test(arguments: [1, 5, 1000])
    func everyBatchSizeGivesTheRawRowsSums(batchRows: Int) throws {
        let logs = TestLogs(shards: 2)
        ConversionRollupTests.fill(logs)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir, batchRows: batchRows)
        #expect(try ConversionRollupTests.expectRollupsEqualRawRows(dir, "batches of \(batchRows)") > 10)
        try ReportRollupTests.expectSame(dir, "batches of \(batchRows)")
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT status FROM conversions WHERE conversion_id IN (1, 2) ORDER BY conversion_id") == [["pending"], ["approved"]])
    }

    /// A conversions log written again from its start (as if its positions were lost): every row is
    /// already there, so nothing is summed twice; the roll-ups are those of the raw rows still.
    @Test func aSpanWrittenAgainAddsNothing() throws {
        let logs = TestLogs(shards: 2)
        for i in 0..<30 {
            logs.conversion(shard: i % 2, clickRef: UInt64(i), offer: UInt32(1 + i % 3), status: [.approved, .pending, .rejected][i % 3],
                            payout: Int64(i) * 1_000, time: ReportRollupTests.start + Int64(i) * 900_000, txid: "t\(i)")
        }
        logs.transition(shard: 0, conversionID: (UInt64(1) << 40 | 2) + 1, previous: .approved, to: ConversionState(status: .rejected, version: 1))
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir, batchRows: 4)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        let before = try db.rows("SELECT * FROM rollup_conversions ORDER BY 1, 2, 3, 4, 5, 6, 7")
        try db.execute("UPDATE export_positions SET records = 0, bytes = 0 WHERE log = 'conversions'")
        SQLiteSinkTests().export(logs, to: dir, batchRows: 4)
        #expect(try db.rows("SELECT sum(records) FROM export_positions WHERE log = 'conversions'") == [["31"]])
        #expect(try db.rows("SELECT * FROM rollup_conversions ORDER BY 1, 2, 3, 4, 5, 6, 7") == before)
        #expect(try db.rows("SELECT sum(row_count) FROM rollup_conversions_detail") == [["30"]])
        try ConversionRollupTests.expectRollupsEqualRawRows(dir, "written again")
    }

    /// A store whose insert trigger summed every row (before the sink did): opening it drops the
    /// trigger, so rows exported after are summed once.
    @Test func anEarlierInsertTriggerIsDropped() throws {
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 30)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir, batchRows: 8)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        let every = SQLiteRollups.levels.map { SQLiteRollups.conversionUpsert($0, "NEW", 1) }.joined(separator: " ")
        try db.execute("DROP TRIGGER IF EXISTS rollup_conversions_insert; "
                       + "CREATE TRIGGER rollup_conversions_insert AFTER INSERT ON conversions BEGIN \(every) END;")
        ReportRollupTests.fill(logs, clicks: 30, tag: "b")
        SQLiteSinkTests().export(logs, to: dir, batchRows: 8)
        #expect(try db.rows("SELECT count(*) FROM conversions") == [["20"]])
        #expect(try db.rows("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'conversions' ORDER BY name")
                == [["rollup_conversions_delete"], ["rollup_conversions_status"]])
        try ConversionRollupTests.expectRollupsEqualRawRows(dir, "after the trigger was dropped")
    }

    /// Rows inserted with SQL (as `ReportFigures` writes a month), whatever their version, are summed
    /// by `rollUpConversions` (no trigger sums an insert), a status change of a stored row by the
    /// trigger; refusals by `rollUpRefusals`.
    @Test func rowsInsertedWithSQLAreRolledUpOnRequest() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        _ = try sink.open()
        sink.close()
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        try db.execute("""
            INSERT INTO conversions (conversion_id, click_ref, click_id, click_time_ms, time_ms, offer_id, aff_id, sub1, sub2, sub3, sub4,
              sub5, aff_click_id, source, event, event_index, status, amount_micros, payout_micros, revenue_micros, currency, txid, version)
            VALUES (1, 0, '', 0, 3600000, 4, 7, '', '', '', '', '', '', '', 'conversion', 0, 'approved', NULL, 10, 20, 'USD', 'a', 0),
                   (2, 0, '', 0, 3600001, 4, 7, '', '', '', '', '', '', '', 'conversion', 0, 'pending', NULL, 30, 40, 'USD', 'b', 1);
            """)
        try db.execute("INSERT INTO refusals VALUES (1, 3600002, 'bad_token', 403, 4, 7, ''), (2, 7200000, 'bad_token', 403, 4, 7, '')")
        #expect(try db.rows("SELECT count(*) FROM rollup_conversions") == [["0"]])
        #expect(try db.rows("SELECT count(*) FROM rollup_refusals") == [["0"]])
        try SQLiteSink.rollUpRefusals(db)
        #expect(try db.rows("SELECT hour, refusals FROM rollup_refusals ORDER BY hour") == [["1", "1"], ["2", "1"]])
        try SQLiteSink.rollUpConversions(db)
        #expect(try db.rows("SELECT row_count, payout_micros, pending_payout_micros FROM rollup_conversions") == [["2", "10", "30"]])
        try db.execute("UPDATE conversions SET status = 'approved' WHERE conversion_id = 2")
        #expect(try db.rows("SELECT row_count, payout_micros, pending_payout_micros FROM rollup_conversions") == [["2", "40", "0"]])
        try ConversionRollupTests.expectRollupsEqualRawRows(dir, "inserted with SQL")
    }

    /// The sink sums every row it inserts (no insert trigger does), so every level must be one its
    /// tally can key: a level with a column `ConversionDimension` lacks would go unsummed.
    @Test func everyLevelIsOneTheSinkTallies() {
        for level in SQLiteRollups.levels {
            #expect(ConversionDimension.of(level) != nil, "\(level.conversions)")
        }
        #expect(!SQLiteRollups.conversionTriggers(SQLiteRollups.levels).contains { $0.sql.contains("AFTER INSERT") })
    }

    /// The block text's strings: word steps, the tail as an overlapping word or byte by byte, and
    /// the escaper from the first byte to escape on, give what the escaper alone gives.
    @Test func blockStringsAreEscapedAsTheEscaperDoes() {
        let out = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        let expected = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        defer { out.deallocate(); expected.deallocate() }
        for length in 0...24 {
            for at in -1..<length {
                for special: UInt8 in [0x22, 0x5C, 0x01, 0x7F, 0x1F, 0xC3] {
                    var text = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
                    if at >= 0 { text[at] = special }
                    text.withUnsafeBytes { bytes in
                        var w = ByteWriter(base: out, capacity: 4096), e = ByteWriter(base: expected, capacity: 4096)
                        ClickBlockText.string(bytes, &w)
                        e.append(",\""); e.appendJSONEscaped(bytes); e.append(UInt8(ascii: "\""))
                        #expect(Array(UnsafeRawBufferPointer(start: out, count: w.count))
                                == Array(UnsafeRawBufferPointer(start: expected, count: e.count)), "\(length) \(at) \(special)")
                    }
                }
            }
        }
    }
}
