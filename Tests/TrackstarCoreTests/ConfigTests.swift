// Tests of the loader: the example config loads with its documented values, and validation reports
// every problem with its line (TOML syntax in TOMLTests, value syntaxes in ConfigValueParserTests).

import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

@Suite struct ExampleConfigTests {
    static let path: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/TrackstarCoreTests/ConfigTests.swift
        return parts.joined(separator: "/") + "/examples/trackstar.toml"
    }()

    @Test func loadsWithTheDocumentedValues() throws {
        let result = ConfigLoader.load(path: Self.path)
        if case .failure(let problems) = result { Issue.record("\(problems.map(\.description))") }
        let config = try result.get()
        #expect(config.server.host == "127.0.0.1")
        #expect(config.server.port == 8080)
        #expect(config.server.loops == nil)
        #expect(config.server.idleTimeoutMillis == 60_000)
        #expect(config.storage.dataDir == "./data")
        #expect(config.offers.map(\.id) == [1, 2, 3])
        #expect(config.affiliates.map(\.id) == [1, 2])

        let shoes = config.offers[0]
        #expect(shoes.payout == 2_500_000 && shoes.revenue == 4_000_000)
        #expect(shoes.clickLifetimeMillis == 30 * 86_400_000)
        #expect(shoes.minConversionDelayMillis == 5_000)
        #expect(shoes.url.hasPrefix("https://shop.example/"))

        let coats = config.offers[1]
        #expect(coats.status == .paused)
        #expect(coats.fallbackURL == "https://shop.example/sale?from_offer={offer_id}")
        #expect(coats.currency == "EUR" && coats.revenue == 3_100_000)

        let gadgets = config.offers[2]
        #expect(gadgets.token == "s3cret-postback-token")
        #expect(gadgets.multipleConversions)
        let loopbacks = [try ConfigParse.cidr("127.0.0.0/8").get(), try ConfigParse.cidr("::1/128").get()]
        #expect(gadgets.allowedIPs == loopbacks)
        #expect(gadgets.events == [EventConfig(name: "upsell", payout: 1_500_000, revenue: 3_000_000)])
        #expect(gadgets.payout == 5_000_000 && gadgets.revenue == 9_990_000)

        #expect(config.affiliates.allSatisfy { $0.postbackURL?.hasPrefix("http://127.0.0.1:9/") == true })
    }

    @Test func recordsHeaderLines() throws {
        let config = try ConfigLoader.load(path: Self.path).get()
        let text = try #require(readAll(Self.path))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for item in config.offers.map(\.line) + config.affiliates.map(\.line) {
            #expect(lines[item - 1].hasPrefix("[[offers]]") || lines[item - 1].hasPrefix("[[affiliates]]"))
        }
    }

    private func readAll(_ path: String) -> String? {
        try? ConfigLoader.readFile(path).get()
    }
}

@Suite struct ConfigValidationTests {
    @Test func defaultsWhenEmpty() throws {
        let config = try #require(loadedConfig(""))
        #expect(config == TrackstarConfig())
    }

