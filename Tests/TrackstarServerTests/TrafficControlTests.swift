// Live tests of traffic control (issue 14): exact caps under concurrency and across kill -9, the
// day rolling over in the offer's own zone, conversions past a cap recorded rejected/cap_reached,
// redirect cycles refused by check-config, geo targeting through a trusted proxy, and smart links
// splitting by weight with a capped offer's share moving to the others.
import Foundation
import Synchronization
import Testing
import TrackstarTestSupport

@Suite(.serialized) struct TrafficControlTests {
    static let capConfig = """
        [server]
        trafficback_url = "https://trafficback.example/?cid={click_id}&o={offer_id}"

        [[offers]]
        id = 1
        url = "https://landing.example/?cid={click_id}"
        payout = 2.00
          [offers.caps]
          daily_clicks = 10
          daily_conversions = 1

        [[affiliates]]
        id = 7
        """

    /// The host a 302 sends the shopper to.
    static func host(_ response: TestResponse) -> String {
        URLComponents(string: response.header("Location") ?? "")?.host ?? "(\(response.status))"
    }

    static func clickID(_ response: TestResponse) -> String {
        URLComponents(string: response.header("Location") ?? "")?.queryItems?.first { $0.name == "cid" }?.value ?? ""
    }

    /// Sends `count` clicks at once, one connection each; the landing hosts.
    static func clicksTogether(_ server: LiveServer, count: Int, target: String) -> [String] {
        let hosts = Mutex([String]())
        runTogether(threads: count) { _ in
            let host = (try? server.connect().get(target)).map(TrafficControlTests.host) ?? "error"
            hosts.withLock { $0.append(host) }
        }
        return hosts.withLock { $0 }
    }

