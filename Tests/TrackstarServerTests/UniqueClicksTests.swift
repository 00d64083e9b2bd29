// The unique-click index against its definition: a click is unique when no click with the same
// fingerprint came within the window before it. Checked against a brute-force reference over random
// click times (buckets, boundaries, long gaps), under contention (exactly one unique among racing
// identical clicks), and after a rebuild from recorded clicks.
import Testing
import TrackstarCore
@testable import TrackstarServer
import TrackstarTestSupport

@Suite struct UniqueClicksTests {
    func makeIndex(participants: Int = 1, window: Int64) throws -> UniqueClicks {
        try #require(UniqueClicks(longestWindowMillis: window, clicksPerWindow: 1 << 16, key: SipHashKey(k0: 1, k1: 2)))
    }

    @Test func agreesWithTheDefinitionOverRandomTimes() throws {
        var generator = SplitMix64(state: 13)
        for window: Int64 in [1, 7, 1000, 86_400_000] {
            let unique = try makeIndex(window: window)
            var seen: [UInt64: [Int64]] = [:]
            var now: Int64 = 1_790_000_000_000
            for _ in 0..<3000 {
                now += Int64(generator.next() % UInt64(max(2, window / 2 + 2)))  // repeats within and across windows
                let fingerprint = generator.next() % 12 | 1
                let expected = !(seen[fingerprint] ?? []).contains { now - $0 < window }
                let outcome = unique.record(fingerprint, windowMillis: window, nowMillis: now)
                // Times are kept to a tick (1 ms up to 70 min windows): only an earlier click less than a
                // tick inside the window's edge may be missed.
                let edge = (seen[fingerprint] ?? []).allSatisfy { now - $0 > window - unique.table.tickMillis }
                #expect((outcome == .unique) == expected || (outcome == .unique && edge), "window \(window), fingerprint \(fingerprint) at \(now)")
                seen[fingerprint, default: []].append(now)
            }
        }
    }

    @Test func racingIdenticalClicksMakeExactlyOneUnique() throws {
        let threads = 8
        let unique = try makeIndex(participants: threads, window: 60_000)
        for round in 0..<50 {
            let fingerprint = UInt64(round) &* 0x9E37_79B9_7F4A_7C15 | 1
            let results = PerThread(count: threads)
            runTogether(threads: threads) { thread in
                let outcome = unique.record(fingerprint, windowMillis: 60_000, nowMillis: 1_790_000_000_000 + Int64(round) * 60_000)
                results.slots[thread] = outcome == .unique ? 1 : 0
            }
            let counts = (0..<threads).map { results.slots[$0] }
            #expect(counts.reduce(0, +) == 1, "round \(round): \(counts)")
        }
    }

    @Test func aRebuiltIndexDecidesAsTheLiveOneWould() throws {
        let window: Int64 = 10_000
        let live = try makeIndex(window: window)
        let rebuilt = try makeIndex(window: window)
        let start: Int64 = 1_790_000_000_000
        for (i, fingerprint) in [3, 5, 3, 7, 5].enumerated() {
            let at = start + Int64(i) * 3000
            _ = live.record(UInt64(fingerprint), windowMillis: window, nowMillis: at)
            #expect(rebuilt.restore(UInt64(fingerprint), atMillis: at, nowMillis: start + 13_000))
        }
        for (fingerprint, at) in [(3, start + 14_000), (5, start + 22_500), (7, start + 19_500), (9, start + 14_000), (3, start + 30_000)] {
            let a = live.record(UInt64(fingerprint), windowMillis: window, nowMillis: at)
            let b = rebuilt.record(UInt64(fingerprint), windowMillis: window, nowMillis: at)
            #expect(a == b, "fingerprint \(fingerprint) at +\(at - start)")
        }
    }

    @Test func fingerprintsDependOnOfferAddressAndAgent() throws {
        let unique = try makeIndex(window: 1000)
        func print(_ offer: UInt32, _ low: UInt64, _ agent: String) -> UInt64 {
            var agent = agent
            return agent.withUTF8 { unique.fingerprint(offer: offer, high: 0, low: low, userAgent: UnsafeRawBufferPointer($0)) }
        }
        let base = print(1, 0xFFFF_0808_0808, "a")
        #expect(base != 0)
        #expect(base == print(1, 0xFFFF_0808_0808, "a"))
        #expect(Set([base, print(2, 0xFFFF_0808_0808, "a"), print(1, 0xFFFF_0808_0809, "a"), print(1, 0xFFFF_0808_0808, "b")]).count == 4)
    }
}

/// One result slot per thread (each thread writes only its own; read after the join).
final class PerThread: @unchecked Sendable {
    let slots: UnsafeMutablePointer<Int>
    init(count: Int) { slots = .allocate(capacity: count); slots.initialize(repeating: 0, count: count) }
    deinit { slots.deallocate() }
}
