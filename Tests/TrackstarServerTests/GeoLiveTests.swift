// Live tests of the location sources beyond EnrichmentTests: `[geo] database = "mmdb"` on a MaxMind DB
// file written here by the format's specification (country, registered country, ASN, city, the
// anonymous-proxy trait, misses, IPv6), and the anonymous-proxy bot reason from IPFire's database, with
// addresses Debian's `location` command flags as the oracle (and `anonymous_proxy = false` turning it off).
import Foundation
import Testing
import TrackstarExport
import TrackstarTestSupport

@Suite("geo sources, live", .serialized)
struct GeoLiveTests {
    static func config(geo: String, anonymousProxy: Bool = true) -> String {
        """
        [server]
        listen = "127.0.0.1:0"
        trusted_proxies = ["127.0.0.0/8"]

        \(geo)

        [bots]
        anonymous_proxy = \(anonymousProxy)

        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}&c={country}&d={device}"

        [[affiliates]]
        id = 7

        [export]
        batch_rows = 10
        batch_age = "20ms"
        """
    }

    @Test func aMaxMindFileGivesCountryNetworkAndTheProxyTrait() throws {
        var writer = MMDBWriter()
        writer.insert(v4: (192, 0, 2, 0), prefix: 24, .map([("country", .map([("iso_code", .string("DE"))])),
                                                            ("city", .map([("names", .map([("en", .string("Düsseldorf"))]))])),
                                                            ("autonomous_system_number", .uint32(3320))]))
        writer.insert(v4: (198, 51, 100, 0), prefix: 24, .map([("registered_country", .map([("iso_code", .string("FR"))])),
                                                               ("traits", .map([("is_anonymous_proxy", .boolean(true))]))]))
        writer.insert(high: 0x2001_0DB8_0000_0000, prefix: 32, .map([("country", .map([("iso_code", .string("JP"))])),
                                                                     ("city", .map([("names", .map([("ja", .string("大阪")), ("en", .string("Osaka"))]))])),
                                                                     ("autonomous_system_number", .uint32(2497))]))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-geo-\(UUID().uuidString).mmdb").path
        try Data(writer.file()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let server = try LiveServer(config: Self.config(geo: "[geo]\ndatabase = \"mmdb\"\npath = \"\(path)\""), loops: 1)
        let c = try server.connect()
        let cases: [(address: String, country: String, asn: Int, bot: String, city: String)] = [
            ("192.0.2.77", "DE", 3320, "", "Düsseldorf"),
            ("198.51.100.1", "FR", 0, "anonymous_proxy", ""),  // no city in the entry
            ("2001:db8:1::5", "JP", 2497, "", "Osaka"),
            ("203.0.113.1", "", 0, "", ""),  // not in the file
        ]
        var expected: [String: (country: String, asn: Int, bot: String, city: String)] = [:]
        for item in cases {
            let r = try EnrichmentTests().click(c, offer: 1, from: "10.1.1.1, \(item.address)", agent: Agents.windowsChrome)
            #expect(r.status == 302)
            let fields = EnrichmentTests().query(r)
            #expect(fields["c"] == item.country, "\(item.address): \(fields)")
            expected[try #require(fields["cid"])] = (item.country, item.asn, item.bot, item.city)
        }
        let rows = try exportedClicks(server, count: cases.count)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: server.dataPath), busyTimeoutMillis: 10_000)
        var cities: [String: String] = [:]
        for row in try db.rows("SELECT click_id, city FROM clicks") { cities[row[0] ?? ""] = row[1] ?? "" }
        for (id, want) in expected {
            let row = try #require(rows[id], "click \(id) not exported")
            #expect(row.country == want.country && row.asn == want.asn && row.botReason == want.bot, "\(id): \(row) vs \(want)")
            #expect(row.device == "desktop")
            #expect(cities[id] == want.city, "\(id): city \(String(describing: cities[id])) vs \(want.city)")
        }
    }

    /// Addresses inside the first IPv4 networks `location list-networks-by-flags --anonymous-proxy`
    /// prints, each confirmed by `location lookup`.
    static func anonymousProxyAddresses(_ count: Int) throws -> [String] {
        let networks = try runTool("/usr/bin/location", ["list-networks-by-flags", "--anonymous-proxy", "--family=ipv4"])
        var found: [String] = []
        for line in networks.split(separator: "\n") where found.count < count {
            let parts = line.split(separator: "/")
            let octets = parts.first?.split(separator: ".").compactMap { Int($0) } ?? []
            guard parts.count == 2, octets.count == 4, let prefix = Int(parts[1]), prefix <= 30 else { continue }
            let address = "\(octets[0]).\(octets[1]).\(octets[2]).\(octets[3] + 1)"
            let answer = try runTool("/usr/bin/location", ["lookup", address])
            let flagged = answer.split(separator: "\n").contains { $0.contains("Anonymous Proxy") && $0.hasSuffix(": yes") }
            if flagged { found.append(address) }
        }
        return found
    }

    @Test func theLocationDatabasesAnonymousProxiesAreBotsUnlessTurnedOff() throws {
        let proxies = try Self.anonymousProxyAddresses(2)
        try #require(proxies.count == 2, "location lists no anonymous proxies: \(proxies)")
        for anonymousProxy in [true, false] {
            let server = try LiveServer(config: Self.config(geo: "[geo]\ndatabase = \"libloc\"", anonymousProxy: anonymousProxy), loops: 1)
            let c = try server.connect()
            var reasons: [String: String] = [:]
            for address in proxies + ["8.8.8.8"] {
                let r = try EnrichmentTests().click(c, offer: 1, from: address, agent: Agents.windowsChrome)
                #expect(r.status == 302)
                let oracle = try LocationOracle.lookup(address)
                #expect(EnrichmentTests().query(r)["c"] == oracle.country, "\(address)")
                reasons[try #require(EnrichmentTests().query(r)["cid"])] = address == "8.8.8.8" || !anonymousProxy ? "" : "anonymous_proxy"
            }
            let rows = try exportedClicks(server, count: reasons.count)
            for (id, reason) in reasons {
                #expect(rows[id]?.botReason == reason, "anonymous_proxy = \(anonymousProxy): \(String(describing: rows[id]))")
            }
        }
    }
}
