// Status updates in the ClickHouse store: the conversion's row is written again per transition with
// a higher version (ReplacingMergeTree(version): FINAL reads the current status), the transitions
// land in `conversion_transitions`, and the report equals the SQLite report of the same logs. Rows are
// checked once the exporter's committed positions cover them (never after a fixed pause).
import Foundation
import ClickHouseTestSupport
import Testing
import TrackstarCore
import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration

@Suite("status updates in ClickHouse", .serialized, .enabled(if: ClickHouseServer.isInstalled, "clickhouse-server is not installed (make test installs it)"))
struct StatusUpdateClickHouseTests {
    @Test func transitionsAreVersionedRowsAndReportLikeSQLite() throws {
        let ch = try ClickHouseServer()
        let database = "t_st_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
        let server = try LiveServer(config: exportConfig("sink = \"clickhouse\"\nurl = \"\(ch.url)\"\ndatabase = \"\(database)\"\n"))
        let c = try server.connect()
        func click() throws -> String { try #require(clickID(try c.get("/click?offer_id=1&aff_id=7"))) }
        // One conversion pending → approved → rejected, one pending → approved, one left pending.
        let reversed = try click(), approved = try click(), pending = try click()
        let reversedID = try #require(try c.get("/postback?click_id=\(reversed)&txid=r1&status=pending").json["conversion_id"] as? Int)
        #expect(try c.get("/postback?click_id=\(approved)&txid=a1&status=pending").status == 200)
        #expect(try c.get("/postback?click_id=\(pending)&txid=p1&status=pending").status == 200)
        #expect(try c.get("/postback?click_id=\(reversed)&txid=r1&status=approved").json["updated"] as? Bool == true)
        #expect(try c.get("/postback?click_id=\(approved)&txid=a1&status=approved&amount=12.5").json["updated"] as? Bool == true)
        #expect(try c.get("/postback?click_id=\(reversed)&txid=r1&status=rejected").json["updated"] as? Bool == true)

        let out = try reportUntil(server, seconds: 60) { micros($0.totals["rejected_payout"]) == 2_500_000 && micros($0.totals["payout"]) == 2_500_000 }
        // The report can show the final statuses while the batch's `conversion_transitions` insert is
        // still on its way (the sink inserts conversions, then transitions, then the positions). Wait
        // for the exporter's committed positions, inserted last: 3 clicks; 3 conversions + 3 transitions.
        let committed = Self.committedRecords(ch, database, until: ["clicks": 3, "conversions": 6])
        #expect(committed["clicks"] == 3 && committed["conversions"] == 6, "committed positions \(committed)")
        #expect(micros(out.totals["pending_payout"]) == 2_500_000 && out.totals["conversions"] as? Int == 2, "\(out.summary)")
        #expect(try ch.query("SELECT status, version FROM \(database).conversions FINAL WHERE conversion_id = \(reversedID)")
                == "rejected\t2\n")
        #expect(try ch.query("SELECT previous_status, status, actor FROM \(database).conversion_transitions "
                             + "WHERE conversion_id = \(reversedID) ORDER BY version") == "pending\tapproved\tpostback\napproved\trejected\tpostback\n")
        #expect(try ch.query("SELECT amount_micros FROM \(database).conversion_transitions WHERE amount_micros IS NOT NULL") == "12500000\n")
        server.stop()

        let sqlitePath = server.dataDir + "/compare.sqlite"
        #expect(exportToSQLite(dataDir: server.dataPath, path: sqlitePath))
        var config = ExportConfig()
        config.sink = .clickhouse
        config.url = ch.url
        config.database = database
        let fromClickHouse = try Reporter.run(ReportRequest(groupBy: [.offer]), on: try Reporter.backend(config: config, dataDir: server.dataPath))
        let fromSQLite = try Reporter.run(ReportRequest(groupBy: [.offer]), on: try SQLiteReportBackend(path: sqlitePath))
        #expect(fromClickHouse == fromSQLite, "ClickHouse \(fromClickHouse) vs SQLite \(fromSQLite)")
        let db = try SQLiteDatabase(path: sqlitePath)
        #expect(try db.rows("SELECT count(*) FROM conversion_transitions") == [["3"]])
    }

    /// Records per log that the exporter has committed to ClickHouse (`export_positions`: the highest
    /// position of each shard, summed), polled until they reach `until` or a minute has passed.
    static func committedRecords(_ ch: ClickHouseServer, _ database: String, until: [String: Int]) -> [String: Int] {
        var last: [String: Int] = [:]
        _ = eventually(within: 60, every: 0.1) {
            let text = (try? ch.query("SELECT log, sum(top) FROM (SELECT shard, log, max(records) AS top FROM \(database).export_positions "
                                      + "GROUP BY shard, log) GROUP BY log FORMAT TabSeparated")) ?? ""
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: "\t")
                if fields.count == 2, let records = Int(fields[1]) { last[String(fields[0])] = records }
            }
            return until.allSatisfy { last[$0.key, default: 0] >= $0.value }
        }
        return last
    }
}
