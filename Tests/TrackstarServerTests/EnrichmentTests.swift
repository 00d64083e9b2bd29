// Live tests of click enrichment (issue 13): addresses set through a trusted proxy's
// X-Forwarded-For get the country and ASN Debian's `location` command gives; user agents get their
// device and OS; bots get their reasons and the offer's bot_action; repeats within unique_window
// are not unique, also after kill -9; reports group by country and device; truncated addresses
// never reach a file.
import Foundation
import Testing
import TrackstarExport
import TrackstarTestSupport

enum Agents {
    static let iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    static let windowsChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    static let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
}

/// Debian's `location` command, the oracle for country and ASN.
enum LocationOracle {
    static let countryCodes: [String: String] = {
        let out = (try? runTool("/usr/bin/location", ["list-countries", "--show-name"])) ?? ""
        var codes: [String: String] = [:]
        for line in out.split(separator: "\n") where line.count > 3 {
            codes[String(line.dropFirst(3))] = String(line.prefix(2))
        }
        return codes
    }()

    /// (country code, ASN) of an address as `location lookup` prints them.
    static func lookup(_ address: String) throws -> (country: String, asn: Int) {
        let out = try runTool("/usr/bin/location", ["lookup", address])
        var country = "", asn = 0
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "Country" { country = countryCodes[parts[1]] ?? "?" }
            if parts[0] == "Autonomous System", let number = Int(parts[1].dropFirst(2).prefix { $0.isNumber }) { asn = number }
        }
        return (country, asn)
    }
}

/// Runs a program to completion; its standard output.
func runTool(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// The enrichment columns of the exported clicks, by click id.
struct ExportedClick: Equatable {
    var ip, country, device, os, browser, botReason: String
    var asn: Int
    var unique: Bool
}

func exportedClicks(_ server: LiveServer) throws -> [String: ExportedClick] {
    let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: server.dataPath), busyTimeoutMillis: 10_000)
    var result: [String: ExportedClick] = [:]
    for row in try db.rows("SELECT click_id, ip, country, asn, device, os, browser, bot_reason, is_unique FROM clicks") {
        let f = row.map { $0 ?? "" }
        result[f[0]] = ExportedClick(ip: f[1], country: f[2], device: f[4], os: f[5], browser: f[6], botReason: f[7],
                                     asn: Int(f[3]) ?? -1, unique: f[8] == "1")
    }
    return result
}

/// Polls the exported clicks until `count` are there.
func exportedClicks(_ server: LiveServer, count: Int) throws -> [String: ExportedClick] {
    var last: [String: ExportedClick] = [:]
    _ = eventually(within: 30, every: 0.1) {
        if let rows = try? exportedClicks(server) { last = rows }
        return last.count >= count
    }
    return last
}

@Suite("click enrichment", .serialized)
struct EnrichmentTests {
    static let config = """
        [server]
        listen = "127.0.0.1:0"
        trusted_proxies = ["127.0.0.0/8"]

        [geo]
        database = "libloc"

        [bots]
        user_agent_substrings = ["AcmeScanner"]
        networks = ["203.0.113.0/24"]
        asns = [32934]

        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}&c={country}&d={device}&os={os}&b={browser}"
        fallback_url = "https://trafficback.example/?o={offer_id}"

        [[offers]]
        id = 2
        url = "https://two.example/?cid={click_id}"
        fallback_url = "https://trafficback.example/?o={offer_id}&d={device}"
        bot_action = "fallback"

        [[offers]]
        id = 3
        url = "https://three.example/?cid={click_id}"
        bot_action = "refuse"

        [[offers]]
        id = 4
        url = "https://four.example/?cid={click_id}"
        unique_window = "2s"

        [[offers]]
        id = 5
        url = "https://five.example/?cid={click_id}"
        unique_window = "1h"

        [[affiliates]]
        id = 7

        [export]
        batch_rows = 10
        batch_age = "20ms"
        """

    func click(_ c: TestConnection, offer: Int, from address: String, agent: String?) throws -> TestResponse {
        var headers = "X-Forwarded-For: \(address)\r\n"
        if let agent { headers += "User-Agent: \(agent)\r\n" }
        return try c.get("/click?offer_id=\(offer)&aff_id=7", headers: headers)
    }

    func query(_ response: TestResponse) -> [String: String] {
        let location = response.header("Location") ?? ""
        var fields: [String: String] = [:]
        for pair in (location.split(separator: "?").last ?? "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]).removingPercentEncoding }
        }
        return fields
    }

