// Live tests of conversion status updates: a repeated postback with a new status changes the
// conversion once (pending → approved → rejected), the report's money follows, the affiliate's
// postback fires on the approval, forbidden changes are refused naming both statuses, and racing
// updates leave one history that survives kill -9.
import Foundation
import Synchronization
import Testing
import TrackstarExport
import TrackstarTestSupport

@Suite("conversion status updates", .serialized)
struct StatusUpdateTests {
    /// Offer 1 pays 2.50 (revenue 4); affiliate 7 posts back to `url` (default statuses: approved).
    static func config(url: String? = nil, extra: String = "") -> String {
        """
        [export]
        batch_rows = 25
        batch_age = "20ms"

        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}"
        payout = 2.50
        revenue = 4

        [[affiliates]]
        id = 7
        \(url.map { "postback_url = \"\($0)\"" } ?? "")
        \(extra)
        """
    }

    static func click(_ c: TestConnection) throws -> String {
        try #require(clickID(try c.get("/click?offer_id=1&aff_id=7")))
    }

    /// The one SQLite row of `sql` (columns as text), polled until `done` holds.
    static func sqlite(_ server: LiveServer, _ sql: String, until done: ([[String?]]) -> Bool) -> [[String?]] {
        var rows: [[String?]] = []
        _ = eventually(within: 30, every: 0.2) {
            guard let db = try? SQLiteDatabase(path: server.dataPath + "/report.sqlite", busyTimeoutMillis: 5000),
                  let found = try? db.rows(sql) else { return false }
            rows = found
            return done(rows)
        }
        return rows
    }

