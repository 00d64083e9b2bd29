// The enrichment columns as ClickHouse stores them (Debian's clickhouse-server, started here): clicks
// through a trusted proxy carry the country and ASN `location lookup` gives, the device, OS and
// browser of their agents, the bot reason and the unique flag, row by row; a conversion carries its
// click's country, ASN, device, OS and browser; `report --group-by country,device` agrees.
import Foundation
import ClickHouseTestSupport
import Testing
import TrackstarEnrich
import TrackstarExport
import TrackstarTestSupport

@Suite("enrichment in ClickHouse", .serialized, .enabled(if: ClickHouseServer.isInstalled, "clickhouse-server is not installed (make test installs it)"))
struct EnrichClickHouseTests {
    static func config(_ ch: ClickHouseServer, database: String) -> String {
        """
        [server]
        listen = "127.0.0.1:0"
        trusted_proxies = ["127.0.0.0/8"]

        [geo]
        database = "libloc"

        [bots]
        user_agent_substrings = ["AcmeScanner"]

        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}"
        unique_window = "1h"

        [[affiliates]]
        id = 7

        [export]
        sink = "clickhouse"
        url = "\(ch.url)"
        database = "\(database)"
        batch_rows = 10
        batch_age = "20ms"
        """
    }

    struct Expected: Equatable, CustomStringConvertible {
        var country: String, asn: Int, device: String, os: String, browser: String, bot: String, unique: Int
        var description: String { "\(country) AS\(asn) \(device)/\(os)/\(browser) bot=\(bot) unique=\(unique)" }
    }

    @Test func clickAndConversionRowsCarryTheirEnrichment() throws {
        let ch = try ClickHouseServer()
        let database = "t_enrich_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
        let server = try LiveServer(config: Self.config(ch, database: database), loops: 2)
        let us = try LocationOracle.lookup("8.8.8.8"), gb = try LocationOracle.lookup("81.2.69.142")
        // An agent no rule knows: its names come from the classifier itself.
        let scanner = "Mozilla/5.0 AcmeScanner/2.0"
        let classifier = try UserAgentClassifier()
        let answer = Array(scanner.utf8).withUnsafeBytes { classifier.classify($0, scratch: classifier.makeScratch()) }
        let sent: [(address: String, agent: String, expected: Expected)] = [
            ("8.8.8.8", Agents.iPhone, Expected(country: us.country, asn: us.asn, device: "mobile", os: "iOS", browser: "Mobile Safari", bot: "", unique: 1)),
            ("8.8.8.8", Agents.iPhone, Expected(country: us.country, asn: us.asn, device: "mobile", os: "iOS", browser: "Mobile Safari", bot: "", unique: 0)),
            ("81.2.69.142", Agents.windowsChrome, Expected(country: gb.country, asn: gb.asn, device: "desktop", os: "Windows", browser: "Chrome", bot: "", unique: 1)),
            ("81.2.69.142", Agents.googlebot, Expected(country: gb.country, asn: gb.asn, device: "bot", os: "Other", browser: "Googlebot", bot: "spider", unique: 1)),
            ("81.2.69.142", scanner, Expected(country: gb.country, asn: gb.asn, device: answer.device.name, os: classifier.osName(answer.os),
                                              browser: classifier.browserName(answer.browser), bot: "user_agent_substring", unique: 1)),
        ]
        var expected: [String: Expected] = [:]
        var firstID = ""
        for click in sent {
            let r = try EnrichmentTests().click(try server.connect(), offer: 1, from: "10.0.0.1, \(click.address)", agent: click.agent)
            #expect(r.status == 302)
            let id = try #require(EnrichmentTests().query(r)["cid"])
            if firstID.isEmpty { firstID = id }
            expected[id] = click.expected
        }
        let postback = try server.connect().get("/postback?click_id=\(firstID)&amount=1.50")
        #expect(postback.status == 200, "\(postback.body)")

        var rows: [String: Expected] = [:]
        _ = eventually(within: 60, every: 0.2) {
            let text = (try? ch.query("SELECT click_id, country, asn, device, os, browser, bot_reason, is_unique FROM \(database).clicks FORMAT TabSeparated")) ?? ""
            rows = [:]
            for line in text.split(separator: "\n") {
                let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard f.count == 8 else { continue }
                rows[f[0]] = Expected(country: f[1], asn: Int(f[2]) ?? -1, device: f[3], os: f[4], browser: f[5], bot: f[6], unique: Int(f[7]) ?? -1)
            }
            return rows.count >= sent.count
        }
        #expect(rows.count == sent.count, "rows in ClickHouse: \(rows.count)")
        for (id, want) in expected {
            #expect(rows[id] == want, "click \(id): ClickHouse has \(String(describing: rows[id])), expected \(want)")
        }
        // The last column, `city`, is empty: IPFire's database names no cities (GeoLiveTests has them from a MaxMind file).
        #expect(try ch.query("SELECT count() FROM \(database).clicks WHERE city = '' FORMAT TabSeparated") == "\(sent.count)\n")

        var conversion = ""
        _ = eventually(within: 60, every: 0.2) {
            conversion = (try? ch.query("SELECT country, asn, device, os, browser FROM \(database).conversions FORMAT TabSeparated")) ?? ""
            return !conversion.isEmpty
        }
        #expect(conversion == "\(us.country)\t\(us.asn)\tmobile\tiOS\tMobile Safari\n", "conversion row: \(conversion)")

        let report = try reportUntil(server, ["--group-by", "country,device"]) { ($0.totals["clicks"] as? Int) == sent.count }
        #expect(report.totals["unique_clicks"] as? Int == 4)
        #expect(report.totals["bot_clicks"] as? Int == 2)
    }
}
