// Live test of delivery-log compaction (issue 21): a running server with a small `compact_after`
// moves finished postbacks to the archive while it delivers; the counts, the failures and the
// pending postbacks all survive it and a restart, and nothing is sent twice.
import Foundation
import Testing
import TrackstarTestSupport

@Suite("partner delivery log compaction", .serialized)
struct PartnerCompactionTests {
    typealias P = PartnerPostbackTests

    static func convert(_ server: LiveServer, affiliate: Int) throws {
        let r = try server.connect().get("/click?offer_id=1&aff_id=\(affiliate)")
        let location = try #require(r.header("Location"))
        let click = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
        #expect(try server.connect().get("/postback?click_id=\(click)").status == 200)
    }

    @Test func aRunningServerCompactsItsDeliveryLogAndLosesNothing() throws {
        let good = try PartnerReceiver([]), bad = try PartnerReceiver(["--always-status", "404"])
        let config = P.config(url: "\(good.endpoint)/ok?c={conversion_id}", delivery: "compact_after = 10",
                              extra: "postback_url = \"\(bad.endpoint)/no?c={conversion_id}\"")
        let server = try LiveServer(config: config)
        server.ownsDataDir = false
        let dataDir = server.dataDir
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        for i in 0..<40 { try Self.convert(server, affiliate: i % 8 == 0 ? 8 : 7) }
        let finished = try eventually(within: 30) {
            let report = try P.deliveries(server)
            let delivered = P.endpoint(report, good.endpoint)?["delivered"] as? Int, failed = P.endpoint(report, bad.endpoint)?["failed"] as? Int
            return delivered == 35 && failed == 5
        }
        #expect(finished)
        #expect(try eventually(within: 20) { server.stderrText.contains("deliveries: compacted the delivery log") })
        let entries = try FileManager.default.contentsOfDirectory(atPath: server.dataPath + "/deliveries")
        #expect(entries.contains("archive") && entries.contains { $0.hasPrefix("gen-") }, "\(entries)")
        // The history keeps every failure; the counts are the same from the live log alone.
        let history = try P.deliveries(server, failed: true)
        #expect((history["failures"] as? [[String: Any]])?.count == 5)
        #expect(history["failed_now"] as? Int == 5)
        server.stop()

        // A restart reads the compacted log: same counts, nothing sent again; new work goes on.
        let restarted = try LiveServer(config: config, dataDir: dataDir)
        restarted.ownsDataDir = false
        try Self.convert(restarted, affiliate: 7)
        #expect(try eventually(within: 30) { (P.endpoint(try P.deliveries(restarted), good.endpoint)?["delivered"] as? Int) == 36 })
        let report = try P.deliveries(restarted)
        #expect(P.endpoint(report, bad.endpoint)?["failed"] as? Int == 5 && report["failed_now"] as? Int == 5)
        #expect(report["pending"] as? Int == 0)
        #expect(good.requests.count == 36, "each postback sent once: \(good.requests.count)")
        #expect(bad.requests.count == 5)
        let affiliate = try #require((report["affiliates"] as? [[String: Any]])?.first { $0["aff_id"] as? Int == 7 })
        #expect(affiliate["delivered"] as? Int == 36 && affiliate["queued"] as? Int == 36)
    }
}
