// The unique-click table against its definition ("seen less than W before?") over random times and
// windows, with coarse ticks held to one tick of error; under contention with real threads released
// together (exactly one "unique" per fingerprint, also when fingerprints share probe runs); when full;
// across many laps of its ring; and its size (at most 16 bytes per click of the configured rate).
import Testing
import TrackstarCore
import TrackstarStore
import TrackstarTestSupport

@Suite struct FingerprintWindowTests {
    /// Fingerprints as UniqueClicks makes them: spread over 64 bits, low bit set.
    static func fingerprint(_ i: UInt64) -> UInt64 {
        var mix = SplitMix64(state: i &* 7919)
        return mix.next() | 1
    }

    @Test(arguments: [1, 7, 1000, 2000, 60_000, 86_400_000] as [Int64])
    func agreesWithTheDefinitionOverRandomTimes(window: Int64) throws {
        // Offers may ask less than the table's window: check the table's and a shorter one.
        var mix = SplitMix64(state: UInt64(window))
        for asked in Set([window, max(1, window / 3)]) {
            let table = try #require(FingerprintWindow(windowMillis: window, expectedPerWindow: 10_000))
            var seen: [UInt64: Int64] = [:]  // latest time per fingerprint
            var now: Int64 = 1_790_000_000_000
            for _ in 0..<4000 {
                now += Int64(mix.next() % UInt64(max(2, asked / 2 + 2)))
                let fingerprint = Self.fingerprint(mix.next() % 12 + asked.magnitude * 100)
                let latest = seen[fingerprint]
                let expected = latest.map { now - $0 >= asked } ?? true
                let outcome = table.record(fingerprint, windowMillis: asked, nowMillis: now)
                if (outcome == .unique) != expected {
                    // Only the stored time's rounding (down, to a tick) may differ: the earlier click
                    // was less than a tick inside the window's edge.
                    let latest = try #require(latest, "unique twice without an earlier click: window \(asked) at \(now)")
                    #expect(outcome == .unique && now - latest > asked - table.tickMillis,
                            "window \(asked) (tick \(table.tickMillis)): \(outcome) at \(now), earlier at \(latest)")
                }
                #expect(outcome != .full)
                seen[fingerprint] = now
            }
        }
    }

    @Test func timesAreExactToTheMillisecondForWindowsUpToAnHour() throws {
        #expect(try #require(FingerprintWindow(windowMillis: 3_600_000, expectedPerWindow: 1000)).tickMillis == 1)
        #expect(try #require(FingerprintWindow(windowMillis: 86_400_000, expectedPerWindow: 1000)).tickMillis == 21)
    }

    /// An offer with a window of seconds next to one of a day (the table's): a repeat within the
    /// short window is a repeat, and the first click after it is unique, at any phase of the ticks.
    @Test func shortWindowsAreDecidedToTheTickInATableForADay() throws {
        let table = try #require(FingerprintWindow(windowMillis: 86_400_000, expectedPerWindow: 100_000))
        var now: Int64 = 1_790_000_000_000
        for i in 0..<2000 {
            let fingerprint = Self.fingerprint(UInt64(i) + 1_000_000)
            #expect(table.record(fingerprint, windowMillis: 2000, nowMillis: now) == .unique)
            #expect(table.record(fingerprint, windowMillis: 2000, nowMillis: now + 300) == .repeated, "at \(now)")
            #expect(table.record(fingerprint, windowMillis: 2000, nowMillis: now + 300 + 2000 + table.tickMillis) == .unique, "at \(now)")
            now += 7
        }
    }

    @Test func racingIdenticalClicksMakeExactlyOneUnique() throws {
        let threads = 8
        let table = try #require(FingerprintWindow(windowMillis: 60_000, expectedPerWindow: 1 << 16))
        for round in 0..<50 {
            let fingerprint = Self.fingerprint(UInt64(round))
            let results = Counts(threads)
            runTogether(threads: threads) { thread in
                let outcome = table.record(fingerprint, windowMillis: 60_000, nowMillis: 1_790_000_000_000 + Int64(round) * 20_000)
                results.add(thread, outcome == .unique ? 1 : 0)
            }
            #expect(results.total == 1, "round \(round): \(results.values)")
        }
    }

    /// Threads record the same fingerprints in different orders into a small table, so their
    /// probe runs overlap: every fingerprint must be unique exactly once among all of them.
    @Test func racingThreadsOverSharedProbeRunsCountEachFingerprintOnce() throws {
        let threads = 4, fingerprints = 2000
        let table = try #require(FingerprintWindow(windowMillis: 60_000, expectedPerWindow: 4 * fingerprints))
        let results = Counts(threads)
        runTogether(threads: threads) { thread in
            var unique = 0
            for i in 0..<fingerprints {
                let k = thread % 2 == 0 ? i : fingerprints - 1 - i
                if table.record(Self.fingerprint(UInt64(k)), windowMillis: 60_000, nowMillis: 1_790_000_000_000) == .unique { unique += 1 }
            }
            results.add(thread, unique)
        }
        #expect(results.total == fingerprints, "\(results.values)")
    }

    @Test func aFullTableSaysSoAndKeepsWhatItHas() throws {
        let table = try #require(FingerprintWindow(windowMillis: 1000, expectedPerWindow: 100))
        let now: Int64 = 1_790_000_000_000
        var full = 0, recorded: [UInt64] = []
        for i in 0..<UInt64(4 * table.capacity) {
            switch table.record(Self.fingerprint(i), windowMillis: 1000, nowMillis: now) {
            case .unique: recorded.append(Self.fingerprint(i))
            case .repeated: Issue.record("a new fingerprint was called a repeat")
            case .full: full += 1
            }
        }
        #expect(full > 0)
        #expect(recorded.count == table.capacity)
        for fingerprint in recorded { #expect(table.record(fingerprint, windowMillis: 1000, nowMillis: now + 1) == .repeated) }
    }

    @Test func tablesAreReusedLapAfterLapWithoutClearing() throws {
        let window: Int64 = 400
        let table = try #require(FingerprintWindow(windowMillis: window, expectedPerWindow: 1000))
        var now: Int64 = 1_790_000_000_000
        for lap in 0..<2600 {  // past the 20,480 generations after which a slot's number repeats in its table
            for i in 0..<20 {
                let fingerprint = Self.fingerprint(UInt64(i))
                #expect(table.record(fingerprint, windowMillis: window, nowMillis: now) == .unique, "lap \(lap)")
                #expect(table.record(fingerprint, windowMillis: window, nowMillis: now + window - 1) == .repeated, "lap \(lap)")
            }
            now += 2 * window + 37
        }
    }

    @Test func aClockThatGoesBackAWholeRingIsRefused() throws {
        let table = try #require(FingerprintWindow(windowMillis: 1000, expectedPerWindow: 1000))
        let now: Int64 = 1_790_000_000_000
        #expect(table.record(Self.fingerprint(1), windowMillis: 1000, nowMillis: now) == .unique)
        #expect(table.record(Self.fingerprint(2), windowMillis: 1000, nowMillis: now - 10_000) == .full)
        #expect(table.record(Self.fingerprint(1), windowMillis: 1000, nowMillis: now + 1) == .repeated)
    }

    @Test func aRestoredTableDecidesAsTheLiveOne() throws {
        let window: Int64 = 10_000
        let live = try #require(FingerprintWindow(windowMillis: window, expectedPerWindow: 1000))
        let rebuilt = try #require(FingerprintWindow(windowMillis: window, expectedPerWindow: 1000))
        let start: Int64 = 1_790_000_000_000
        for (i, k) in [3, 5, 3, 7, 5].enumerated() {
            let at = start + Int64(i) * 3000
            _ = live.record(Self.fingerprint(UInt64(k)), windowMillis: window, nowMillis: at)
            #expect(rebuilt.restore(Self.fingerprint(UInt64(k)), atMillis: at, nowMillis: start + 13_000))
        }
        for (k, at) in [(3, start + 14_000), (5, start + 22_500), (7, start + 19_500), (9, start + 14_000), (3, start + 30_000)] {
            let a = live.record(Self.fingerprint(UInt64(k)), windowMillis: window, nowMillis: at)
            let b = rebuilt.record(Self.fingerprint(UInt64(k)), windowMillis: window, nowMillis: at)
            #expect(a == b, "fingerprint \(k) at +\(at - start)")
        }
    }

    @Test(arguments: [2000, 60_000, 3_600_000, 86_400_000, 604_800_000, 2047, 16_385] as [Int64])
    func atMostSixteenBytesPerClickOfTheConfiguredRate(window: Int64) throws {
        let clicks = 10_000_000
        let table = try #require(FingerprintWindow(windowMillis: window, expectedPerWindow: clicks))
        let perClick = Double(table.reservedBytes) / Double(clicks)
        #expect(perClick <= 16, "window \(window): \(table.tables) tables of \(table.capacity) slots, \(perClick) B/click")
    }
}

/// Per-thread results, each thread writing its own slot; read after the join.
final class Counts: @unchecked Sendable {
    let slots: UnsafeMutablePointer<Int>
    let count: Int
    init(_ count: Int) { self.count = count; slots = .allocate(capacity: count); slots.initialize(repeating: 0, count: count) }
    deinit { slots.deallocate() }
    func add(_ thread: Int, _ value: Int) { slots[thread] += value }
    var values: [Int] { (0..<count).map { slots[$0] } }
    var total: Int { values.reduce(0, +) }
}