    @Test func forwardedAddressesGetTheLocationDatabasesCountryAndNetwork() throws {
        let server = try LiveServer(config: EnrichmentTests.config, loops: 2)
        let c = try server.connect()
        var expected: [String: (country: String, asn: Int)] = [:]
        for address in ["8.8.8.8", "1.1.1.1", "81.2.69.142", "2a00:1450:4001:80b::200e"] {
            let oracle = try LocationOracle.lookup(address)
            #expect(oracle.country.count == 2 && oracle.asn > 0, "oracle for \(address): \(oracle)")
            let r = try click(c, offer: 1, from: "10.9.9.9, \(address)", agent: Agents.iPhone)
            #expect(r.status == 302)
            let fields = query(r)
            #expect(fields["c"] == oracle.country, "\(address): \(fields)")
            #expect(fields["d"] == "mobile" && fields["os"] == "iOS", "\(address): \(fields)")
            expected[fields["cid"] ?? ""] = oracle
        }
        let rows = try exportedClicks(server, count: 4)
        for (id, oracle) in expected {
            let row = try #require(rows[id], "click \(id) not exported")
            #expect(row.country == oracle.country && row.asn == oracle.asn, "\(id): \(row) vs \(oracle)")
            #expect(row.device == "mobile" && row.os == "iOS" && row.botReason == "", "\(row)")
        }
    }

