// The SQLite store's journal (issue 19): the sink runs it with a rollback journal (TRUNCATE), switches
// a store made in WAL mode when nothing else holds it open, keeps exporting in WAL when something
// does, and a COMMIT cut by a crash (a hot journal) is rolled back by whoever reads the store next.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport

@Suite struct SQLiteJournalTests {
    /// Exports `logs` with a real exporter through `sink` until nothing is left, and stops it.
    func export(_ logs: TestLogs, _ sink: SQLiteSink) {
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 4, batchAgeMillis: 10)
        exporter.start()
        #expect(eventually(within: 20) { exporter.lag().allSatisfy { $0.total == 0 } && exporter.status.connected })
        exporter.stop()
    }

    func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Copies the file at `from` to `to` byte for byte (an image of the file as it is now).
    func copy(_ from: String, _ to: String) throws {
        guard let source = fopen(from, "rb"), let target = fopen(to, "wb") else { throw ExportError("cannot copy \(from)") }
        defer { fclose(source); fclose(target) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buffer, 1, buffer.count, source)
            if n == 0 { break }
            #expect(fwrite(buffer, 1, n, target) == n)
        }
    }

    @Test func theSinkWritesWithARollbackJournal() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let logs = TestLogs(shards: 1)
        for _ in 0..<5 { logs.click(shard: 0) }
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        export(logs, sink)
        #expect(sink.journalMode == "truncate")
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("PRAGMA journal_mode") == [["delete"]])  // a rollback journal (TRUNCATE is the sink connection's own)
        #expect(try db.rows("SELECT count(*) FROM clicks") == [["5"]])
        #expect(!exists(SQLiteSink.path(dataDir: dir) + "-wal"))
    }

    /// A store an earlier release made is in WAL mode (recorded in the file): the first open that finds
    /// it alone takes it out of WAL (checkpointing the WAL into the file, which goes); while another
    /// connection holds it open the sink exports in WAL as before, and switches at a later open.
    @Test func aWALStoreIsSwitchedOnceNothingElseHoldsItOpen() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let path = SQLiteSink.path(dataDir: dir)
        let logs = TestLogs(shards: 2)
        for i in 0..<6 { logs.click(shard: i % 2) }
        export(logs, SQLiteSink(path: path))
        do {
            let earlier = try SQLiteDatabase(path: path)
            #expect(try earlier.rows("PRAGMA journal_mode = WAL") == [["wal"]])
        }
        var other: SQLiteDatabase? = try SQLiteDatabase(path: path)
        #expect(try other?.rows("SELECT count(*) FROM clicks") == [["6"]])  // open, no transaction
        for i in 0..<5 { logs.click(shard: i % 2) }
        let held = SQLiteSink(path: path)
        export(logs, held)
        #expect(held.journalMode == "wal")
        held.close()
        #expect(try other?.rows("SELECT count(*) FROM clicks") == [["11"]])
        other = nil
        for i in 0..<3 { logs.click(shard: i % 2) }
        let alone = SQLiteSink(path: path)
        export(logs, alone)
        #expect(alone.journalMode == "truncate")
        #expect(!exists(path + "-wal"))
        let db = try SQLiteDatabase(path: path)
        #expect(try db.rows("PRAGMA journal_mode") == [["delete"]])
        #expect(try db.rows("SELECT count(*), count(DISTINCT click_ref) FROM clicks") == [["14", "14"]])
        #expect(try db.rows("SELECT sum(clicks) FROM rollup_clicks") == [["14"]])
    }

    /// A machine that stops in the middle of a COMMIT leaves the journal beside the store ("hot"): the
    /// image here is taken while another connection's transaction has spilled pages into the file. The
    /// exporter and `inspect` both see the store as it was before that transaction, and the exporter
    /// goes on from its committed positions.
    @Test func aCommitCutByACrashIsRolledBackByTheNextReader() throws {
        let dir = temporaryDirectory(), image = temporaryDirectory()
        defer { removeDirectory(dir); removeDirectory(image) }
        let path = SQLiteSink.path(dataDir: dir), imagePath = SQLiteSink.path(dataDir: image)
        let logs = TestLogs(shards: 1)
        for _ in 0..<7 { logs.click(shard: 0) }
        export(logs, SQLiteSink(path: path))
        let writer = try SQLiteDatabase(path: path)
        try writer.execute("""
            PRAGMA cache_size = 4; BEGIN IMMEDIATE;
            UPDATE export_positions SET records = records + 1000;
            CREATE TABLE filler (v BLOB);
            WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 200) INSERT INTO filler SELECT randomblob(4000) FROM n;
            """)
        try copy(path, imagePath)
        try copy(path + "-journal", imagePath + "-journal")
        try writer.execute("ROLLBACK")
        #expect(exists(imagePath + "-journal"))
        let lines = ExportInspection.lines(dataDir: image, clicks: logs.clicks, conversions: logs.conversions, refusals: logs.refusals)
        #expect(lines.dropFirst().first == "  shard 0: exported 7 clicks, 0 conversions, 0 refusals; not yet: 0, 0, 0", "\(lines)")
        for _ in 0..<4 { logs.click(shard: 0) }
        export(logs, SQLiteSink(path: imagePath))
        let db = try SQLiteDatabase(path: imagePath)
        #expect(try db.rows("SELECT count(*), count(DISTINCT click_ref) FROM clicks") == [["11", "11"]])
        #expect(try db.rows("SELECT records FROM export_positions WHERE log = 'clicks'") == [["11"]])
        #expect(try db.rows("SELECT count(*) FROM sqlite_master WHERE name = 'filler'") == [["0"]])
    }
}
