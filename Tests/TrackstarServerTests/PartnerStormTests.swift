// Live tests of a delivery storm's two cost cuts: postbacks to one endpoint reuse kept-alive
// connections (counted at the receiver), and pacing on a busy core (forced with the documented test
// hook TRACKSTAR_TEST_BUSY_CORE) drains the queue slower but sends every postback exactly once,
// every endpoint in turn.
import Foundation
import Testing
import TrackstarTestSupport

@Suite("partner postback storms", .serialized)
struct PartnerStormTests {
    /// Affiliates 7, 8 and 9 post back to `urls[0]`, `urls[1]` and `urls[2]` (the first for all when
    /// fewer are given).
    static func config(urls: [String], delivery: String) -> String {
        let affiliates = (0..<3).map { index in
            """
            [[affiliates]]
            id = \(7 + index)
            postback_url = "\(urls[min(index, urls.count - 1)])"
            """
        }.joined(separator: "\n\n")
        return """
        [export]
        sink = "none"

        [delivery]
        \(delivery)

        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}"
        payout = 2.50

        \(affiliates)
        """
    }

    /// Records a conversion for a new click of affiliate `aff`.
    static func convert(_ server: LiveServer, aff: Int) throws {
        let client = try server.connect()
        let r = try client.get("/click?offer_id=1&aff_id=\(aff)")
        #expect(r.status == 302)
        let location = try #require(r.header("Location"))
        let clickID = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
        #expect(try client.get("/postback?click_id=\(clickID)").status == 200)
    }

    @Test func postbacksToOneEndpointReuseKeptAliveConnections() throws {
        let receiver = try PartnerReceiver()
        let server = try LiveServer(config: Self.config(urls: ["\(receiver.endpoint)/pb?conv={conversion_id}"],
                                                        delivery: "max_per_endpoint = 2"))
        let count = 40
        for index in 0..<count { try Self.convert(server, aff: 7 + index % 3) }
        #expect(eventually(within: 30) { receiver.requests.count >= count })
        #expect(Set(receiver.requests.map(\.path)).count == count)  // each conversion's postback once
        // Two attempts at a time at most, each on a connection the last one left open.
        #expect(receiver.connections >= 1)
        #expect(receiver.connections <= 2, "\(receiver.connections) connections for \(count) postbacks")
    }

    @Test func pacingOnABusyCoreSendsEveryPostbackOnceAndServesEveryEndpoint() throws {
        let receivers = try (0..<3).map { _ in try PartnerReceiver() }
        let rate = 10, count = 30
        let server = try LiveServer(config: Self.config(urls: receivers.map { "\($0.endpoint)/pb?conv={conversion_id}" },
                                                        delivery: "rate_while_busy = \(rate)\nretry_base = \"1s\""),
                                    environment: ["TRACKSTAR_TEST_BUSY_CORE": "1"])
        for index in 0..<count { try Self.convert(server, aff: 7 + index % 3) }
        #expect(eventually(within: 60) { receivers.map(\.requests.count).reduce(0, +) >= count })
        let all = receivers.flatMap(\.requests).sorted { $0.millis < $1.millis }
        #expect(all.count == count)
        #expect(Set(all.map(\.path)).count == count)  // none twice, none lost
        // 30 starts at 10 a second: about 3 s from the first to the last, never much less.
        let span = (all.last?.millis ?? 0) - (all.first?.millis ?? 0)
        #expect(span >= 1_500, "30 postbacks in \(span) ms at \(rate) a second")
        // Each endpoint had its turn early on, none waited for the others' queues to drain.
        for (index, receiver) in receivers.enumerated() {
            let first = try #require(receiver.requests.map(\.millis).min())
            #expect(first < all[count / 2].millis, "endpoint \(index) first served at \(first)")
        }
        #expect(server.stderrText.contains("the dispatcher's core is busy; starting at most \(rate) postbacks a second"))
    }
}
