// Bot rules: each reason in its order, case-insensitive substrings, networks (merged, IPv4 and IPv6,
// edges), ASNs, the anonymous-proxy switch, and errors that name the bad entry.
import Testing
import TrackstarCore
@testable import TrackstarEnrich
import TrackstarConfiguration

@Suite struct BotRulesTests {
    static let human = DeviceAnswer(device: .desktop, os: 1, browser: 1, spider: false)
    static let anywhere = GeoAnswer(country: GeoAnswer.packCountry("DE"), asn: 3320, flags: [])

    func check(_ rules: BotRules, ua: String = "Mozilla/5.0 (X11; Linux x86_64)", device: DeviceAnswer = human,
               geo: GeoAnswer = anywhere, address: String = "203.0.113.9") -> BotReason {
        let (high, low) = words(address)
        return withBytes(ua) { rules.check(ua: $0, device: device, geo: geo, high: high, low: low) }
    }

    @Test func eachReasonInOrder() throws {
        let rules = try BotRules(substrings: ["HeadlessChrome", "python-requests"], cidrs: ["198.51.100.0/24", "2001:db8::/32"],
                                 asns: [16509, 14618], anonymousProxyIsBot: true)
        #expect(check(rules) == .none)
        #expect(check(rules, ua: "") == .emptyUserAgent)
        #expect(check(rules, ua: "", device: DeviceAnswer(device: .bot, os: 0, browser: 0, spider: true)) == .emptyUserAgent)
        #expect(check(rules, device: DeviceAnswer(device: .bot, os: 0, browser: 0, spider: true)) == .spider)
        #expect(check(rules, ua: "Mozilla/5.0 headlesschrome/120") == .userAgentSubstring)
        #expect(check(rules, ua: "PYTHON-REQUESTS/2.31") == .userAgentSubstring)
        #expect(check(rules, ua: "python-request") == .none)
        #expect(check(rules, address: "198.51.100.0") == .listedNetwork)
        #expect(check(rules, address: "198.51.100.255") == .listedNetwork)
        #expect(check(rules, address: "198.51.101.0") == .none)
        #expect(check(rules, address: "2001:db8:ffff::1") == .listedNetwork)
        #expect(check(rules, address: "2001:db9::1") == .none)
        #expect(check(rules, geo: GeoAnswer(country: 0, asn: 16509, flags: [])) == .listedASN)
        #expect(check(rules, geo: GeoAnswer(country: 0, asn: 16510, flags: [])) == .none)
        #expect(check(rules, geo: GeoAnswer(country: 0, asn: 0, flags: .anonymousProxy)) == .anonymousProxy)
        // The order: a listed network wins over a listed ASN and an anonymous proxy.
        #expect(check(rules, geo: GeoAnswer(country: 0, asn: 16509, flags: .anonymousProxy), address: "198.51.100.7") == .listedNetwork)
        let lenient = try BotRules(substrings: [], cidrs: [], asns: [], anonymousProxyIsBot: false)
        #expect(check(lenient, geo: GeoAnswer(country: 0, asn: 0, flags: .anonymousProxy)) == .none)
    }

    /// Overlapping, nested and adjacent networks merge; lookups at every edge agree with a plain scan.
    @Test func networksMergeAndAgreeWithAScan() throws {
        let cidrs = ["10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/8", "192.0.2.7", "192.0.2.8/31", "0.0.0.0/32",
                     "255.255.255.255/32", "::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "2001:db8::/48", "2001:db8:1::/48"]
        let ranges = cidrs.map { text -> AddressRange in
            guard case .success(let network) = TrackstarConfiguration.ConfigParse.cidr(text) else { fatalError(text) }
            return AddressRange(network)
        }
        let merged = AddressRange.merged(ranges)
        #expect(merged.count == 7, "\(merged)")   // 10/8+11/8, .7-.9, 0.0.0.0, 255.255.255.255, ::, all-ones, 2001:db8::/47
        let probes = ["9.255.255.255", "10.0.0.0", "11.255.255.255", "12.0.0.0", "192.0.2.6", "192.0.2.7", "192.0.2.9", "192.0.2.10",
                      "0.0.0.0", "0.0.0.1", "255.255.255.254", "255.255.255.255", "::", "::1", "2001:db8:1:ffff::", "2001:db8:2::",
                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
        for probe in probes {
            let (high, low) = words(probe)
            let scan = ranges.contains { r in
                (r.firstHigh, r.firstLow) <= (high, low) && (high, low) <= (r.lastHigh, r.lastLow)
            }
            #expect(AddressRange.contains(merged, high: high, low: low) == scan, "\(probe)")
        }
    }

    @Test func badEntriesAreNamed() {
        #expect { try BotRules(substrings: ["ok", ""], cidrs: [], asns: [], anonymousProxyIsBot: false) } throws: {
            "\($0)".contains("substring [1]") && "\($0)".contains("empty")
        }
        #expect { try BotRules(substrings: [], cidrs: ["10.0.0.0/8", "10.0.0.1/8"], asns: [], anonymousProxyIsBot: false) } throws: {
            "\($0)".contains("bot network [1]") && "\($0)".contains("10.0.0.1/8")
        }
        #expect { try BotRules(substrings: [], cidrs: ["example.com"], asns: [], anonymousProxyIsBot: false) } throws: {
            "\($0)".contains("bot network [0]") && "\($0)".contains("example.com")
        }
        #expect { try BotRules(substrings: [], cidrs: [], asns: [15169, 0], anonymousProxyIsBot: false) } throws: {
            "\($0)".contains("ASN [1]")
        }
    }

    @Test func reasonNames() {
        #expect(BotReason.allCases.map(\.name) == ["none", "empty_user_agent", "spider", "user_agent_substring",
                                                   "listed_network", "listed_asn", "anonymous_proxy"])
        for reason in BotReason.allCases { #expect(BotReason(name: reason.name) == reason) }
        #expect(BotReason(name: "robot") == nil)
        #expect(DeviceType.allCases.map(\.name) == ["desktop", "mobile", "tablet", "tv", "bot", "other"])
    }
}
