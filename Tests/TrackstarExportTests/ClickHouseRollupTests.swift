// ClickHouse roll-ups (a real clickhouse-server on loopback, ClickHouseSupport.swift is the server
// tests' file, linked): the same logs reported from roll-ups, from raw rows and from SQLite give the
// same figures; a batch re-sent after its positions were lost is not summed twice; a retraction and
// a store made before roll-ups stay exact; a request the roll-ups cannot answer reads raw rows and says so.
import Foundation
import ClickHouseTestSupport
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration
#if canImport(Glibc)
import Glibc
#endif

@Suite("ClickHouse roll-ups", .serialized, .enabled(if: ClickHouseServer.isInstalled, "clickhouse-server is not installed (make test installs it)"))
struct ClickHouseRollupTests {
    /// A server of the test's own and a database in it.
    struct Store {
        let server: ClickHouseServer
        let config: ExportConfig
        var database: String { config.database }

        init() throws {
            server = try ClickHouseServer()
            var config = ExportConfig()
            config.sink = .clickhouse
            config.url = server.url
            config.database = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
            self.config = config
        }

        /// Exports `logs` with a real exporter (batches of `batchRows`) until caught up, and stops it.
        func export(_ logs: TestLogs, batchRows: Int) throws {
            let exporter = Exporter(sink: try ClickHouseSink(config: config), source: logs.source(), batchRows: batchRows, batchAgeMillis: 10)
            exporter.start()
            #expect(eventually(within: 60) { exporter.lag().allSatisfy { $0.total == 0 } && exporter.status.connected })
            exporter.stop()
        }

        func backend() throws -> ReportBackend { try Reporter.backend(config: config, dataDir: "/nonexistent") }

        func query(_ sql: String) throws -> String { try server.query(sql) }