    @Test func serverValues() throws {
        let config = try #require(loadedConfig("""
        [server]
        listen = "[::1]:0"
        loops = 4
        node_id = 255
        max_value_bytes = 4096
        idle_timeout = "1m30s"
        header_timeout = "250ms"

        """))
        #expect(config.server.host == "::1" && config.server.port == 0)
        #expect(config.server.loops == 4 && config.server.nodeID == 255 && config.server.maxValueBytes == 4096)
        #expect(config.server.idleTimeoutMillis == 90_000 && config.server.headerTimeoutMillis == 250)
    }

    @Test func conversionEventOverridesTheOffer() throws {
        let config = try #require(loadedConfig(minimalOffer + """
        payout = 1
        revenue = 2
        [offers.events.conversion]
        payout = 3

        """))
        let offer = config.offers[0]
        #expect(offer.payout == 3_000_000 && offer.revenue == 2_000_000)
        #expect(offer.events == [EventConfig(name: "conversion", payout: 3_000_000, revenue: 2_000_000)])
    }

    @Test func orderIDWindowsAndIndexSizing() throws {
        let config = try #require(loadedConfig("""
        [storage]
        txid_window = "45d"
        index_initial_capacity = 4096
        max_conversions = 1048576

        [[offers]]
        id = 1
        url = "https://shop.example/"
        txid_window = "2h"

        [[offers]]
        id = 2
        url = "https://shop.example/"

        """))
        #expect(config.storage.txidWindowMillis == 45 * 86_400_000)
        #expect(config.storage.indexInitialCapacity == 4096)
        #expect(config.storage.maxConversions == 1_048_576)
        #expect(config.offers.map(\.txidWindowMillis) == [7_200_000, nil])
        #expect(StorageConfig().txidWindowMillis == 90 * 86_400_000)
    }

    @Test func inlineTableOffersAreAccepted() throws {
        let config = try #require(loadedConfig("""
        offers = [{ id = 9, url = "https://shop.example/" }]

        """))
        #expect(config.offers.map(\.id) == [9])
    }

    @Test(arguments: [
        ("[server]\nlisten = 8080", 2, ["server.listen: expected a string in quotes, got integer 8080"]),
        ("[server]\nlisten = \"localhost:80\"", 2, ["server.listen:", "numeric address"]),
        ("[server]\nlisten = \"::1:80\"", 2, ["in brackets"]),
        ("[server]\nloops = 0", 2, ["server.loops: must be from 1 to 64, got 0"]),
        ("[server]\nnode_id = 256", 2, ["server.node_id: must be from 0 to 255"]),
        ("[server]\nmax_value_bytes = 5000", 2, ["max_value_bytes: must be from 1 to 4096"]),
        ("[server]\nidle_timeout = 30", 2, ["server.idle_timeout: expected a duration string", "\"30s\"", "got integer 30"]),
        ("[server]\nidle_timeout = \"0s\"", 2, ["longer than 0"]),
        ("[server]\nlisn = \"x\"", 2, ["server.lisn: unknown key; did you mean listen?"]),
        ("[server]\nwhatever = 1", 2, ["unknown key; known keys here: listen, loops"]),
        ("[storage]\ndata_dir = \"\"", 2, ["storage.data_dir: must not be empty"]),
        ("[storage]\nmax_conversions = 10", 2, ["storage.max_conversions: must be from 1024 to"]),
        ("[storage]\ntxid_window = \"0s\"", 2, ["storage.txid_window: must be longer than 0"]),
        ("[storage]\nindex_initial_capacity = 5", 2, ["storage.index_initial_capacity: must be from 1024 to"]),
        ("[[offers]]\nid = 0\nurl = \"https://a.example/\"", 2, ["offers[1].id: must be from 1 to 4294967295, got 0"]),
        ("[[offers]]\nid = 1\nurl = \"https://a.example/\"\n[[offers]]\nid = 4294967296\nurl = \"https://b.example/\"", 5, ["must be from 1 to 4294967295"]),
        ("[sever]\nlisten = \"x\"", 1, ["unknown table [sever]; did you mean [server]?"]),
        ("listen = \"127.0.0.1:1\"", 1, ["listen must be inside [server]"]),
        ("[offers]\nid = 1", 1, ["offers: expected [[offers]]"]),
        ("[[offers]]\nid = 1", 1, ["offers[1]: missing required key url", "line 1"]),
        ("[[offers]]\nurl = \"https://a.example/\"", 1, ["offers[1]: missing required key id"]),
        ("[[affiliates]]\nname = \"x\"", 1, ["affiliates[1]: missing required key id", "[[affiliates]]"]),
    ] as [(String, Int, [String])])
    func singleProblems(text: String, line: Int, fragments: [String]) {
        let found = configProblems(text + "\n")
        #expect(found.count == 1, "\(found.map(\.description))")
        #expect(found.first?.line == line, "\(found.map(\.description))")
        for fragment in fragments {
            #expect(found.first?.message.contains(fragment) == true, "\(found.map(\.description)) lacks \(fragment)")
        }
    }

    @Test(arguments: [
        ("status = \"stopped\"", "offers[1].status: expected \"active\" or \"paused\", got \"stopped\""),
        ("name = 5", "offers[1].name: expected a string in quotes, got integer 5"),
        ("fallback_url = \"https://{source}.example/\"", "offers[1].fallback_url:"),
        ("click_lifetime = \"0s\"", "offers[1].click_lifetime: must be longer than 0"),
        ("txid_window = 30", "offers[1].txid_window: expected a duration string"),
        ("click_lifetime = 30", "got integer 30; write it with a unit, e.g. \"30s\""),
        ("multiple_conversions = \"yes\"", "expected true or false, got string \"yes\""),
        ("token = \"\"", "offers[1].token: must not be empty"),
        ("currency = \"usd\"", "3-letter uppercase currency code such as \"USD\", got \"usd\""),
        ("currency = \"XYZ\"", "offers[1].currency: \"XYZ\" is not an ISO 4217 currency code"),
        ("payout = -1", "offers[1].payout: must not be negative"),
        ("payout = \"2.50\"", "expected a number such as 2.50"),
        ("revenue = 0.1234567", "offers[1].revenue: 0.1234567 has more than 6 decimal places"),
        ("allowed_ips = \"127.0.0.1\"", "expected an array of networks"),
        ("allowed_ips = []", "the list is empty"),
        ("allowed_ips = [\"10.0.0.1/8\"]", "offers[1].allowed_ips[0]: \"10.0.0.1/8\" has host bits set"),
        ("allowed_ips = [1]", "offers[1].allowed_ips[0]: expected a string"),
        ("statsu = \"active\"", "offers[1].statsu: unknown key; did you mean status?"),
        ("events = 1", "offers[1].events: expected a table"),
        ("[offers.events.\"bad name\"]", "offers[1].events.\"bad name\": event names are 1 to 64 characters"),
        ("[offers.events.upsell]\npayot = 1", "offers[1].events.upsell.payot: unknown key; did you mean payout?"),
        ("[offers.event.upsell]", "offers[1].event: unknown table; did you mean events?"),
    ])
    func offerProblemsOnTheirLine(extra: String, fragment: String) {
        // The offer header is line 1, id line 2, url line 3: the extra text starts on line 4.
        let found = configProblems(minimalOffer + extra + "\n")
        #expect(found.count == 1, "\(found.map(\.description))")
        #expect(found.first?.line == (extra.contains("\n") ? 5 : 4), "\(found.map(\.description))")
        #expect(found.first?.message.contains(fragment) == true, "\(found.map(\.description)) lacks \(fragment)")
    }

    @Test func urlProblemsNameTheKeyAndMacro() {
        expectOneProblem("""
        [[offers]]
        id = 1
        url = "https://shop.example/?c={clickid}"

        """, line: 3, "offers[1].url: unknown macro {clickid}; did you mean {click_id}?", "{aff_click_id}")
        expectOneProblem("""
        [[affiliates]]
        id = 1
        postback_url = "http://127.0.0.1:9/?c={click_id}&x={nope}"

        """, line: 3, "affiliates[1].postback_url: unknown macro {nope}", "{conversion_id}")
        expectOneProblem("""
        [[affiliates]]
        id = 1
        status = "gone"

        """, line: 3, "affiliates[1].status: expected \"active\" or \"paused\", got \"gone\"")
    }

    @Test func duplicateIDsPointAtBothPlaces() {
        expectOneProblem(minimalOffer + minimalOffer, line: 5,
                      "offers[2].id: 1 is already used by offers[1] (line 2); give each offer its own id")
        expectOneProblem("""
        [[affiliates]]
        id = 7
        [[affiliates]]
        id = 7

        """, line: 4, "affiliates[2].id: 7 is already used by affiliates[1] (line 2)")
    }

    @Test func collectsEveryProblemInLineOrder() {
        let found = configProblems("""
        [server]
        listen = "127.0.0.1"
        loops = 0
        idle_timeout = 30

        [[offers]]
        name = "no id, no url"
        status = "stopped"
        payout = 1.0000001

        [[offers]]
        id = 2
        url = "https://shop.example/{oops}"
        currency = "usd"
        x = = 1

        [[affiliates]]
        id = 2
        postback_url = "ftp://nope"

        """)
        #expect(found.map(\.line) == [2, 3, 4, 6, 6, 8, 9, 13, 14, 15, 19], "\(found.map(\.description))")
        #expect(found.map(\.description).allSatisfy { $0.hasPrefix("line ") })
    }

    @Test func syntaxErrorsDoNotCauseMissingKeyReports() {
        let found = configProblems("""
        [[offers]]
        id = 1
        url = "https://shop.example/
        status = "paused"

        """)
        #expect(found.map(\.line) == [3], "\(found.map(\.description))")
    }

    @Test func unreadableFileIsAProblemOnLineZero() {
        let path = "/nonexistent/trackstar-\(#line).toml"
        guard case .failure(let found) = ConfigLoader.load(path: path) else { Issue.record("loaded"); return }
        #expect(found.count == 1)
        #expect(found.first?.line == 0)
        #expect(found.first?.message.contains(path) == true)
        #expect(found.first?.message.contains("No such file or directory") == true, "\(found)")
        guard case .failure(let directory) = ConfigLoader.load(path: "/") else { Issue.record("loaded /"); return }
        #expect(directory.first?.message.contains("Is a directory") == true, "\(directory)")
    }
}
