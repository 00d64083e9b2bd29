// In-process tests of the cap counters (issue 14): exactness when many threads race for the last
// units (all released at once; TRACKSTAR_LONG=1 for the long mode), windows that move on, release,
// replay, the day and month of an instant in a zone, and targeting against a click's enrichment.
import Foundation
import Synchronization
import Testing
import TrackstarTestSupport
@testable import TrackstarServer
import TrackstarConfiguration
import TrackstarStore

@Suite struct CapCounterTests {
    @Test func racingThreadsTakeExactlyTheLimit() {
        let rounds = ProcessInfo.processInfo.environment["TRACKSTAR_LONG"] == nil ? 20 : 500
        let book = CapBook()
        for round in 0..<rounds {
            let line = book.line(offer: UInt32(round + 1), affiliate: 0)
            let limit = UInt64(round % 7 + 1) * 13
            let taken = Atomic<Int>(0)
            runTogether(threads: 8) { _ in
                for _ in 0..<40 where line.reserve(.dailyClicks, window: 20_000, limit: limit) {
                    taken.add(1, ordering: .relaxed)
                }
            }
            #expect(taken.load(ordering: .relaxed) == Int(limit))
            #expect(line.used(.dailyClicks, window: 20_000) == limit)
        }
    }

    @Test func aNewWindowStartsAtZeroAndAnOldOneNeverReopens() {
        let book = CapBook()
        let line = book.line(offer: 1, affiliate: 0)
        defer { withExtendedLifetime(book) {} }
        #expect(line.reserve(.dailyClicks, window: 5, limit: 1))
        #expect(!line.reserve(.dailyClicks, window: 5, limit: 1))
        #expect(line.reserve(.dailyClicks, window: 6, limit: 1))
        #expect(!line.reserve(.dailyClicks, window: 5, limit: 1), "a late click of the old day counts in the new one")
        line.release(.dailyClicks, window: 6)
        #expect(line.used(.dailyClicks, window: 6) == 0)
        line.release(.dailyClicks, window: 6)
        #expect(line.used(.dailyClicks, window: 6) == 0, "never below zero")
        line.replay(.totalClicks, window: 0)
        line.replay(.totalClicks, window: 0)
        #expect(line.used(.totalClicks, window: 0) == 2)
    }

