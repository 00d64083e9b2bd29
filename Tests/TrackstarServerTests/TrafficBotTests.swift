// Live test of bots on offers with `bot_action = "fallback"` entering the trafficback chain (issue 14
// item 3): redirect_offer_id (skipping offers that do not take bots), the offer's trafficback_url, the
// affiliate's, the server's; each recorded with reason `bot`, its destination and the requested offer.
// Smart links draw a bot only among offers that take bots (`bot_action = "flag"`); with none, the
// link's offers that say `fallback` or `refuse` decide.
import Foundation
import Testing
import TrackstarStore
import TrackstarTestSupport

@Suite(.serialized) struct TrafficBotTests {
    static let config = """
        [server]
        trafficback_url = "https://server-tb.example/?cid={click_id}"

        [[offers]]
        id = 1
        url = "https://one.example/?cid={click_id}"
        fallback_url = "https://one-fallback.example/"
        bot_action = "fallback"
        redirect_offer_id = 2

        [[offers]]
        id = 2
        url = "https://two.example/?cid={click_id}"
        bot_action = "refuse"
        redirect_offer_id = 3

        [[offers]]
        id = 3
        url = "https://three.example/?cid={click_id}"

        [[offers]]
        id = 4
        url = "https://four.example/?cid={click_id}"
        fallback_url = "https://four-fallback.example/"
        bot_action = "fallback"
        trafficback_url = "https://offer-tb.example/?cid={click_id}&o={offer_id}"

        [[offers]]
        id = 5
        url = "https://five.example/?cid={click_id}"
        fallback_url = "https://five-fallback.example/"
        bot_action = "fallback"

        [[affiliates]]
        id = 7
        trafficback_url = "https://aff-tb.example/?cid={click_id}"

        [[affiliates]]
        id = 8
        """

    static let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    static let human = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

    /// One recorded click as the test compares it.
    struct Row: Hashable {
        let offer: UInt32, aff: UInt32, reason: TrafficReason, destination: TrafficDestination, requested: UInt32, bot: Bool
        var smartlink: UInt32 = 0
    }

    /// Every click record of a stopped server's data dir.
    static func rows(_ server: LiveServer) throws -> [Row] {
        var rows: [Row] = []
        for table in openLogs(dataDir: server.dataPath).clicks {
            for sequence in 0..<table.publishedCount {
                let slot = try #require(table.record(sequence))
                let tail = table.bytes(at: ClickSlot.varOffset(slot), count: ClickSlot.varLength(slot))
                let traffic = ClickSlot.traffic(tail)
                rows.append(Row(offer: ClickSlot.offerID(slot), aff: ClickSlot.affID(slot), reason: traffic.reason,
                                destination: traffic.destination, requested: traffic.requestedOffer,
                                bot: ClickSlot.enrichment(slot).botReason != .none, smartlink: traffic.smartlink))
            }
        }
        return rows
    }

    @Test func botsOnFallbackOffersFollowTheTrafficbackChainAndAreRecordedWithReasonBot() throws {
        let server = try LiveServer(config: TrafficBotTests.config, loops: 2)
        let c = try server.connect()
        func send(_ offer: Int, _ aff: Int, _ agent: String) throws -> (host: String, cid: String) {
            let r = try c.get("/click?offer_id=\(offer)&aff_id=\(aff)", headers: "User-Agent: \(agent)\r\n")
            #expect(r.status == 302, "offer \(offer) aff \(aff): \(r.status)")
            return (TrafficControlTests.host(r), TrafficControlTests.clickID(r))
        }
        // redirect_offer_id: offer 2 refuses bots, so the chain goes on to offer 3, which flags them.
        let chained = try send(1, 7, TrafficBotTests.googlebot)
        #expect(chained.host == "three.example" && !chained.cid.isEmpty)
        // The offer's trafficback_url, then the affiliate's, then the server's; each with a click ID.
        let offerTB = try send(4, 7, TrafficBotTests.googlebot)
        #expect(offerTB.host == "offer-tb.example" && !offerTB.cid.isEmpty)
        let affTB = try send(5, 7, TrafficBotTests.googlebot)
        #expect(affTB.host == "aff-tb.example" && !affTB.cid.isEmpty)
        let serverTB = try send(5, 8, TrafficBotTests.googlebot)
        #expect(serverTB.host == "server-tb.example" && !serverTB.cid.isEmpty)
        // A human on offer 1 lands there, not diverted.
        #expect(try send(1, 7, TrafficBotTests.human).host == "one.example")

        let metrics = try server.admin().get("/metrics").body
        for line in ["trackstar_trafficback_clicks_total{reason=\"bot\"} 4", "trackstar_bot_clicks_total{action=\"fallback\"} 4"] {
            #expect(metrics.contains(line), "missing \(line)")
        }
        server.stop()

        let rows = try TrafficBotTests.rows(server)
        let expected: [Row] = [
            Row(offer: 3, aff: 7, reason: .bot, destination: .offer, requested: 1, bot: true),
            Row(offer: 4, aff: 7, reason: .bot, destination: .offerTrafficback, requested: 4, bot: true),
            Row(offer: 5, aff: 7, reason: .bot, destination: .affiliateTrafficback, requested: 5, bot: true),
            Row(offer: 5, aff: 8, reason: .bot, destination: .serverTrafficback, requested: 5, bot: true),
            Row(offer: 1, aff: 7, reason: .none, destination: .offer, requested: 0, bot: false),
        ]
        #expect(Set(rows) == Set(expected) && rows.count == expected.count, "\(rows)")
    }

