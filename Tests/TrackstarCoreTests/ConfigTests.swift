// Tests for the config stack: the TOML reader, the value parsers (durations, money, networks, URL
// templates) and the loader's validation, which must report every problem with its line.

import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

// MARK: - Helpers

/// The problems `text` produces, or [] when it loads.
private func problems(_ text: String) -> [ConfigProblem] {
    if case .failure(let problems) = ConfigLoader.load(text: text) { return problems.problems }
    return []
}

/// The config `text` loads to; records an issue listing the problems when it does not load.
private func loaded(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> TrackstarConfig? {
    switch ConfigLoader.load(text: text) {
    case .success(let config): return config
    case .failure(let problems):
        Issue.record("unexpected problems: \(problems.map(\.description))", sourceLocation: sourceLocation)
        return nil
    }
}

/// Expects exactly one problem, on `line`, whose message contains every one of `fragments`.
private func expectProblem(_ text: String, line: Int, _ fragments: String...,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    let found = problems(text)
    #expect(found.count == 1, "problems: \(found.map(\.description))", sourceLocation: sourceLocation)
    guard let problem = found.first else { return }
    #expect(problem.line == line, "\(problem)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(problem.message.contains(fragment), "\(problem) lacks \(fragment)", sourceLocation: sourceLocation)
    }
}

private func parse(_ text: String) -> (root: TOMLTable, problems: [ConfigProblem]) { TOML.parse(text) }

private func value(_ table: TOMLTable, _ path: String...) -> TOMLValue? {
    var current = table
    for key in path.dropLast() {
        guard case .table(let next)? = current[key]?.value else { return nil }
        current = next
    }
    return current[path[path.count - 1]]?.value
}

private let minimalOffer = """
[[offers]]
id = 1
url = "https://shop.example/a?c={click_id}"

"""

// MARK: - The example config

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

// MARK: - TOML reader

@Suite struct TOMLTests {
    @Test func commentsKeysAndTables() {
        let (root, problems) = parse("""
        # a comment
        title = "x"   # trailing comment
        "quoted key" = 1
        'literal key' = 2
        a.b.c = true
        [server]
        port = 80
        [outer.inner]
        deep = -3

        """)
        #expect(problems.isEmpty)
        #expect(value(root, "title") == .string("x"))
        #expect(value(root, "quoted key") == .integer(1))
        #expect(value(root, "literal key") == .integer(2))
        #expect(value(root, "a", "b", "c") == .boolean(true))
        #expect(value(root, "server", "port") == .integer(80))
        #expect(value(root, "outer", "inner", "deep") == .integer(-3))
        #expect(root.keys == ["title", "quoted key", "literal key", "a", "server", "outer"])
        #expect(root["server"]?.line == 6)
        #expect(root["title"]?.line == 2)
    }

    @Test func arraysOfTablesAndTheirSubTables() throws {
        let (root, problems) = parse("""
        [[offers]]
        id = 1
        [offers.events.upsell]
        payout = 1
        [[offers]]
        id = 2
        [offers.events.upsell]
        payout = 2

        """)
        #expect(problems.isEmpty, "\(problems)")
        guard case .array(let items)? = root["offers"]?.value else { Issue.record("offers is not an array"); return }
        #expect(items.map(\.line) == [1, 5])
        guard case .table(let second) = items[1].value else { Issue.record("not a table"); return }
        #expect(value(second, "events", "upsell", "payout") == .integer(2))
        #expect(second["events"]?.line == 7)
    }