    @Test func pendingThenApprovedThenRejectedMovesTheMoneyAndFiresOnce() throws {
        let receiver = try PartnerReceiver()
        let server = try LiveServer(config: Self.config(url: "\(receiver.endpoint)/pb?c={conversion_id}&s={status}&p={payout}"))
        let c = try server.connect()
        let id = try Self.click(c)
        let pending = try c.get("/postback?click_id=\(id)&txid=o-1&status=pending")
        #expect(pending.status == 200 && pending.json["status"] as? String == "pending" && pending.json["updated"] == nil)
        let conversion = try #require(pending.json["conversion_id"] as? Int)
        var out = try reportUntil(server) { micros($0.totals["pending_payout"]) == 2_500_000 }
        #expect(micros(out.totals["payout"]) == 0 && out.totals["conversions"] as? Int == 1)

        // pending → approved: the same click, event and order id with a new status.
        let approved = try c.get("/postback?click_id=\(id)&txid=o-1&status=approved")
        #expect(approved.status == 200, "\(approved.body)")
        #expect(approved.json["status"] as? String == "approved" && approved.json["updated"] as? Bool == true)
        #expect(approved.json["previous_status"] as? String == "pending" && approved.json["conversion_id"] as? Int == conversion)
        let again = try c.get("/postback?click_id=\(id)&txid=o-1&status=approved")
        #expect(again.json["duplicate"] as? Bool == true && again.json["updated"] == nil && again.json["status"] as? String == "approved")
        out = try reportUntil(server) { micros($0.totals["payout"]) == 2_500_000 }
        #expect(micros(out.totals["pending_payout"]) == 0 && micros(out.totals["revenue"]) == 4_000_000)
        // The approval fires the affiliate's postback (approved only, the default) once.
        #expect(eventually(within: 20) { receiver.requests.count >= 1 })
        #expect(receiver.requests.first?.path == "/pb?c=\(conversion)&s=approved&p=2.50")

        // approved → rejected (a reversal): recorded and reported; rejected is not sent by default.
        let rejected = try c.get("/postback?click_id=\(id)&txid=o-1&status=rejected")
        #expect(rejected.json["updated"] as? Bool == true && rejected.json["previous_status"] as? String == "approved")
        out = try reportUntil(server) { micros($0.totals["rejected_payout"]) == 2_500_000 }
        #expect(micros(out.totals["payout"]) == 0 && out.totals["conversions"] as? Int == 0)

        // Rejected is final: the refusal names both statuses.
        let refused = try c.get("/postback?click_id=\(id)&txid=o-1&status=approved")
        #expect(refused.status == 409 && refused.json["reason"] as? String == "forbidden_transition")
        let message = try #require(refused.json["message"] as? String)
        #expect(message.contains("rejected") && message.contains("approved"), "\(message)")

        // Both transitions, with their actor, in the SQLite store; the conversion row is current.
        let rows = Self.sqlite(server, "SELECT previous_status, status, version, actor FROM conversion_transitions "
                                  + "WHERE conversion_id = \(conversion) ORDER BY version") { $0.count == 2 }
        #expect(rows == [["pending", "approved", "1", "postback"], ["approved", "rejected", "2", "postback"]])
        #expect(Self.sqlite(server, "SELECT status, version FROM conversions WHERE conversion_id = \(conversion)") { !$0.isEmpty }
                == [["rejected", "2"]])
        #expect(try eventually(within: 20) {
            (PartnerPostbackTests.endpoint(try PartnerPostbackTests.deliveries(server), receiver.endpoint)?["delivered"] as? Int) == 1
        })
        #expect(receiver.requests.count == 1, "\(receiver.requests)")
        let metrics = try server.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_postbacks_total{result=\"updated\",reason=\"\"} 2"), "\(metrics)")
    }

    @Test func aReversalGoesToTheReversalURL() throws {
        let receiver = try PartnerReceiver()
        let server = try LiveServer(config: Self.config(
            url: "\(receiver.endpoint)/pb?c={conversion_id}&s={status}", extra: "reversal_url = \"\(receiver.endpoint)/reverse?c={conversion_id}\""))
        let c = try server.connect()
        let id = try Self.click(c)
        let conversion = try #require(try c.get("/postback?click_id=\(id)").json["conversion_id"] as? Int)
        #expect(eventually(within: 20) { receiver.requests.count == 1 })
        #expect(try c.get("/postback?click_id=\(id)&status=rejected").json["updated"] as? Bool == true)
        #expect(eventually(within: 20) { receiver.requests.count == 2 })
        #expect(receiver.requests.map(\.path) == ["/pb?c=\(conversion)&s=approved", "/reverse?c=\(conversion)"])
    }

    @Test func racingUpdatesLeaveOneHistoryThatSurvivesKillNine() throws {
        let server = try LiveServer(config: Self.config(), loops: 2)
        server.ownsDataDir = false
        defer { try? FileManager.default.removeItem(atPath: server.dataDir) }
        let c = try server.connect()
        let id = try Self.click(c)
        let conversion = try #require(try c.get("/postback?click_id=\(id)&txid=race&status=pending").json["conversion_id"] as? Int)
        let answers = Mutex<[TestResponse]>([])
        let port = server.port
        runTogether(threads: 16) { i in
            guard let connection = try? TestConnection(port: port),
                  let r = try? connection.get("/postback?click_id=\(id)&txid=race&status=\(i % 2 == 0 ? "approved" : "rejected")") else { return }
            answers.withLock { $0.append(r) }
        }
        let all = answers.withLock { $0 }
        #expect(all.count == 16)
        let updates = all.filter { $0.json["updated"] as? Bool == true }
        // Exactly one update left pending; anything after it is a reversal (approved → rejected).
        #expect(updates.filter { $0.json["previous_status"] as? String == "pending" }.count == 1, "\(all)")
        #expect(updates.count <= 2)
        for answer in all {
            let reason = answer.json["reason"] as? String
            #expect(answer.status == 200 || reason == "conflicting_update" || reason == "forbidden_transition", "\(answer)")
        }
        let final = try #require(try c.get("/postback?click_id=\(id)&txid=race").json["status"] as? String)
        let history = updates.map { $0.json["status"] as? String ?? "" }.sorted { a, _ in a == "approved" }
        #expect(history.last == final, "updates \(history), final \(final)")

        server.kill9()
        let restarted = try LiveServer(config: Self.config(), loops: 2, dataDir: server.dataDir)
        restarted.ownsDataDir = false
        let after = try restarted.connect().get("/postback?click_id=\(id)&txid=race")
        #expect(after.json["status"] as? String == final && after.json["conversion_id"] as? Int == conversion)
        let rows = Self.sqlite(restarted, "SELECT count(*) FROM conversion_transitions WHERE conversion_id = \(conversion)") {
            $0 == [["\(updates.count)"]]
        }
        #expect(rows == [["\(updates.count)"]])
        #expect(Self.sqlite(restarted, "SELECT status FROM conversions WHERE conversion_id = \(conversion)") { $0 == [[final]] } == [[final]])
    }

    @Test func theOperatorChangesAStatusByIDWithAReason() throws {
        let text = Self.config() + "\n[admin]\nlisten = \"127.0.0.1:0\"\n"
        let server = try LiveServer(config: text)
        let c = try server.connect()
        let id = try Self.click(c)
        let conversion = try #require(try c.get("/postback?click_id=\(id)&status=pending").json["conversion_id"] as? Int)
        let admin = try server.admin()
        #expect(try eventually(within: 10) { try admin.get("/readyz").status == 200 })
        func post(_ path: String) throws -> TestResponse {
            try admin.request("POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        }
        #expect(try post("/conversions/\(conversion)/status?status=approved").status == 400)  // no reason
        #expect(try post("/conversions/\(conversion)/status?status=paid&reason=x").status == 400)
        #expect(try post("/conversions/999999/status?status=approved&reason=x").status == 404)
        // The CLI, through the admin listener named in its configuration.
        let cliConfig = server.dataDir + "/cli.toml"
        try text.replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(try server.adminPort())")
            .write(toFile: cliConfig, atomically: true, encoding: .utf8)
        let run = try LiveServer.run(["update-conversion", "\(conversion)", "--status", "approved", "--reason", "validated by call center",
                                      "--config", cliConfig])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\"previous_status\":\"pending\"") && run.stdout.contains("\"updated\":true"), "\(run.stdout)")
        #expect(try c.get("/postback?click_id=\(id)").json["status"] as? String == "approved")
        let forbidden = try post("/conversions/\(conversion)/status?status=pending&reason=oops")
        #expect(forbidden.status == 409 && forbidden.body.contains("from approved to pending"), "\(forbidden.body)")
        let again = try LiveServer.run(["update-conversion", "\(conversion)", "--status", "pending", "--reason", "oops", "--config", cliConfig])
        #expect(again.status == 1 && again.stderr.contains("forbidden_transition"), "\(again.stderr)")
        let rows = Self.sqlite(server, "SELECT actor, detail FROM conversion_transitions WHERE conversion_id = \(conversion)") { !$0.isEmpty }
        #expect(rows == [["operator", "validated by call center"]])
    }
}