        /// Runs `statement` (a mutation) and waits until the database has none pending.
        func mutate(_ statement: String) throws {
            _ = try query(statement)
            #expect(eventually(within: 60) {
                (try? query("SELECT count() FROM system.mutations WHERE database = '\(database)' AND is_done = 0")) == "0\n"
            })
        }
    }

    /// Every request of the SQLite roll-up tests: from roll-ups (no note) equal to raw rows, in
    /// figures and in all three formats; and equal to `sqlite`'s answer when given.
    static func expectSame(_ store: Store, sqlite: ReportBackend? = nil, _ comment: String) throws {
        let backend = try store.backend()
        #expect(backend.hasRollups, "\(comment): the roll-ups do not cover the store")
        for request in try ReportRollupTests.requests() {
            let (fromRollups, _) = try ReportRollupTests.expectRollupsMatchRaw(request, on: backend, comment)
            if let sqlite {
                let other = try Reporter.run(request, on: sqlite)
                #expect(other.note == nil && fromRollups == other, "\(comment): \(request.groupBy)\nClickHouse \(fromRollups)\nSQLite \(other)")
            }
        }
    }

    @Test func rollupsGiveTheRawRowsFiguresAndTheSQLiteReport() throws {
        let store = try Store()
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 120)
        ReportRollupTests.transitions(logs)
        try store.export(logs, batchRows: 7)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(logs, to: dir, batchRows: 11)
        try ClickHouseRollupTests.expectSame(store, sqlite: try Reporter.backend(config: ExportConfig(), dataDir: dir), "after export")
        // The roll-ups really answer: with the raw clicks deleted they still count 120.
        try store.mutate("ALTER TABLE \(store.database).clicks DELETE WHERE 1")
        let backend = try store.backend()
        #expect(try Reporter.run(ReportRequest(groupBy: [.offer]), on: backend).totals.clicks == 120)
        var raw = ReportRequest(groupBy: [.offer])
        raw.useRollups = false
        #expect(try Reporter.run(raw, on: backend).totals.clicks == 0)
    }

    /// A crash after a batch's rows and sums were written but before its positions: the exporter
    /// sends the records again from the older positions, in batches cut elsewhere. The raw rows
    /// collapse; the marks keep the sums from counting them twice.
    @Test func aBatchSentAgainAfterItsPositionsWereLostIsSummedOnce() throws {
        let store = try Store()
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 120)
        try store.export(logs, batchRows: 7)
        let before = try Reporter.run(ReportRequest(groupBy: [.offer, .day]), on: try store.backend())
        #expect(before.totals.clicks == 120 && before.note == nil)
        try store.mutate("ALTER TABLE \(store.database).export_positions DELETE WHERE log IN ('clicks', 'conversions', 'refusals')")
        _ = try store.query("INSERT INTO \(store.database).export_positions VALUES (0, 'clicks', 13, 0, now()), (0, 'refusals', 2, 0, now())")
        try store.export(logs, batchRows: 5)
        #expect(try store.query("SELECT max(records) FROM \(store.database).export_positions WHERE log = 'clicks' AND shard = 1") == "60\n",
                "the records were not sent again")
        let after = try Reporter.run(ReportRequest(groupBy: [.offer, .day]), on: try store.backend())
        #expect(after == before, "re-sent:\n\(after)\nfirst:\n\(before)")
        #expect(try store.query("SELECT offer_id, sum(clicks) FROM \(store.database).rollup_sums WHERE level = 255 GROUP BY offer_id ORDER BY offer_id")
                == "0\t120\n2\t15\n")
        try ClickHouseRollupTests.expectSame(store, "after the re-sent batches")
    }

    /// A cut log (recovery after a machine crash): the sums lose the retracted records, new records
    /// reusing their sequence numbers are summed, and the report equals SQLite's of the same logs.
    @Test func rollupsFollowARetraction() throws {
        let store = try Store()
        let before = TestLogs(shards: 2)
        ReportRollupTests.fill(before, clicks: 60)
        try store.export(before, batchRows: 9)
        let after = TestLogs(shards: 2)
        ReportRollupTests.fill(after, clicks: 41)
        ReportRollupTests.fill(after, clicks: 4, tag: "b")
        try store.export(after, batchRows: 9)
        let dir = temporaryDirectory()  // SQLite through the same history: the records below the cut stay as first exported
        defer { removeDirectory(dir) }
        SQLiteSinkTests().export(before, to: dir, batchRows: 9)
        SQLiteSinkTests().export(after, to: dir, batchRows: 9)
        try ClickHouseRollupTests.expectSame(store, sqlite: try Reporter.backend(config: ExportConfig(), dataDir: dir), "after retraction")
        #expect(try Reporter.run(ReportRequest(), on: try store.backend()).totals.clicks == 45)
    }

    /// A store made before roll-ups reports from raw rows until an exporter with roll-ups writes to
    /// it; its first batch fills the sums of every earlier record, its open the conversion sums.
    @Test func aStoreFromBeforeRollupsIsReportedFromRawRowsThenFilled() throws {
        let store = try Store()
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 50)
        try store.export(logs, batchRows: 10)
        let expected = try Reporter.run(ReportRequest(groupBy: [.offer, .country]), on: try store.backend())
        for view in ClickHouseRollups.views { _ = try store.query("DROP TABLE \(store.database).\(view)") }
        for table in ["rollup_sums", "rollup_conversion_sums"] { _ = try store.query("DROP TABLE \(store.database).\(table)") }
        let old = try store.backend()
        #expect(!old.hasRollups)
        let fromRaw = try Reporter.run(ReportRequest(groupBy: [.offer, .country]), on: old)
        #expect(fromRaw == expected && fromRaw.note == nil)
        ReportRollupTests.fill(logs, clicks: 10, tag: "c")  // more records after the upgrade
        try store.export(logs, batchRows: 10)
        try ClickHouseRollupTests.expectSame(store, "after the upgrade")
        #expect(try Reporter.run(ReportRequest(), on: try store.backend()).totals.clicks == 60)
    }

    /// Columns the roll-ups lack: raw rows, and the report says so.
    @Test func aColumnTheRollupsLackIsReadFromRawRowsAndSaid() throws {
        let store = try Store()
        let logs = TestLogs(shards: 2)
        ReportRollupTests.fill(logs, clicks: 20)
        try store.export(logs, batchRows: 50)
        let backend = try store.backend()
        let bySub = try Reporter.run(ReportRequest(groupBy: [.offer, .sub1]), on: backend)
        #expect(bySub.note?.contains("the roll-ups have no sub1") == true, "\(bySub.note ?? "nil")")
        #expect(ReportFormat.table.render(bySub, request: ReportRequest()).hasSuffix("\n(\(bySub.note ?? ""))\n"))
        #expect(bySub.totals.clicks == 20)
        #expect(try Reporter.run(ReportRequest(groupBy: [.offer, .country]), on: backend).note == nil)
        let halfHour = try Reporter.run(ReportRequest(fromMillis: ReportRollupTests.start + 1_800_000, groupBy: [.offer]), on: backend)
        #expect(halfHour.note?.contains("--from is not on a whole hour") == true)
    }
}

