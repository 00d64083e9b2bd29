// GeoDatabase's MaxMind backend on a small .mmdb file written here by the format's specification
// (MaxMind DB 2.0: a binary search tree of 24-bit records, a data section, metadata), so the test
// needs no downloaded database: the fields GeoLite2 and GeoIP2 use (city included), IPv4 and IPv6, and the misses.
import Foundation
import Testing
@testable import TrackstarEnrich
import TrackstarTestSupport

@Suite struct MaxMindTests {
    @Test func answersFromAnMMDBFile() throws {
        var writer = MMDBWriter()
        writer.insert(v4: (192, 0, 2, 0), prefix: 24, .map([("country", .map([("iso_code", .string("DE"))])),
                                                            ("city", .map([("geoname_id", .uint32(2_950_159)),
                                                                           ("names", .map([("de", .string("Berlin (de)")), ("en", .string("Berlin"))]))])),
                                                            ("autonomous_system_number", .uint32(3320))]))
        writer.insert(v4: (198, 51, 100, 0), prefix: 24, .map([("registered_country", .map([("iso_code", .string("FR"))])),
                                                               ("traits", .map([("is_anonymous_proxy", .boolean(true)), ("is_anycast", .boolean(true))]))]))
        writer.insert(high: 0x2001_0DB8_0000_0000, prefix: 32, .map([("country", .map([("iso_code", .string("JP"))])),
                                                                     ("city", .map([("names", .map([("en", .string("Ōsaka"))]))])),
                                                                     ("autonomous_system_number", .uint32(2497)),
                                                                     ("traits", .map([("is_satellite_provider", .boolean(true))]))]))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-test-\(getpid()).mmdb").path
        try Data(writer.file()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let geo = try GeoDatabase(maxMindPath: path)
        func answer(_ text: String) -> GeoAnswer { let (high, low) = words(text); return geo.lookup(high: high, low: low) }
        #expect(answer("192.0.2.77") == GeoAnswer(country: GeoAnswer.packCountry("DE"), asn: 3320, flags: []))
        #expect(answer("198.51.100.1") == GeoAnswer(country: GeoAnswer.packCountry("FR"), asn: 0, flags: [.anonymousProxy, .anycast]))
        #expect(answer("2001:db8:1::5") == GeoAnswer(country: GeoAnswer.packCountry("JP"), asn: 2497, flags: .satelliteProvider))
        #expect(answer("192.0.3.1") == .unknown)
        #expect(answer("2001:db9::1") == .unknown)
        #expect(geo.networkCount == writer.nodeCount && geo.tableBytes == 0)

        // The city's English name, as a view into the file, with the same answer as `lookup`.
        func place(_ text: String) -> (GeoAnswer, String) {
            let (high, low) = words(text)
            let place = geo.place(high: high, low: low)
            return (place.answer, String(decoding: place.city, as: UTF8.self))
        }
        for address in ["192.0.2.77", "198.51.100.1", "2001:db8:1::5", "192.0.3.1"] { #expect(place(address).0 == answer(address)) }
        #expect(place("192.0.2.77").1 == "Berlin")
        #expect(place("2001:db8:1::5").1 == "Ōsaka")
        #expect(place("198.51.100.1").1 == "", "no city in the entry")
        #expect(place("192.0.3.1").1 == "", "not in the file")
    }

    @Test func notAnMMDBFileNamesThePath() {
        #expect { _ = try GeoDatabase(maxMindPath: "/nonexistent/GeoLite2-City.mmdb") } throws: {
            "\($0)".contains("/nonexistent/GeoLite2-City.mmdb") && "\($0)".contains("MaxMind")
        }
        #expect { _ = try GeoDatabase(maxMindPath: "/usr/share/uap-core/regexes.yaml") } throws: {
            "\($0)".contains("regexes.yaml")
        }
    }
}
