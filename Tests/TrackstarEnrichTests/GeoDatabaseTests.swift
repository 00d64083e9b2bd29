// The geo table against its two references: Debian's `location lookup` command for well-known public
// addresses, and libloc's own lookup in process for many addresses at and around network edges. Also
// the flattening sweep on hand-made nested networks, and the error for a missing file.
import Foundation
import Testing
import TrackstarCore
@testable import TrackstarEnrich

@Suite struct GeoDatabaseTests {
    /// Country and ASN agree with `location lookup` (the oracle the issue names) for public resolvers
    /// and well-known networks, IPv4 and IPv6.
    @Test func agreesWithTheLocationCommand() throws {
        let geo = try Shared.geo.get()
        let addresses = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222", "77.88.8.8", "185.228.168.9",
                         "2001:4860:4860::8888", "2606:4700:4700::1111", "2620:fe::fe", "2a02:6b8::feed:0ff"]
        guard let listing = try run(["location", "list-countries", "--show-name"]),
              let output = try run(["location", "--database", Shared.geoPath, "lookup"] + addresses) else {
            Issue.record("Debian's `location` command is not installed (make deps installs it); the oracle test cannot run")
            return
        }
        var codeOfName: [String: String] = [:]
        for line in listing.split(separator: "\n") where line.count > 3 {
            codeOfName[String(line.dropFirst(3))] = String(line.prefix(2))
        }
        let oracle = LocationOutput.parse(output, codes: codeOfName)
        #expect(oracle.count == addresses.count, "location printed \(oracle.count) answers for \(addresses.count) addresses")
        for address in addresses {
            let expected = try #require(oracle[address], "no answer from location for \(address)")
            let (high, low) = words(address)
            let answer = geo.lookup(high: high, low: low)
            #expect(answer.countryCode == expected.country, "\(address): country")
            #expect(answer.asn == expected.asn, "\(address): ASN")
            #expect(answer.flags.contains(.anycast) == expected.anycast, "\(address): anycast flag")
        }
        // The oracle says these are known: the test is not comparing unknown with unknown.
        #expect(geo.lookup(high: words("8.8.8.8").high, low: words("8.8.8.8").low).asn == 15169)
    }

    /// Many addresses: the first and last address of sampled networks, one before and one after, and
    /// random addresses, all answered as libloc's own (allocating) lookup answers them.
    @Test func agreesWithLibLocOnEdgesAndRandomAddresses() throws {
        let geo = try Shared.geo.get()
        let file = try LibLocFile(path: Shared.geoPath)
        var probes: [(UInt64, UInt64)] = []
        var index = 0
        try file.forEachNetwork { network in
            index += 1
            guard index % 97 == 0 else { return }
            let first = network.first, last = network.last
            probes.append((first.high, first.low)); probes.append((last.high, last.low))
            if network.isIPv4 {
                probes.append((first.high, first.low &- 1)); probes.append((last.high, last.low &+ 1))
            } else {
                probes.append((first.high &- 1, 0)); probes.append((last.high &+ 1, 0))
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            probes.append((0, 0xFFFF_0000_0000 | UInt64(UInt32.random(in: 0...UInt32.max, using: &generator))))
            probes.append((0x2000_0000_0000_0000 | UInt64.random(in: 0..<(1 << 61), using: &generator), generator.next()))
        }
        var mismatches: [String] = []
        for (high, low) in probes where high == 0 ? low >> 32 == 0xFFFF : true {
            let ours = geo.lookup(high: high, low: low), reference = file.referenceLookup(high: high, low: low)
            if ours != reference, mismatches.count < 10 {
                mismatches.append("\(String(high, radix: 16)):\(String(low, radix: 16)) ours \(ours) libloc \(reference)")
            }
        }
        #expect(probes.count > 40_000)
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(geo.skippedNetworkCount == 0)
    }

    /// The sweep: nested networks resolve to the most specific one, gaps are unknown, equal neighbours
    /// merge and the top of the key space is reached without overflow.
    @Test func flatteningResolvesNesting() {
        let networks = [
            GeoNetwork(first: 0x0A00_0000, last: 0x0AFF_FFFF, value: 1),   // 10/8
            GeoNetwork(first: 0x0A01_0000, last: 0x0A01_FFFF, value: 2),   // 10.1/16 inside it
            GeoNetwork(first: 0x0A01_0100, last: 0x0A01_01FF, value: 3),   // 10.1.1/24 inside that
            GeoNetwork(first: 0x0A02_0000, last: 0x0A02_FFFF, value: 1),   // 10.2/16, same answer as 10/8
            GeoNetwork(first: 0xFFFF_FF00, last: 0xFFFF_FFFF, value: 4),   // the top /24
        ]
        let flat = GeoRangeTableBuilder.flatten(networks.reversed(), keyMax: UInt64(UInt32.max))
        #expect(flat.starts == [0, 0x0A00_0000, 0x0A01_0000, 0x0A01_0100, 0x0A01_0200, 0x0A02_0000, 0x0B00_0000, 0xFFFF_FF00])
        #expect(flat.values == [0, 1, 2, 3, 2, 1, 0, 4])
        let storage = GeoRangeStorage<UInt32>(starts: flat.starts, values: flat.values)
        let cases: [(UInt32, UInt32)] = [(0, 0), (0x09FF_FFFF, 0), (0x0A00_0000, 1), (0x0A01_0001, 2), (0x0A01_01FF, 3),
                                         (0x0A01_0200, 2), (0x0A02_0000, 1), (0x0AFF_FFFF, 1), (0x0B00_0000, 0),
                                         (0xFFFF_FEFF, 0), (0xFFFF_FF00, 4), (0xFFFF_FFFF, 4)]
        for (key, value) in cases { #expect(storage.valueIndex(key) == value, "key \(String(key, radix: 16))") }
    }

    @Test func missingFileNamesThePath() {
        #expect {
            _ = try GeoDatabase(path: "/nonexistent/trackstar/location.db")
        } throws: { error in
            "\(error)".contains("/nonexistent/trackstar/location.db") && "\(error)".contains("cannot open")
        }
        let notADatabase = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-not-a-location-\(getpid()).db").path
        _ = FileManager.default.createFile(atPath: notADatabase, contents: Data("not a database".utf8))
        defer { try? FileManager.default.removeItem(atPath: notADatabase) }
        #expect {
            _ = try GeoDatabase(path: notADatabase)
        } throws: { error in
            "\(error)".contains(notADatabase) && "\(error)".contains("not a libloc")
        }
    }

    /// Country packing: two letters, either case; anything else is unknown.
    @Test func countryCodes() {
        #expect(GeoAnswer.packCountry("US") == 0x5553)
        #expect(GeoAnswer.packCountry("de") == GeoAnswer.packCountry("DE"))
        #expect(GeoAnswer.packCountry("USA") == 0 && GeoAnswer.packCountry("1A") == 0)
        #expect(GeoAnswer(country: 0x4445, asn: 0, flags: []).countryCode == "DE")
        #expect(GeoAnswer.unknown.countryCode == nil)
    }
}

/// `location lookup` output: an "ADDRESS:" line, then "  Key : value" lines.
struct LocationOutput {
    var country: String?
    var asn: UInt32 = 0
    var anycast = false

    static func parse(_ text: String, codes: [String: String]) -> [String: LocationOutput] {
        var result: [String: LocationOutput] = [:]
        var current: String?
        for line in text.split(separator: "\n") {
            if !line.hasPrefix(" "), line.hasSuffix(":") {
                current = String(line.dropLast())
                result[current!] = LocationOutput()
                continue
            }
            guard let current, let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "Country": result[current]?.country = codes[value] ?? value
            case "Autonomous System":
                result[current]?.asn = UInt32(value.dropFirst(2).prefix(while: \.isNumber)) ?? 0
            case "Anycast": result[current]?.anycast = value == "yes"
            default: break
            }
        }
        return result
    }
}