    static let smartLinkConfig = """
        [[offers]]
        id = 1
        url = "https://one.example/?cid={click_id}"

        [[offers]]
        id = 2
        url = "https://two.example/?cid={click_id}"
        bot_action = "refuse"

        [[offers]]
        id = 3
        url = "https://three.example/?cid={click_id}"
        fallback_url = "https://three-fallback.example/"
        bot_action = "fallback"

        [[affiliates]]
        id = 7

        [[smartlinks]]
        id = 1
        slug = "mixed"
        offers = [{ offer_id = 1, weight = 1 }, { offer_id = 2, weight = 1 }, { offer_id = 3, weight = 1 }]

        [[smartlinks]]
        id = 2
        slug = "nobots"
        trafficback_url = "https://link-tb.example/?cid={click_id}"
        offers = [{ offer_id = 2, weight = 1 }, { offer_id = 3, weight = 1 }]

        [[smartlinks]]
        id = 3
        slug = "refusing"
        offers = [{ offer_id = 2, weight = 1 }]
        """

    @Test func smartLinksDrawBotsOnlyAmongOffersThatTakeBotsAndOtherwiseDoWhatTheOffersSay() throws {
        let server = try LiveServer(config: TrafficBotTests.smartLinkConfig, loops: 2)
        let c = try server.connect()
        func send(_ slug: String, _ agent: String) throws -> TestResponse {
            try c.get("/s/\(slug)?aff_id=7", headers: "User-Agent: \(agent)\r\n")
        }
        // Humans are drawn among all three offers; bots only to offer 1, the one that flags them.
        var humans: Set<String> = []
        for _ in 0..<60 { humans.insert(TrafficControlTests.host(try send("mixed", TrafficBotTests.human))) }
        #expect(humans == ["one.example", "two.example", "three.example"])
        for _ in 0..<30 { #expect(TrafficControlTests.host(try send("mixed", TrafficBotTests.googlebot)) == "one.example") }
        // No offer of the link flags bots and offer 3 says fallback: trafficback with reason bot (the
        // link's trafficback_url), with a click ID.
        let diverted = try send("nobots", TrafficBotTests.googlebot)
        #expect(TrafficControlTests.host(diverted) == "link-tb.example" && !TrafficControlTests.clickID(diverted).isEmpty)
        // Only an offer that refuses bots: 404, nothing recorded; a human still lands there.
        #expect(try send("refusing", TrafficBotTests.googlebot).status == 404)
        #expect(TrafficControlTests.host(try send("refusing", TrafficBotTests.human)) == "two.example")

        let metrics = try server.admin().get("/metrics").body
        for line in ["trackstar_bot_clicks_total{action=\"flag\"} 30", "trackstar_bot_clicks_total{action=\"fallback\"} 1",
                     "trackstar_bot_clicks_total{action=\"refuse\"} 1", "trackstar_trafficback_clicks_total{reason=\"bot\"} 1"] {
            #expect(metrics.contains(line), "missing \(line)")
        }
        server.stop()
        let rows = try TrafficBotTests.rows(server)
        #expect(rows.count == 60 + 30 + 1 + 1, "every click recorded but the refused bot")
        let bots = rows.filter(\.bot)
        #expect(bots.filter { $0 == Row(offer: 1, aff: 7, reason: .none, destination: .offer, requested: 1, bot: true, smartlink: 1) }.count == 30)
        #expect(bots.contains(Row(offer: 3, aff: 7, reason: .bot, destination: .smartLinkTrafficback, requested: 3, bot: true, smartlink: 2)))
        #expect(bots.count == 31)
    }
}
