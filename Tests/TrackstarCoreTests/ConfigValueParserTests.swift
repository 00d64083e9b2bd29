// Tests of the config value parsers: money read exactly into micros, durations, IPv4 and IPv6
// networks, listen addresses, URL templates and event names, each refusal saying what to write.

import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

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