    @Test func allOrNothingAcrossTheOffersAndTheAffiliatesCaps() throws {
        var offer = OfferConfig(id: 1, url: "https://one.example/")
        offer.caps.dailyClicks = 5
        offer.affiliateCaps = [AffiliateCapConfig(affID: 7, limits: { var l = CapLimits(); l.totalClicks = 2; return l }())]
        let caps = try OfferCaps(offer, book: CapBook())
        let now: Int64 = 1_790_000_000_000
        #expect(caps.take(.dailyClicks, affiliate: 7, nowMillis: now))
        #expect(caps.take(.dailyClicks, affiliate: 7, nowMillis: now))
        #expect(!caps.take(.dailyClicks, affiliate: 7, nowMillis: now), "the affiliate's total cap")
        let windows = caps.zone.windows(now)
        #expect(caps.offer!.line.used(.dailyClicks, window: windows.day) == 2, "the refused click gave its offer unit back")
        for _ in 0..<3 { #expect(caps.take(.dailyClicks, affiliate: 8, nowMillis: now)) }
        #expect(!caps.take(.dailyClicks, affiliate: 8, nowMillis: now))
    }

    @Test func theTallyFileRoundTripsAndRefusesDamage() {
        let tally = CapTally(shards: 2)
        let bytes = tally.encoded()
        guard case .success(let empty) = CapTally.decode(bytes) else { Issue.record("an empty tally did not decode"); return }
        #expect(empty.clickCursors == [0, 0] && empty.words.isEmpty)
        var damaged = bytes
        damaged[9] ^= 1
        guard case .failure = CapTally.decode(damaged) else { Issue.record("a flipped bit decoded"); return }
        #expect(CapTally.replayed(0, window: 3) == 3 << 40 | 1)
        #expect(CapTally.replayed(3 << 40 | 1, window: 3) == 3 << 40 | 2)
        #expect(CapTally.replayed(3 << 40 | 2, window: 2) == 3 << 40 | 2, "an older window does not count")
        #expect(CapTally.replayed(3 << 40 | 2, window: 4) == 4 << 40 | 1)
    }

    @Test func theTrafficExtensionIsStoredOnlyWhenTheClickWasDiverted() {
        let os = Array("iOS".utf8), browser = Array("Safari".utf8)
        os.withUnsafeBytes { os in
            browser.withUnsafeBytes { browser in
                let plain = ClickEnrichmentTail(asn: 15169, fingerprint: 42, os: os, browser: browser)
                let diverted = ClickEnrichmentTail(asn: 15169, fingerprint: 42, os: os, browser: browser,
                                                   traffic: ClickTraffic(reason: .geo, destination: .serverTrafficback, requestedOffer: 9, smartlink: 3))
                #expect(diverted.encodedCount == plain.encodedCount + ClickTraffic.encodedCount)
                for tail in [plain, diverted] {
                    var bytes = [UInt8](repeating: 0, count: tail.encodedCount)
                    bytes.withUnsafeMutableBytes { tail.write(to: $0.baseAddress!) }
                    let read = bytes.withUnsafeBytes { ClickEnrichmentTail(parsing: $0)! }
                    #expect(read.traffic == tail.traffic)
                    #expect(read.asn == 15169 && Array(read.os) == Array(os) && Array(read.browser) == Array(browser))
                }
                #expect(!ClickTraffic.plain.isPresent && ClickTraffic.plain.countsAgainstCaps)
                #expect(!diverted.traffic.countsAgainstCaps)
            }
        }
    }

    @Test func daysAndMonthsAreTheZonesCivilOnes() throws {
        let newYork = try CapZone.load("America/New_York")
        let utc = try CapZone.load("UTC")
        // 2026-03-01T03:00Z is still February 28th in New York (UTC-5).
        let instant: Int64 = 1_772_334_000_000
        #expect(utc.windows(instant).month == 2026 * 12 + 2)
        #expect(newYork.windows(instant).month == 2026 * 12 + 1)
        #expect(utc.windows(instant).day == newYork.windows(instant).day + 1)
        // Every day start of two years against a month computed independently by the calendar.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "America/New_York")!
        var date = calendar.date(from: DateComponents(year: 2025, month: 1, day: 1, hour: 0, minute: 0, second: 1))!
        for _ in 0..<730 {
            let millis = Int64(date.timeIntervalSince1970 * 1000)
            let parts = calendar.dateComponents([.year, .month], from: date)
            #expect(newYork.windows(millis).month == UInt64(parts.year! * 12 + parts.month! - 1))
            #expect(newYork.windows(millis - 2000).day + 1 == newYork.windows(millis).day, "midnight is the day boundary")
            date = calendar.date(byAdding: .day, value: 1, to: date)!
        }
        #expect(throws: ConfigProblem.self) { try CapZone.load("Nowhere/Atlantis") }
    }

    @Test func theZonesHintAlwaysAgreesWithTheSearchAlsoWhenThreadsRaceAcrossDays() throws {
        let zones = [try CapZone.load("America/New_York"), try CapZone.load("Australia/Lord_Howe"), CapZone.utc]
        // Instants around 2026, many within a few days of each other (so hints are used and replaced),
        // with DST transitions among them; four threads race on each zone's one hint.
        let mismatches = Atomic<Int>(0)
        runTogether(threads: 4) { thread in
            var state = UInt64(thread + 1) &* 0x9E37_79B9_7F4A_7C15
            for _ in 0..<20_000 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let spread: Int64 = state >> 63 == 0 ? 3 * 86_400_000 : 400 * 86_400_000
                let instant = 1_767_225_600_000 + Int64(state >> 20) % spread - spread / 2
                for zone in zones {
                    let fast = zone.windows(instant), slow = zone.slowWindows(instant)
                    if fast != slow { mismatches.add(1, ordering: .relaxed) }
                }
            }
        }
        #expect(mismatches.load(ordering: .relaxed) == 0)
    }

    @Test func targetingNamesTheFirstMismatch() {
        var config = TargetingConfig()
        config.countries = ["GB", "DE"]
        config.devices = ["mobile"]
        config.os = ["iOS"]
        let targeting = Targeting(config)
        var facts = ClickFacts()
        let ios = Array("IOS".utf8)
        ios.withUnsafeBytes { os in
            facts.os = os
            facts.head = ClickEnrichmentHead(country: UInt16(ascii2: "GB"), device: .mobile, botReason: .none, unique: false)
            #expect(targeting.mismatch(facts) == .none)
            facts.head.country = UInt16(ascii2: "US")
            #expect(targeting.mismatch(facts) == .geo)
            facts.head.country = 0
            #expect(targeting.mismatch(facts) == .geo, "an unknown country is not on an allow list")
            facts.head.country = UInt16(ascii2: "DE")
            facts.head.device = .desktop
            #expect(targeting.mismatch(facts) == .device)
            facts.head.device = .mobile
            facts.os = UnsafeRawBufferPointer(start: nil, count: 0)
            #expect(targeting.mismatch(facts) == .os)
        }
        var excluded = TargetingConfig()
        excluded.excludeCountries = ["CN"]
        facts.head.country = 0
        #expect(Targeting(excluded).mismatch(facts) == .none, "an unknown country is not excluded")
        facts.head.country = UInt16(ascii2: "CN")
        #expect(Targeting(excluded).mismatch(facts) == .geo)
    }
}

extension UInt16 {
    /// Two letters as click records keep them (the first in the low byte).
    init(ascii2 code: String) {
        let bytes = Array(code.utf8)
        self = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
    }
}
