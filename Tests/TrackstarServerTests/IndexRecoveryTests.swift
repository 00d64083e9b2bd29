// In process: recovery rebuilds the conversion index from the live window only — conversions whose
// order-id window and click lifetime have passed are skipped — and a repeat inside the window is
// still a duplicate after the restart.
import Foundation
import Testing
import TrackstarCore
import TrackstarServer
import TrackstarConfiguration

@Suite struct IndexRecoveryTests {
    func answer(_ endpoint: LocalEndpoint, _ request: String, at millis: Int64) -> String {
        Array(request.utf8).withUnsafeBytes { String(decoding: endpoint.handle($0, nowMillis: millis), as: UTF8.self) }
    }

    func click(_ endpoint: LocalEndpoint, at millis: Int64) throws -> String {
        let response = answer(endpoint, "GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n", at: millis)
        let start = try #require(response.range(of: "cid="))
        return String(response[start.upperBound...].prefix(26))
    }

    @Test func recoveryRebuildsOnlyLiveKeys() throws {
        var config = TrackstarConfig()
        config.storage.dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-index-\(UUID().uuidString)").path
        config.storage.fsync = .none
        config.offers = [OfferConfig(id: 1, url: "https://shop.example/l?cid={click_id}")]
        config.affiliates = [AffiliateConfig(id: 7)]
        defer { try? FileManager.default.removeItem(atPath: config.storage.dataDir) }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let old = now - 100 * 86_400_000  // past the 90-day order-id window and the 30-day lifetime
        var live: [(id: String, txid: String)] = []
        do {
            let endpoint = try LocalEndpoint(config: config)
            for i in 0..<50 {
                let id = try click(endpoint, at: old)
                #expect(answer(endpoint, "GET /postback?click_id=\(id)&txid=old-\(i) HTTP/1.1\r\nHost: t\r\n\r\n", at: old + 60_000)
                    .hasPrefix("HTTP/1.1 200"))
            }
            for i in 0..<50 {
                let id = try click(endpoint, at: now)
                #expect(answer(endpoint, "GET /postback?click_id=\(id)&txid=new-\(i) HTTP/1.1\r\nHost: t\r\n\r\n", at: now)
                    .hasPrefix("HTTP/1.1 200"))
                live.append((id, "new-\(i)"))
            }
            #expect(endpoint.indexStats.liveKeys == 200)
        }
        let reopened = try LocalEndpoint(config: config)
        #expect(reopened.indexStats.liveKeys == 100)  // two keys for each of the 50 live conversions
        let repeated = answer(reopened, "GET /postback?click_id=\(live[7].id)&txid=\(live[7].txid) HTTP/1.1\r\nHost: t\r\n\r\n", at: now + 1000)
        #expect(repeated.hasPrefix("HTTP/1.1 200") && repeated.contains("\"duplicate\":true"), "\(repeated)")
    }
}
