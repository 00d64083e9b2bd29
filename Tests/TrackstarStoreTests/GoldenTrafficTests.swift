// Golden fixture of a diverted click's variable bytes (issue 14's traffic extension, click format 3):
// eight length-prefixed fields and the enrichment field ending in the 10-byte extension. The current
// code must read it field by field and write the same bytes; the reason and destination numbers are
// stored, so they are pinned too (Tests/Fixtures/golden/README.md).
import Testing
import TrackstarStore
import TrackstarTestSupport

@Suite struct GoldenTrafficTests {
    static let name = "traffic/diverted_click.bytes"
    static let fields = ["s1", "", "s3", "", "", "ac-9", "src", "Mozilla/5.0 Golden"]
    static let traffic = ClickTraffic(reason: .bot, destination: .affiliateTrafficback, requestedOffer: 0x0102_0304, smartlink: 77)

    /// The bytes the current code writes for the fixture's click (what `RequestHandler.mint` stores).
    static func encode() -> [UInt8] {
        var out: [UInt8] = []
        for field in fields {
            out += [UInt8(field.utf8.count & 0xff), UInt8(field.utf8.count >> 8)] + Array(field.utf8)
        }
        let os = Array("iOS".utf8), browser = Array("Mobile Safari".utf8)
        return os.withUnsafeBytes { os in
            browser.withUnsafeBytes { browser in
                let tail = ClickEnrichmentTail(asn: 15169, fingerprint: 0x0123_4567_89ab_cdef, os: os, browser: browser, traffic: traffic)
                var content = [UInt8](repeating: 0, count: tail.encodedCount)
                content.withUnsafeMutableBytes { tail.write(to: $0.baseAddress!) }
                return out + [UInt8(content.count & 0xff), UInt8(content.count >> 8)] + content
            }
        }
    }

    @Test func aDivertedClickFromTheFixtureReadsBackEveryFieldAndIsWrittenTheSame() throws {
        let bytes = Golden.bytes(Self.name)
        #expect(!bytes.isEmpty, "missing fixture \(Golden.path(Self.name))")
        #expect(bytes == Self.encode(), "the current code writes a diverted click differently from the fixture")
        bytes.withUnsafeBytes { raw in
            let tail = ClickSlot.enrichmentTail(raw)
            #expect(tail.asn == 15169 && tail.fingerprint == 0x0123_4567_89ab_cdef)
            #expect(String(decoding: tail.os, as: UTF8.self) == "iOS" && String(decoding: tail.browser, as: UTF8.self) == "Mobile Safari")
            #expect(ClickSlot.traffic(raw) == Self.traffic)
            #expect(!ClickSlot.traffic(raw).countsAgainstCaps)
        }
    }

    /// The stored numbers of reasons and destinations are part of the format.
    @Test func trafficNumbersAreUnchanged() {
        #expect(TrafficReason.allCases.map { "\($0.name)" } == ["", "offer_paused", "cap_reached", "geo", "device", "os", "no_eligible_offer", "bot"])
        #expect(TrafficReason.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(TrafficDestination.allCases.map { "\($0.name)" } == ["offer", "offer_trafficback_url", "affiliate_trafficback_url",
                                                                     "smartlink_trafficback_url", "server_trafficback_url", "offer_fallback_url"])
        #expect(TrafficDestination.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5])
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenTrafficTests/writeFixture
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixture"))
    func writeFixture() throws {
        try Golden.write(Self.encode(), to: Self.name)
    }
}
