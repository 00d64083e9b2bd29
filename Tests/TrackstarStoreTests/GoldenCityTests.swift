// Golden fixture of click format 4: an enriched click whose location database named a city stores,
// after the browser name, the 10-byte traffic extension (zeros for a plain click) and the city with a
// 1-byte length. The current code must read it and write the same bytes; formats 2 and 3 read as
// before with no city, and a long name is cut on a UTF-8 character boundary.
import Testing
import TrackstarStore
import TrackstarTestSupport

@Suite struct GoldenCityTests {
    static let name = "city/click_with_city.bytes"
    static let fields = ["s1", "", "", "", "", "ac-3", "src", "Mozilla/5.0 Golden"]
    static let city = "Zürich"

    /// The variable bytes of a click with `tail` (eight fields, then the enrichment field).
    static func record(_ tail: ClickEnrichmentTail) -> [UInt8] {
        var out: [UInt8] = []
        for field in fields {
            out += [UInt8(field.utf8.count & 0xff), UInt8(field.utf8.count >> 8)] + Array(field.utf8)
        }
        var content = [UInt8](repeating: 0, count: tail.encodedCount)
        content.withUnsafeMutableBytes { tail.write(to: $0.baseAddress!) }
        return out + [UInt8(content.count & 0xff), UInt8(content.count >> 8)] + content
    }

    /// Runs `body` with a tail of fixed names, `traffic` and `city`.
    static func withTail<T>(traffic: ClickTraffic = .plain, city: [UInt8], _ body: (ClickEnrichmentTail) -> T) -> T {
        let os = Array("Android".utf8), browser = Array("Chrome Mobile".utf8)
        return os.withUnsafeBytes { os in browser.withUnsafeBytes { browser in city.withUnsafeBytes { city in
            body(ClickEnrichmentTail(asn: 3303, fingerprint: 0x0F1E_2D3C_4B5A_6978, os: os, browser: browser, traffic: traffic, city: city))
        } } }
    }

    /// The bytes the current code writes for the fixture's click (a plain click with a city).
    static func encode() -> [UInt8] { withTail(city: Array(city.utf8)) { record($0) } }

    @Test func aClickWithACityFromTheFixtureReadsBackAndIsWrittenTheSame() {
        let bytes = Golden.bytes(Self.name)
        #expect(!bytes.isEmpty, "missing fixture \(Golden.path(Self.name))")
        #expect(bytes == Self.encode(), "the current code writes a click with a city differently from the fixture")
        bytes.withUnsafeBytes { raw in
            let tail = ClickSlot.enrichmentTail(raw)
            #expect(tail.asn == 3303 && tail.fingerprint == 0x0F1E_2D3C_4B5A_6978)
            #expect(String(decoding: tail.os, as: UTF8.self) == "Android" && String(decoding: tail.browser, as: UTF8.self) == "Chrome Mobile")
            #expect(String(decoding: tail.city, as: UTF8.self) == Self.city)
            #expect(tail.traffic == .plain && ClickSlot.traffic(raw).countsAgainstCaps)
        }
        // The last bytes are the zeroed extension, the city's length and its UTF-8 bytes.
        let cityBytes = Array(Self.city.utf8)
        #expect(Array(bytes.suffix(11 + cityBytes.count)) == [UInt8](repeating: 0, count: 10) + [UInt8(cityBytes.count)] + cityBytes)
    }

    @Test func aDivertedClickKeepsItsTrafficAndItsCity() {
        let traffic = ClickTraffic(reason: .capReached, destination: .offerTrafficback, requestedOffer: 9, smartlink: 3)
        let bytes = Self.withTail(traffic: traffic, city: Array("São Paulo".utf8)) { Self.record($0) }
        bytes.withUnsafeBytes { raw in
            #expect(ClickSlot.traffic(raw) == traffic)
            #expect(String(decoding: ClickSlot.enrichmentTail(raw).city, as: UTF8.self) == "São Paulo")
        }
    }

    @Test func formatsTwoAndThreeReadWithoutACity() {
        let plain = Self.withTail(city: []) { Self.record($0) }
        let traffic = ClickTraffic(reason: .geo, destination: .serverTrafficback)
        let diverted = Self.withTail(traffic: traffic, city: []) { Self.record($0) }
        #expect(diverted.count == plain.count + ClickTraffic.encodedCount, "no city: no bytes beyond format 3's")
        plain.withUnsafeBytes { #expect(ClickSlot.enrichmentTail($0).city.isEmpty && ClickSlot.traffic($0) == .plain) }
        diverted.withUnsafeBytes { #expect(ClickSlot.enrichmentTail($0).city.isEmpty && ClickSlot.traffic($0) == traffic) }
        Golden.bytes(GoldenTrafficTests.name).withUnsafeBytes { #expect(ClickSlot.enrichmentTail($0).city.isEmpty) }
    }

    @Test func aLongCityIsCutOnACharacterBoundary() {
        // 63 ASCII bytes, then "é" (2 bytes) straddling the 64-byte limit: the cut leaves it out whole.
        let name = String(repeating: "a", count: 63) + "é" + "b"
        let bytes = Self.withTail(city: Array(name.utf8)) { Self.record($0) }
        bytes.withUnsafeBytes { raw in
            let city = ClickSlot.enrichmentTail(raw).city
            #expect(city.count == 63 && Array(city) == Array(name.utf8.prefix(63)))
        }
        let exact = String(repeating: "x", count: 62) + "é"  // exactly 64 bytes: kept whole
        Self.withTail(city: Array(exact.utf8)) { Self.record($0) }.withUnsafeBytes {
            #expect(String(decoding: ClickSlot.enrichmentTail($0).city, as: UTF8.self) == exact)
        }
    }

    @Test func aTruncatedCityFieldIsRefused() {
        var content = Self.withTail(city: Array("Oslo".utf8)) { tail -> [UInt8] in
            var out = [UInt8](repeating: 0, count: tail.encodedCount)
            out.withUnsafeMutableBytes { tail.write(to: $0.baseAddress!) }
            return out
        }
        content.removeLast()  // the length byte says 4, three bytes follow
        content.withUnsafeBytes { #expect(ClickEnrichmentTail(parsing: $0) == nil) }
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenCityTests/writeFixture
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixture"))
    func writeFixture() throws {
        try Golden.write(Self.encode(), to: Self.name)
    }
}