    @Test func fortySimultaneousClicksAgainstADailyCapOfTenLetExactlyTenThroughAlsoAfterKill9() throws {
        let server = try LiveServer(config: TrafficControlTests.capConfig, loops: 2)
        server.ownsDataDir = false
        defer { try? FileManager.default.removeItem(atPath: server.dataDir) }
        let hosts = TrafficControlTests.clicksTogether(server, count: 40, target: "/click?offer_id=1&aff_id=7")
        #expect(hosts.filter { $0 == "landing.example" }.count == 10)
        #expect(hosts.filter { $0 == "trafficback.example" }.count == 30)
        let metrics = try server.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_trafficback_clicks_total{reason=\"cap_reached\"} 30"))
        #expect(metrics.contains("trackstar_cap_used{offer=\"1\",aff=\"0\",cap=\"daily_clicks\"} 10"))
        server.kill9()
        let restarted = try LiveServer(config: TrafficControlTests.capConfig, loops: 2, dataDir: server.dataDir)
        restarted.ownsDataDir = false
        let eleventh = try restarted.connect().get("/click?offer_id=1&aff_id=7")
        #expect(eleventh.status == 302)
        #expect(TrafficControlTests.host(eleventh) == "trafficback.example")
        // A clean stop writes the durable tally (caps.snapshot); a start from it still knows the ten.
        restarted.stop()
        #expect(FileManager.default.fileExists(atPath: server.dataPath + "/caps.snapshot"))
        let again = try LiveServer(config: TrafficControlTests.capConfig, loops: 2, dataDir: server.dataDir)
        again.ownsDataDir = false
        #expect(TrafficControlTests.host(try again.connect().get("/click?offer_id=1&aff_id=7")) == "trafficback.example")
        let metrics2 = try again.admin().get("/metrics").body
        #expect(metrics2.contains("trackstar_cap_used{offer=\"1\",aff=\"0\",cap=\"daily_clicks\"} 10"))
    }

    /// The count of catalogs every loop has taken (`/api/v1/status` apply_count: the last loop to
    /// swap records it), or -1 when it cannot be read.
    static func appliedEverywhere(_ server: LiveServer) -> Int {
        ((try? server.admin().api("GET", "/status", token: APITokens.viewer))?.json["apply_count"] as? Int) ?? -1
    }

    @Test func aReloadKeepsTheCountersAndALoweredCapTakesEffectAtOnce() throws {
        let config = TrafficControlTests.capConfig + "\n\n[[admin.tokens]]\nname = \"watcher\"\nsha256 = \"\(sha256Hex(APITokens.viewer))\"\nrole = \"viewer\"\n"
        let server = try LiveServer(config: config, loops: 2)
        let before = TrafficControlTests.appliedEverywhere(server)
        #expect(before >= 0)
        let c = try server.connect()
        for _ in 0..<4 { #expect(TrafficControlTests.host(try c.get("/click?offer_id=1&aff_id=7")) == "landing.example") }
        // Cap lowered to 3 (below the 4 taken) and a new affiliate cap added on the same offer.
        let lowered = config.replacingOccurrences(of: "daily_clicks = 10", with: "daily_clicks = 3")
            .replacingOccurrences(of: "daily_conversions = 1\n", with: "daily_conversions = 1\n  [[offers.affiliate_caps]]\n  aff_id = 7\n  daily_clicks = 6\n")
        try lowered.write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        // Wait until every loop has swapped in the new catalog. /metrics alone is not that signal:
        // it reads the catalog published to the engine, which happens before the loops take it, so a
        // click right after the new limit showed there could still meet the old catalog on a loop.
        #expect(eventually(within: 30, every: 0.1) { TrafficControlTests.appliedEverywhere(server) > before })
        let metrics = try server.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_cap_limit{offer=\"1\",aff=\"0\",cap=\"daily_clicks\"} 3"))
        #expect(TrafficControlTests.host(try server.connect().get("/click?offer_id=1&aff_id=7")) == "trafficback.example")
        let after = try server.admin().get("/metrics").body
        #expect(after.contains("trackstar_cap_used{offer=\"1\",aff=\"0\",cap=\"daily_clicks\"} 4"))
        // The affiliate cap added by the reload starts from the four recorded clicks; the refused
        // fifth took nothing from it.
        #expect(after.contains("trackstar_cap_used{offer=\"1\",aff=\"7\",cap=\"daily_clicks\"} 4"), "\(after)")
        #expect(after.contains("trackstar_cap_limit{offer=\"1\",aff=\"7\",cap=\"daily_clicks\"} 6"))
    }

    @Test func conversionsPastADailyConversionCapAreRecordedRejectedCapReached() throws {
        let server = try LiveServer(config: TrafficControlTests.capConfig, loops: 2)
        let c = try server.connect()
        let first = TrafficControlTests.clickID(try c.get("/click?offer_id=1&aff_id=7"))
        let second = TrafficControlTests.clickID(try c.get("/click?offer_id=1&aff_id=7"))
        let accepted = try c.get("/postback?click_id=\(first)")
        #expect(accepted.status == 200)
        #expect(accepted.json["status"] as? String == "approved")
        #expect(accepted.json["payout"] as? Double == 2.0)
        let capped = try c.get("/postback?click_id=\(second)")
        #expect(capped.status == 200)
        #expect(capped.json["status"] as? String == "rejected")
        #expect(capped.json["reason"] as? String == "cap_reached")
        #expect(capped.json["payout"] as? Double == 0)
        // The same postback again answers the recorded (rejected) conversion: nothing counted twice.
        let again = try c.get("/postback?click_id=\(second)")
        #expect(again.json["status"] as? String == "rejected")
        #expect(again.json["duplicate"] as? Bool == true)
    }

    /// A zone file whose local midnight falls `secondsAhead` from now: the offer's day rolls over
    /// while the test watches (TZDIR points the server at it).
    static func zoneWithMidnight(in secondsAhead: Int64, directory: String) throws {
        let now = Int64(Date().timeIntervalSince1970)
        let offset = (86_400 - ((now + secondsAhead) % 86_400)) % 86_400
        var bytes = Array("TZif".utf8) + [0] + [UInt8](repeating: 0, count: 15)
        for count in [0, 0, 0, 0, 1, 4] as [UInt32] { bytes += withUnsafeBytes(of: count.bigEndian, Array.init) }
        bytes += withUnsafeBytes(of: Int32(offset).bigEndian, Array.init) + [0, 0] + Array("TST\0".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/Test/Midnight"))
    }

    @Test func theDayRollsOverInTheOffersTimeZone() throws {
        let zones = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-zones-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: zones + "/Test", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: zones) }
        try TrafficControlTests.zoneWithMidnight(in: 15, directory: zones)
        let config = TrafficControlTests.capConfig.replacingOccurrences(of: "payout = 2.00", with: "timezone = \"Test/Midnight\"")
            .replacingOccurrences(of: "daily_clicks = 10", with: "daily_clicks = 2")
        let server = try LiveServer(config: config, loops: 2, environment: ["TZDIR": zones])
        let c = try server.connect()
        let before = try (0..<3).map { _ in TrafficControlTests.host(try c.get("/click?offer_id=1&aff_id=7")) }
        #expect(before == ["landing.example", "landing.example", "trafficback.example"])
        // After the zone's midnight the new day's cap has room again (trafficback clicks count nothing).
        var after: [String] = []
        let rolled = eventually(within: 60, every: 0.25) {
            after.append(TrafficControlTests.host((try? c.get("/click?offer_id=1&aff_id=7")) ?? TestResponse(status: 0, headers: [], body: "")))
            return after.last == "landing.example"
        }
        #expect(rolled)
        #expect(after.dropLast().allSatisfy { $0 == "trafficback.example" })
    }

    @Test func checkConfigRefusesARedirectCycleWithItsLines() throws {
        let text = """
            [[offers]]
            id = 1
            url = "https://a.example/"
            redirect_offer_id = 2

            [[offers]]
            id = 2
            url = "https://b.example/"
            redirect_offer_id = 3

            [[offers]]
            id = 3
            url = "https://c.example/"
            redirect_offer_id = 1
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cycle-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try LiveServer.run(["check-config", path])
        let output = result.stdout + result.stderr
        #expect(result.status != 0)
        #expect(output.contains("redirect_offer_id"))
        #expect(output.contains("line 4"), "the first link's line: \(output)")
        #expect(output.contains("offer 1 → 2 (line 4), offer 2 → 3 (line 9), offer 3 → 1 (line 14)"), "\(output)")
    }

    @Test func aNonMatchingCountryThroughATrustedProxyGoesToTrafficbackWithReasonGeo() throws {
        let config = """
            [server]
            trusted_proxies = ["127.0.0.0/8"]

            [geo]
            database = "libloc"

            [[offers]]
            id = 1
            url = "https://landing.example/?cid={click_id}"
            countries = ["GB"]
            trafficback_url = "https://offer-trafficback.example/?c={country}"

            [[affiliates]]
            id = 7
            """
        let server = try LiveServer(config: config, loops: 1)
        let c = try server.connect()
        let us = try c.get("/click?offer_id=1&aff_id=7", headers: "X-Forwarded-For: 8.8.8.8\r\n")
        #expect(TrafficControlTests.host(us) == "offer-trafficback.example")
        #expect(us.header("Location")?.hasSuffix("c=US") == true)
        let gb = try c.get("/click?offer_id=1&aff_id=7", headers: "X-Forwarded-For: 81.2.69.142\r\n")
        #expect(TrafficControlTests.host(gb) == "landing.example")
        let metrics = try server.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_trafficback_clicks_total{reason=\"geo\"} 1"))
    }

    static let smartLinkConfig = """
        [server]
        trafficback_url = "https://trafficback.example/"

        [[offers]]
        id = 1
        url = "https://one.example/?cid={click_id}"
        [[offers]]
        id = 2
        url = "https://two.example/?cid={click_id}"
        [[offers]]
        id = 3
        url = "https://three.example/?cid={click_id}"
        [[offers]]
        id = 4
        url = "https://four.example/?cid={click_id}"
        [[offers]]
        id = 5
        url = "https://five.example/?cid={click_id}"
        [[offers]]
        id = 6
        url = "https://six.example/?cid={click_id}"
          [offers.caps]
          daily_clicks = 500

        [[affiliates]]
        id = 7

        [[smartlinks]]
        id = 1
        slug = "weights"
        offers = [{ offer_id = 1, weight = 1 }, { offer_id = 2, weight = 2 }, { offer_id = 3, weight = 3 }]

        [[smartlinks]]
        id = 2
        slug = "capped"
        offers = [{ offer_id = 4, weight = 1 }, { offer_id = 5, weight = 2 }, { offer_id = 6, weight = 3 }]
        """

    /// `total` clicks on `target` over four keep-alive connections; the count of each landing host.
    static func spread(_ server: LiveServer, total: Int, target: String) -> [String: Int] {
        let counts = Mutex([String: Int]())
        runTogether(threads: 4) { _ in
            guard let c = try? server.connect() else { return }
            var mine: [String: Int] = [:]
            for _ in 0..<(total / 4) { mine[(try? c.get(target)).map(TrafficControlTests.host) ?? "error", default: 0] += 1 }
            counts.withLock { all in for (host, n) in mine { all[host, default: 0] += n } }
        }
        return counts.withLock { $0 }
    }

    @Test func smartLinksSplitByWeightAndACappedOffersShareMovesToTheOthers() throws {
        let server = try LiveServer(config: TrafficControlTests.smartLinkConfig, loops: 2)
        let byWeight = TrafficControlTests.spread(server, total: 10_000, target: "/s/weights?aff_id=7&sub1=x")
        #expect(byWeight.values.reduce(0, +) == 10_000)
        for (host, weight) in [("one.example", 1.0), ("two.example", 2.0), ("three.example", 3.0)] {
            let share = Double(byWeight[host] ?? 0) / 10_000
            #expect(abs(share - weight / 6) <= 0.03, "\(host): \(share) of the clicks for weight \(weight)/6")
        }
        let capped = TrafficControlTests.spread(server, total: 10_000, target: "/click?smartlink=2&aff_id=7")
        #expect(capped["six.example"] == 500)
        #expect(capped["trafficback.example"] == nil)
        let four = Double(capped["four.example"] ?? 0), five = Double(capped["five.example"] ?? 0)
        #expect(four + five == 9_500)
        #expect(abs(four / 9_500 - 1.0 / 3) <= 0.03, "offer 4 got \(four) of the 9,500 past the cap")
        // Every offer capped or ineligible: the link's clicks go to trafficback.
        let none = try server.connect().get("/s/nope?aff_id=7")
        #expect(none.status == 404)
    }
}