    @Test func strings() {
        let (root, problems) = parse(#"""
        basic = "tab\tquote\"slash\\nl\ncr\r\u00E9\U0001F600"
        literal = 'C:\path\{x}'
        multi = """
        line one
        line "two" \
            continued"""
        multiLiteral = '''
        raw \n text
        '''
        quotes = """a""b"""""
        empty = ""

        """#)
        #expect(problems.isEmpty, "\(problems)")
        #expect(value(root, "basic") == .string("tab\tquote\"slash\\nl\ncr\r\u{E9}\u{1F600}"))
        #expect(value(root, "literal") == .string(#"C:\path\{x}"#))
        #expect(value(root, "multi") == .string("line one\nline \"two\" continued"))
        #expect(value(root, "multiLiteral") == .string("raw \\n text\n"))
        #expect(value(root, "quotes") == .string("a\"\"b\"\""))
        #expect(value(root, "empty") == .string(""))
        #expect(root["multiLiteral"]?.line == 7)  // lines inside the multi-line string were counted
    }

    @Test func numbersAndBooleans() {
        let (root, problems) = parse("""
        a = 1_000
        b = +7
        c = -0
        d = 0xFF
        e = 0o17
        f = 0b101
        g = 2.50
        h = -1.5e3
        i = 6.02E+23
        j = 1_000.000_1
        k = true
        l = false
        m = 9223372036854775807

        """)
        #expect(problems.isEmpty, "\(problems)")
        #expect(value(root, "a") == .integer(1000))
        #expect(value(root, "b") == .integer(7))
        #expect(value(root, "c") == .integer(0))
        #expect(value(root, "d") == .integer(255))
        #expect(value(root, "e") == .integer(15))
        #expect(value(root, "f") == .integer(5))
        #expect(value(root, "g") == .float(2.5, text: "2.50"))
        #expect(value(root, "h") == .float(-1500, text: "-1.5e3"))
        #expect(value(root, "i") == .float(6.02e23, text: "6.02E+23"))
        #expect(value(root, "j") == .float(1000.0001, text: "1000.0001"))
        #expect(value(root, "k") == .boolean(true))
        #expect(value(root, "l") == .boolean(false))
        #expect(value(root, "m") == .integer(.max))
    }

    @Test func arraysAndInlineTables() {
        let (root, problems) = parse("""
        ips = [
          "127.0.0.0/8",   # loopback
          # a comment line
          "::1/128",
        ]
        nested = [[1, 2], ["x"]]
        point = { x = 1, y = "two", z.w = true }
        empty = []

        """)
        #expect(problems.isEmpty, "\(problems)")
        guard case .array(let ips)? = value(root, "ips") else { Issue.record("ips"); return }
        #expect(ips.map(\.value) == [.string("127.0.0.0/8"), .string("::1/128")])
        #expect(ips.map(\.line) == [2, 4])
        guard case .array(let nested)? = value(root, "nested") else { Issue.record("nested"); return }
        #expect(nested.count == 2)
        #expect(value(root, "point", "x") == .integer(1))
        #expect(value(root, "point", "y") == .string("two"))
        #expect(value(root, "point", "z", "w") == .boolean(true))
        #expect(value(root, "empty") == .array([]))
    }

    @Test func duplicateKeysAndRedefinedTables() {
        let (_, problems) = parse("""
        a = 1
        a = 2
        [t]
        x = 1
        [t]
        y = 2
        [u.v]
        [u]
        w.k = 1
        w.k = 2

        """)
        #expect(problems.map(\.line) == [2, 5, 10])
        #expect(problems[0].message.contains("duplicate key a (already set at line 1)"))
        #expect(problems[1].message.contains("table [t] is defined twice (first at line 3)"))
        #expect(problems[2].message.contains("duplicate key u.w.k"))
    }

    @Test func tableKindsThatConflict() {
        let (_, problems) = parse("""
        v = 1
        inline = { a = 1 }
        [[list]]
        [list]
        [plain]
        [[plain]]
        [v.sub]
        [inline.more]
        [t]
        d.e = 1
        [t.d]

        """)
        #expect(problems.map(\.line) == [4, 6, 7, 8, 11], "\(problems)")
        guard problems.count == 5 else { return }
        #expect(problems[0].message.contains("array of tables"))
        #expect(problems[1].message.contains("conflicts with the table [plain]"))
        #expect(problems[2].message.contains("v already has a value"))
        #expect(problems[3].message.contains("inline already has a value"))
        #expect(problems[4].message.contains("dotted keys"))
    }

    @Test(arguments: [
        ("x = \"open", "not closed"),
        ("x = 'open", "not closed"),
        ("x = \"\"\"never\nclosed", "multi-line string is not closed"),
        ("x = [1, 2", "not closed"),
        ("x = [1 2]", "expected , or ]"),
        ("x = { a = 1 ", "not closed"),
        ("x = ", "expected a value"),
        ("x 1", "expected = after the key x"),
        ("x = 1 y = 2", "on its own line"),
        ("x = \"\\q\"", "invalid escape \\q"),
        ("x = \"\\uD800\"", "not a valid Unicode scalar"),
        ("x = 1979-05-27", "dates and times are not supported"),
        ("x = 07:32:00", "dates and times are not supported"),
        ("x = active", "put text in quotes: \"active\""),
        ("x = 012", "leading zeros"),
        ("x = 1__0", "not a valid number"),
        ("x = 9223372036854775808", "too large"),
        ("[table", "expected ] to close"),
        ("[[table]", "expected ]] to close"),
        ("= 1", "expected a key"),
    ])
    func syntaxErrors(text: String, fragment: String) {
        let (_, problems) = parse("ok = 1\n" + text + "\n")
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.line == 2)
        #expect(problems.first?.message.contains(fragment) == true, "\(problems)")
    }

    @Test func recoversAfterSyntaxErrors() {
        let (root, problems) = parse("""
        [server]
        a = "open
        b = 2
        c = [1,
             2 3,
             4]
        d = 4
        [next]
        e = 5

        """)
        #expect(problems.map(\.line) == [2, 5])
        #expect(value(root, "server", "b") == .integer(2))
        #expect(value(root, "server", "d") == .integer(4))
        #expect(value(root, "next", "e") == .integer(5))
        guard case .table(let server)? = root["server"]?.value else { return }
        #expect(server.isIncomplete)
    }

    @Test func crlfAndByteOrderMark() {
        let (root, problems) = parse("\u{FEFF}a = 1\r\nb = \"x\"\r\n")
        #expect(problems.isEmpty)
        #expect(value(root, "b") == .string("x"))
        #expect(root["b"]?.line == 2)
    }
}

// MARK: - Values

@Suite struct ValueParserTests {
    @Test(arguments: [
        ("2.50", 2_500_000), ("2.5", 2_500_000), ("0", 0), ("10", 10_000_000), ("0.000001", 1),
        ("123.456789", 123_456_789), ("1.5e2", 150_000_000), ("25e-1", 2_500_000), ("1e-6", 1),
        ("-0.75", -750_000), ("+3", 3_000_000), ("0.1", 100_000), ("2.5000000", 2_500_000),
        ("9223372036854.775807", Int64.max), ("0.30000000", 300_000),
    ] as [(String, Int64)])
    func moneyIsExact(text: String, micros: Int64) {
        #expect(ConfigParse.micros(text) == .success(micros))
    }

    @Test(arguments: ["0.0000001", "1.2345678", "1e-7", "9223372036855", "abc", "1.", ".5", "1e", "inf", "nan", "1,5", ""])
    func moneyRefusals(text: String) {
        #expect(throws: ConfigValueError.self) { try ConfigParse.micros(text).get() }
    }

    @Test func moneyMessages() {
        #expect(ConfigParse.micros("1.2345678") == .failure(ConfigValueError(
            "1.2345678 has more than 6 decimal places; amounts are kept in millionths")))
    }

    @Test(arguments: [
        ("250ms", 250), ("5s", 5_000), ("10m", 600_000), ("2h", 7_200_000), ("30d", 2_592_000_000),
        ("1h30m", 5_400_000), ("1d2h3m4s5ms", 93_784_005), ("0s", 0),
    ] as [(String, Int64)])
    func durations(text: String, millis: Int64) {
        #expect(ConfigParse.durationMillis(text) == .success(millis))
    }

    @Test(arguments: [
        ("", "empty"), ("30", "has no unit"), ("5x", "unknown unit"), ("s", "is not a duration"),
        ("30m1h", "largest first"), ("1.5h", "unknown unit"), ("-5s", "is not a duration"),
        ("1s1s", "largest first"), ("99999999999999999d", "too long"),
    ])
    func durationRefusals(text: String, fragment: String) {
        guard case .failure(let error) = ConfigParse.durationMillis(text) else {
            Issue.record("\(text) was accepted"); return
        }
        #expect(error.message.contains(fragment), "\(error.message)")
    }

    @Test func cidrIPv4() throws {
        let net = try ConfigParse.cidr("10.0.0.0/8").get()
        #expect(net.address == (0, 0x0000_FFFF_0A00_0000))
        #expect(net.prefixLength == 104)
        let host = try ConfigParse.cidr("10.0.0.1").get()
        #expect(host.address == (0, 0x0000_FFFF_0A00_0001) && host.prefixLength == 128)
        #expect(try ConfigParse.cidr("0.0.0.0/0").get().prefixLength == 96)
    }

    @Test func cidrIPv6() throws {
        #expect(try ConfigParse.cidr("::1/128").get() == CIDR(address: (0, 1), prefixLength: 128))
        #expect(try ConfigParse.cidr("::1").get() == CIDR(address: (0, 1), prefixLength: 128))
        #expect(try ConfigParse.cidr("2001:db8::/32").get() == CIDR(address: (0x2001_0DB8_0000_0000, 0), prefixLength: 32))
        #expect(try ConfigParse.cidr("::/0").get() == CIDR(address: (0, 0), prefixLength: 0))
        #expect(try ConfigParse.cidr("fe80::1:2/128").get().address == (0xFE80_0000_0000_0000, 0x0000_0000_0001_0002))
        #expect(try ConfigParse.cidr("1:2:3:4:5:6:7:8").get().address == (0x0001_0002_0003_0004, 0x0005_0006_0007_0008))
        #expect(try ConfigParse.cidr("::ffff:192.0.2.1").get().address == (0, 0x0000_FFFF_C000_0201))
    }

    @Test(arguments: [
        ("10.0.0.1/8", "has host bits set beyond the /8 prefix; write \"10.0.0.0/8\""),
        ("2001:db8::1/32", "write \"2001:db8::/32\""),
        ("fe80::1:0:0:1/64", "write \"fe80::/64\""),
        ("10.0.0.0/33", "0-32"),
        ("::1/129", "0-128"),
        ("256.0.0.1", "not an IP address"),
        ("10.0.0", "not an IP address"),
        ("1::2::3", "not an IP address"),
        ("1:2:3:4:5:6:7:8:9", "not an IP address"),
        ("12345::", "not an IP address"),
        ("localhost", "not an IP address"),
        ("10.0.0.0/", "prefix"),
    ])
    func cidrRefusals(text: String, fragment: String) {
        guard case .failure(let error) = ConfigParse.cidr(text) else { Issue.record("\(text) was accepted"); return }
        #expect(error.message.contains(fragment), "\(error.message)")
    }

    @Test func listenAddresses() throws {
        let v4 = try ConfigParse.listenAddress("0.0.0.0:0").get()
        #expect(v4.host == "0.0.0.0" && v4.port == 0)
        let v6 = try ConfigParse.listenAddress("[::1]:8080").get()
        #expect(v6.host == "::1" && v6.port == 8080)
        for bad in ["127.0.0.1", "::1:8080", "localhost:80", "1.2.3.4:65536", "1.2.3.4:", "[::1:80"] {
            #expect(throws: ConfigValueError.self, "\(bad)") { try ConfigParse.listenAddress(bad).get() }
        }
    }

    @Test func urlTemplates() {
        let macros = ConfigParse.offerURLMacros
        #expect(ConfigParse.checkURLTemplate("https://shop.example/a?c={click_id}&s={sub1}", macros: macros) == nil)
        #expect(ConfigParse.checkURLTemplate("http://127.0.0.1:9/pb", macros: macros) == nil)
        #expect(ConfigParse.checkURLTemplate("http://[::1]:9/pb", macros: macros) == nil)
        let refusals: [(String, String)] = [
            ("ftp://x/", "must start with http:// or https://"),
            ("https:///path", "has no host"),
            ("https://{source}.example/", "must not contain a macro"),
            ("https://shop.example{sub1}/", "must not contain a macro"),
            ("https://shop.example/a b", "blank or control character"),
            ("https://shop.example/\r\nX: y", "blank or control character"),
            ("https://user@shop.example/", "user info"),
            ("https://shop.example:x/", "invalid port"),
            ("https://shop.example/?c={click_id", "without a matching }"),
            ("https://shop.example/?c=click_id}", "without a matching {"),
            ("https://shop.example/?c={clik_id}", "unknown macro {clik_id}; did you mean {click_id}?"),
            ("https://shop.example/?c={payout}", "unknown macro {payout}"),
        ]
        for (url, fragment) in refusals {
            let message = ConfigParse.checkURLTemplate(url, macros: macros)?.message ?? "accepted"
            #expect(message.contains(fragment), "\(url): \(message)")
        }
        #expect(ConfigParse.checkURLTemplate("http://h/?p={payout}&t={txid}", macros: ConfigParse.postbackURLMacros) == nil)
    }

    @Test func eventNamesAndSuggestions() {
        #expect(ConfigParse.isValidEventName("upsell.v2-B_3"))
        #expect(!ConfigParse.isValidEventName(""))
        #expect(!ConfigParse.isValidEventName("has space"))
        #expect(!ConfigParse.isValidEventName(String(repeating: "a", count: 65)))
        #expect(ConfigParse.closestMatch(to: "listn", in: ConfigReader.serverKeys) == "listen")
        #expect(ConfigParse.closestMatch(to: "zzzz", in: ConfigReader.serverKeys) == nil)
        #expect(ConfigParse.closestMatch(to: "a", in: ["id"]) == nil)  // short words get distance 1 only
    }
}

// MARK: - Loader validation

@Suite struct ConfigValidationTests {
    @Test func defaultsWhenEmpty() throws {
        let config = try #require(loaded(""))
        #expect(config == TrackstarConfig())
    }

    @Test func serverValues() throws {
        let config = try #require(loaded("""
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
        let config = try #require(loaded(minimalOffer + """
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
        let config = try #require(loaded("""
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
        let config = try #require(loaded("""
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
        let found = problems(text + "\n")
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
        let found = problems(minimalOffer + extra + "\n")
        #expect(found.count == 1, "\(found.map(\.description))")
        #expect(found.first?.line == (extra.contains("\n") ? 5 : 4), "\(found.map(\.description))")
        #expect(found.first?.message.contains(fragment) == true, "\(found.map(\.description)) lacks \(fragment)")
    }

    @Test func urlProblemsNameTheKeyAndMacro() {
        expectProblem("""
        [[offers]]
        id = 1
        url = "https://shop.example/?c={clickid}"

        """, line: 3, "offers[1].url: unknown macro {clickid}; did you mean {click_id}?", "{aff_click_id}")
        expectProblem("""
        [[affiliates]]
        id = 1
        postback_url = "http://127.0.0.1:9/?c={click_id}&x={nope}"

        """, line: 3, "affiliates[1].postback_url: unknown macro {nope}", "{conversion_id}")
        expectProblem("""
        [[affiliates]]
        id = 1
        status = "gone"

        """, line: 3, "affiliates[1].status: expected \"active\" or \"paused\", got \"gone\"")
    }

    @Test func duplicateIDsPointAtBothPlaces() {
        expectProblem(minimalOffer + minimalOffer, line: 5,
                      "offers[2].id: 1 is already used by offers[1] (line 2); give each offer its own id")
        expectProblem("""
        [[affiliates]]
        id = 7
        [[affiliates]]
        id = 7

        """, line: 4, "affiliates[2].id: 7 is already used by affiliates[1] (line 2)")
    }

    @Test func collectsEveryProblemInLineOrder() {
        let found = problems("""
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
        let found = problems("""
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

