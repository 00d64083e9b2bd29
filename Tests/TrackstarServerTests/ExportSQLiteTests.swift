// The reporting feed end to end with the real binary and the default SQLite sink: what clients were
// told comes back out of `trackstar report`; kill -9 during export loses and doubles nothing; a
// locked database delays export without slowing clicks, and it catches up by itself.
import Foundation
import Testing
import TrackstarCore
import TrackstarExport
#if canImport(Glibc)
import Glibc
#endif

/// The live-test config with fast batches (so a kill lands mid-export).
func exportConfig(_ export: String = "") -> String {
    LiveServer.defaultConfig + "\n\n[export]\nbatch_rows = 25\nbatch_age = \"20ms\"\n" + export
}

@Suite("export to SQLite", .serialized)
struct ExportSQLiteTests {
    @Test func reportEqualsWhatWasSent() throws {
        let server = try LiveServer(config: exportConfig())
        let sent = try sendMixedTraffic(server, tag: "a")
        let out = try reportWhenCaughtUp(server, sent)
        #expect(out.matches(sent), "report \(out.summary) vs sent \(sent)")
        let metrics = try server.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_export_lag_records{shard=\"0\",log=\"clicks\"} 0\n"), "\(metrics)")
        #expect(metrics.contains("trackstar_export_connected 1\n") && metrics.contains("trackstar_export_failures 0\n"), "\(metrics)")
        #expect(sent.refusals == ["bad_token": 2, "unknown_event": 1, "malformed_id": 1, "unreplaced_macro": 1])

        let byOffer = try report(server, ["--group-by", "offer"])
        for row in byOffer.rows {
            let offer = row["offer"] as? Int ?? -1
            #expect(row["clicks"] as? Int == sent.clicksByOffer[offer], "offer \(offer): \(row)")
            #expect(row["conversions"] as? Int == (sent.conversionsByOffer[offer] ?? 0), "offer \(offer): \(row)")
        }
        let bySub = try report(server, ["--group-by", "sub1,source,event"])
        let s0 = bySub.rows.first { $0["sub1"] as? String == "s0" && $0["event"] as? String == "" }
        #expect(s0?["clicks"] as? Int == 10, "\(bySub.rows)")
        #expect(s0?["source"] as? String == "news")
        let upsells = bySub.rows.filter { $0["event"] as? String == "upsell" }.reduce(0) { $0 + ($1["conversions"] as? Int ?? 0) }
        #expect(upsells == 6, "\(bySub.rows)")