    @Test func botsGetTheirReasonsAndTheirOffersBotAction() throws {
        let server = try LiveServer(config: EnrichmentTests.config, loops: 1)
        let c = try server.connect()
        let cases: [(address: String, agent: String?, reason: String)] = [
            ("8.8.8.8", Agents.googlebot, "spider"),
            ("8.8.8.8", nil, "empty_user_agent"),
            ("185.60.216.35", Agents.windowsChrome, "listed_asn"),
            ("203.0.113.9", Agents.windowsChrome, "listed_network"),
            ("8.8.8.8", "Mozilla/5.0 AcmeScanner/1.0", "user_agent_substring"),
        ]
        var flagged: [String: String] = [:]
        for bot in cases {
            // flag: recorded and redirected with a click ID.
            let r = try click(c, offer: 1, from: bot.address, agent: bot.agent)
            #expect(r.status == 302)
            flagged[try #require(query(r)["cid"])] = bot.reason
            // fallback: the trafficback chain (here the offer's fallback_url), recorded with reason bot (issue 14).
            let f = try click(c, offer: 2, from: bot.address, agent: bot.agent)
            #expect(f.status == 302 && f.header("Location")?.hasPrefix("https://trafficback.example/?o=2") == true, "\(f.headers)")
            // refuse: 404.
            #expect(try click(c, offer: 3, from: bot.address, agent: bot.agent).status == 404)
        }
        // A human on offers 2 and 3 is recorded as usual.
        let human = try click(c, offer: 2, from: "8.8.8.8", agent: Agents.windowsChrome)
        #expect(human.header("Location")?.hasPrefix("https://two.example/?cid=") == true)
        #expect(try click(c, offer: 3, from: "8.8.8.8", agent: Agents.windowsChrome).status == 302)

        let rows = try exportedClicks(server, count: 2 * cases.count + 2)
        #expect(rows.count == 2 * cases.count + 2, "flagged and trafficback bots and humans are recorded: \(rows.count)")
        for (id, reason) in flagged { #expect(rows[id]?.botReason == reason, "\(id): \(String(describing: rows[id]))") }
        #expect(rows.values.filter { $0.botReason.isEmpty }.count == 2)
        let metrics = try server.admin().get("/metrics").body
        for line in ["trackstar_bot_clicks_total{action=\"flag\"} 5", "trackstar_bot_clicks_total{action=\"fallback\"} 5",
                     "trackstar_bot_clicks_total{action=\"refuse\"} 5"] {
            #expect(metrics.contains(line), "missing \(line)")
        }
        // The report shows bots as a column.
        let report = try reportUntil(server, ["--group-by", "offer"]) { ($0.totals["clicks"] as? Int) == 2 * cases.count + 2 }
        #expect(report.totals["bot_clicks"] as? Int == 2 * cases.count)
    }

    @Test func repeatsWithinTheWindowAreNotUniqueAndTheFirstAfterItIs() throws {
        let server = try LiveServer(config: EnrichmentTests.config, loops: 2)
        var ids: [String] = []
        func send(_ agent: String) throws {
            let r = try click(try server.connect(), offer: 4, from: "8.8.8.8", agent: agent)
            ids.append(try #require(query(r)["cid"]))
        }
        try send(Agents.iPhone)          // unique
        try send(Agents.iPhone)          // repeat within 2 s
        try send(Agents.windowsChrome)   // another agent: unique
        let last = Date()
        _ = eventually(within: 10, every: 0.1) { Date().timeIntervalSince(last) > 2.2 }  // let the 2 s window pass
        try send(Agents.iPhone)          // the first after the window: unique
        let rows = try exportedClicks(server, count: 4)
        #expect(ids.map { rows[$0]?.unique } == [true, false, true, true], "\(ids.map { rows[$0] as Any })")
    }

    @Test func uniqueFlagsSurviveKillNineAndRestart() throws {
        let server = try LiveServer(config: EnrichmentTests.config, loops: 2)
        server.ownsDataDir = false
        var ids: [String] = []
        for agent in [Agents.iPhone, Agents.iPhone, Agents.windowsChrome] {
            ids.append(try #require(query(try click(try server.connect(), offer: 5, from: "1.1.1.1", agent: agent))["cid"]))
        }
        let before = try exportedClicks(server, count: 3)
        server.kill9()
        let restarted = try LiveServer(config: EnrichmentTests.config, loops: 2, dataDir: server.dataDir)
        for agent in [Agents.iPhone, Agents.windowsChrome, Agents.googlebot] {
            ids.append(try #require(query(try click(try restarted.connect(), offer: 5, from: "1.1.1.1", agent: agent))["cid"]))
        }
        let after = try exportedClicks(restarted, count: 6)
        #expect(ids.prefix(3).map { after[$0]?.unique } == ids.prefix(3).map { before[$0]?.unique }, "flags changed by the restart")
        #expect(ids.map { after[$0]?.unique } == [true, false, true, false, false, true], "\(ids.map { after[$0] as Any })")
    }

    @Test func reportGroupsByCountryAndDeviceWithTotalsAsSent() throws {
        let server = try LiveServer(config: EnrichmentTests.config, loops: 2)
        let c = try server.connect()
        let sent: [(address: String, agent: String, count: Int)] = [
            ("8.8.8.8", Agents.iPhone, 3), ("8.8.8.8", Agents.windowsChrome, 2), ("81.2.69.142", Agents.iPhone, 4),
        ]
        var expected: [String: Int] = [:]
        for batch in sent {
            let country = try LocationOracle.lookup(batch.address).country
            let device = batch.agent == Agents.iPhone ? "mobile" : "desktop"
            expected["\(country)/\(device)", default: 0] += batch.count
            for _ in 0..<batch.count { #expect(try click(c, offer: 1, from: batch.address, agent: batch.agent).status == 302) }
        }
        let report = try reportUntil(server, ["--group-by", "country,device"]) { ($0.totals["clicks"] as? Int) == 9 }
        var found: [String: Int] = [:]
        for row in report.rows { found["\(row["country"] as? String ?? "")/\(row["device"] as? String ?? "")"] = row["clicks"] as? Int }
        #expect(found == expected)
        #expect(report.totals["clicks"] as? Int == 9)
        #expect(report.totals["unique_clicks"] as? Int == 3)
    }

    @Test func truncatedAddressesNeverReachAFile() throws {
        let config = EnrichmentTests.config + "\n\n[privacy]\nanonymize_ip = \"truncate\"\n"
        let server = try LiveServer(config: config, loops: 1)
        server.ownsDataDir = false
        defer { try? FileManager.default.removeItem(atPath: server.dataDir) }
        let c = try server.connect()
        let v4 = try click(c, offer: 1, from: "8.8.8.8", agent: Agents.iPhone)
        let v6 = try click(c, offer: 1, from: "2a00:1450:4001:80b::200e", agent: Agents.iPhone)
        #expect(query(v4)["c"] == (try LocationOracle.lookup("8.8.8.8").country), "geo uses the full address")
        #expect(query(v6)["c"] == (try LocationOracle.lookup("2a00:1450:4001:80b::200e").country))
        let rows = try exportedClicks(server, count: 2)
        #expect(Set(rows.values.map(\.ip)) == ["8.8.8.0", "2a00:1450:4001::"], "\(rows.values.map(\.ip))")
        server.stop()
        // Neither address, as text or as the slot's bytes, is in any file under the data dir
        // (segments, arenas, report.sqlite and its WAL).
        let forbidden: [[UInt8]] = [
            Array("8.8.8.8".utf8), Array("2a00:1450:4001:80b::200e".utf8),
            withUnsafeBytes(of: UInt64(0x0000_FFFF_0808_0808).littleEndian) { Array($0) },  // the slot's IPv4-mapped low half
            withUnsafeBytes(of: UInt64(0x2A00_1450_4001_080B).littleEndian) { Array($0) },  // the IPv6 address's high half
        ]
        let enumerator = FileManager.default.enumerator(atPath: server.dataPath)
        var scanned = 0
        while let name = enumerator?.nextObject() as? String {
            let path = server.dataPath + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            scanned += 1
            let bytes = [UInt8](data)
            for needle in forbidden {
                #expect(!contains(bytes, needle), "\(name) holds \(needle)")
            }
        }
        #expect(scanned > 4)
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }

    @Test func personalDataIsWipedFromTheLogsAfterItsRetention() throws {
        let config = """
            [server]
            listen = "127.0.0.1:0"
            trusted_proxies = ["127.0.0.0/8"]

            [storage]
            snapshot_interval = "100ms"

            [privacy]
            personal_data_retention = "2s"

            [geo]
            database = "libloc"

            [[offers]]
            id = 1
            url = "https://shop.example/?cid={click_id}&c={country}"
            unique_window = "2s"

            [[affiliates]]
            id = 7
            """
        let server = try LiveServer(config: config, loops: 1)
        server.ownsDataDir = false
        defer { try? FileManager.default.removeItem(atPath: server.dataDir) }
        let agent = "Mozilla/5.0 (X11; Linux x86_64) WipeMe/1.0"
        let r = try click(try server.connect(), offer: 1, from: "8.8.8.8", agent: agent)
        #expect(r.status == 302)
        let country = query(r)["c"] ?? ""
        let records = server.dataPath + "/shard-0/clicks-000000.rec", arena = server.dataPath + "/shard-0/clicks-000000.bytes"
        let address = withUnsafeBytes(of: UInt64(0x0000_FFFF_0808_0808).littleEndian) { Array($0) }
        #expect(contains([UInt8](FileManager.default.contents(atPath: arena) ?? Data()), Array(agent.utf8)), "recorded first")
        let wiped = eventually(within: 30, every: 0.1) {
            !contains([UInt8](FileManager.default.contents(atPath: arena) ?? Data()), Array(agent.utf8))
                && !contains([UInt8](FileManager.default.contents(atPath: records) ?? Data()), address)
        }
        #expect(wiped, "address and agent still in the click log after the retention")
        // The wiped record is intact: a crash and restart recovers it, the report still counts it.
        server.kill9()
        let restarted = try LiveServer(config: config, loops: 1, dataDir: server.dataDir)
        let report = try reportUntil(restarted, ["--group-by", "country"]) { ($0.totals["clicks"] as? Int) == 1 }
        #expect(report.totals["clicks"] as? Int == 1)
        #expect(report.rows.first?["country"] as? String == country)
        #expect(!restarted.startupOutput.contains("corrupt"), "\(restarted.startupOutput)")
    }

    @Test func aMissingLocationDatabaseStopsTheStartNamingThePath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-geo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = EnrichmentTests.config.replacingOccurrences(of: "database = \"libloc\"", with: "database = \"libloc\"\npath = \"\(dir)/missing.db\"")
        try config.write(toFile: dir + "/t.toml", atomically: true, encoding: .utf8)
        let result = try LiveServer.run(["serve", "--config", dir + "/t.toml", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dir + "/data"])
        #expect(result.status != 0)
        #expect((result.stderr + result.stdout).contains("\(dir)/missing.db"), "\(result.stderr)")
        // check-config opens it as serve would and names the file and the line of `path`.
        let line = (config.components(separatedBy: "\n").firstIndex { $0.hasPrefix("path = ") } ?? -2) + 1
        let check = try LiveServer.run(["check-config", dir + "/t.toml"])
        #expect(check.status == 1)
        #expect(check.stderr.contains("\(dir)/t.toml:\(line): [geo] path \(dir)/missing.db"), "\(check.stderr)")
    }
}