        server.stop()
        let db = try SQLiteDatabase(path: server.dataPath + "/report.sqlite")
        let rows = try db.rows("SELECT click_id, ip, aff_click_id FROM clicks WHERE aff_click_id = 'ac7'")
        #expect(rows.count == 1 && rows[0][0]?.count == 26 && rows[0][1] == "127.0.0.1", "\(rows)")
        let params = try db.rows("SELECT params FROM refusals WHERE reason = 'bad_token'")
        #expect(params.count == 2 && params.allSatisfy { $0[0]?.contains("token=wrong") == true }, "\(params)")
        let amount = try db.rows("SELECT count(*) FROM conversions WHERE amount_micros = 10500000 AND currency = 'USD'")
        #expect(amount == [["10"]])
    }

    @Test func killNineDuringExportThenRestartGivesExactCounts() throws {
        let (server, _) = try killNineRoundsThenTheReportEqualsTheLogs(config: exportConfig(), rounds: 3)
        let db = try SQLiteDatabase(path: server.dataPath + "/report.sqlite")
        let distinct = try db.rows("SELECT count(*), count(DISTINCT txid) FROM conversions")
        #expect(distinct.first?[0] == distinct.first?[1], "a conversion was doubled: \(distinct)")
        // The roll-ups went through the kills with the rows: the same report from both.
        let backend = try SQLiteReportBackend(path: server.dataPath + "/report.sqlite")
        for groupBy: [ReportDimension] in [[], [.offer, .affiliate, .hour]] {
            var raw = ReportRequest(groupBy: groupBy)
            raw.useRollups = false
            #expect(try Reporter.run(ReportRequest(groupBy: groupBy), on: backend) == (try Reporter.run(raw, on: backend)), "\(groupBy)")
        }
    }

    /// Issue 14's facts in the feed: a capped offer's overflow clicks are exported with their reason
    /// and destination, and `trackstar report --group-by trafficback_reason` counts them.
    @Test func overflowClicksOfACappedOfferAreReportedByReason() throws {
        let server = try LiveServer(config: TrafficControlTests.capConfig + "\n\n[export]\nbatch_rows = 25\nbatch_age = \"20ms\"\n")
        let c = try server.connect()
        for i in 0..<14 { #expect(try c.get("/click?offer_id=1&aff_id=7&sub1=k\(i)").status == 302) }
        let out = try reportUntil(server, ["--group-by", "trafficback_reason,smartlink"]) { $0.totals["clicks"] as? Int == 14 }
        let byReason = Dictionary(uniqueKeysWithValues: out.rows.map { ($0["trafficback_reason"] as? String ?? "?", $0["clicks"] as? Int ?? -1) })
        #expect(byReason == ["": 10, "cap_reached": 4], "\(out.rows)")
        #expect(out.rows.allSatisfy { $0["smartlink"] as? Int == 0 }, "\(out.rows)")
        #expect(out.object["note"] == nil, "the roll-ups did not answer: \(out.object["note"] ?? "")")
        server.stop()
        let db = try SQLiteDatabase(path: server.dataPath + "/report.sqlite")
        #expect(try db.rows("SELECT trafficback_reason, destination, requested_offer, count(*) FROM clicks GROUP BY 1, 2, 3 ORDER BY 1")
                == [["", "offer", "0", "10"], ["cap_reached", "server_trafficback_url", "1", "4"]])
    }

    @Test func lockedDatabaseDelaysExportAndCatchesUpWithoutSlowingClicks() throws {
        let server = try LiveServer(config: exportConfig())
        var sent = try sendMixedTraffic(server, tag: "before")
        #expect(try reportWhenCaughtUp(server, sent).matches(sent))
        let other = try SQLiteDatabase(path: server.dataPath + "/report.sqlite")
        try other.execute("BEGIN IMMEDIATE")  // another writer holds the database: the sink is unavailable
        let started = Date()
        sent.add(try sendMixedTraffic(server, tag: "during"))
        #expect(Date().timeIntervalSince(started) < 10, "clicks slowed down while the sink was unavailable")
        let during = try report(server)  // readers still work in WAL mode
        #expect(during.totals["clicks"] as? Int ?? 0 < sent.clicks, "exported while locked? \(during.summary)")
        try other.execute("COMMIT")
        let after = try reportWhenCaughtUp(server, sent)
        #expect(after.matches(sent), "report \(after.summary) vs sent \(sent)")
    }

    @Test func rowsOfRecordsRecoveryCutAreRemoved() throws { try checkRowsOfCutRecordsAreRemoved(exportConfig()) }
}

/// A machine crash before fsync: the store got rows of records that recovery then cuts (here the
/// last 3 click slots zeroed, as an unwritten tail). After the restart the store equals the logs:
/// the 3 rows are gone (no phantom rows), and new clicks reusing their sequence numbers are theirs.
/// `afterKill` may change the store before the restart; the restarted server's log says `logSays`.
func checkRowsOfCutRecordsAreRemoved(_ exportConfig: String, logSays: String = "removing the rows past it",
                                     afterKill: () throws -> Void = {}) throws {
    let config = exportConfig + "\n[storage]\nsnapshot_interval = \"1h\"\n"  // no manifest vouches for the tail
    let first = try LiveServer(config: config, loops: 1)
    first.ownsDataDir = false
    let c = try first.connect()
    for i in 0..<10 { #expect(try c.get("/click?offer_id=1&aff_id=7&sub1=old\(i)").status == 302) }
    #expect(try reportUntil(first) { $0.totals["clicks"] as? Int == 10 }.totals["clicks"] as? Int == 10)
    first.kill9()
    try afterKill()
    let segment = first.dataPath + "/shard-0/clicks-000000.rec"
    let handle = try #require(FileHandle(forUpdatingAtPath: segment))
    try handle.seek(toOffset: 7 * 64)
    try handle.write(contentsOf: Data(count: 3 * 64))  // records 7, 8 and 9 never reached the disk
    try handle.close()

    let restarted = try LiveServer(config: config, loops: 1, dataDir: first.dataDir)
    #expect(restarted.startupOutput.contains("shard 0: 7 clicks"), "\(restarted.startupOutput)")  // the zeroed tail is cut
    let cut = try reportUntil(restarted) { $0.totals["clicks"] as? Int == 7 }
    #expect(cut.totals["clicks"] as? Int == 7, "rows of cut records stayed: \(cut.summary)")
    let d = try restarted.connect()
    for i in 0..<2 { #expect(try d.get("/click?offer_id=1&aff_id=7&sub1=new\(i)").status == 302) }
    let after = try reportUntil(restarted, ["--group-by", "sub1"]) { $0.totals["clicks"] as? Int == 9 }
    let subs = Set(after.rows.compactMap { $0["sub1"] as? String })
    #expect(subs == Set((0..<7).map { "old\($0)" } + ["new0", "new1"]), "\(after.rows)")
    restarted.stop()
    #expect(restarted.stderrText.contains(logSays), "\(restarted.stderrText)")
}
