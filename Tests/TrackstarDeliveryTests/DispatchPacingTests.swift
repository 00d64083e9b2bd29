// Pacing on a busy core (Dispatcher+Pacing.swift): when a tick counts as busy, how many starts the
// budget allows per tick, that even the lowest rate starts one now and then, that a calm second lifts
// it, the schedstat reader, and the `[delivery] rate_while_busy` key.
import Testing
import TrackstarCore
@testable import TrackstarDelivery
import TrackstarConfiguration

@Suite("dispatch pacing")
struct DispatchPacingTests {
    static let ms: UInt64 = 1_000_000

    @Test func aTickIsBusyWhenTheThreadWaitedAtLeastHalfAsLongAsItRan() {
        #expect(DispatchPacing.contended(ranNanos: 10 * Self.ms, waitedNanos: 5 * Self.ms))
        #expect(DispatchPacing.contended(ranNanos: 0, waitedNanos: 40 * Self.ms))
        #expect(!DispatchPacing.contended(ranNanos: 10 * Self.ms, waitedNanos: 4 * Self.ms))
        #expect(!DispatchPacing.contended(ranNanos: 0, waitedNanos: Self.ms / 10))  // noise: under half a millisecond
    }

    /// Starts allowed in one tick (at most `limit`).
    static func starts(_ pacing: inout DispatchPacing, limit: Int = 10_000) -> Int {
        var n = 0
        while n < limit && pacing.allows { pacing.spend(); n += 1 }
        return n
    }

    @Test func whileBusyEachTickAllowsOneTicksWorthAndNoBurst() {
        var pacing = DispatchPacing(rate: 1_000)
        var now: Int64 = 1_000_000
        #expect(pacing.observe(now: now, ranNanos: 0, waitedNanos: 0, tickMillis: 50) == nil)
        #expect(Self.starts(&pacing, limit: 500) == 500)  // calm: no budget
        now += 50
        #expect(pacing.observe(now: now, ranNanos: 2 * Self.ms, waitedNanos: 30 * Self.ms, tickMillis: 50) == true)
        #expect(Self.starts(&pacing) == 50)  // 1,000 a second over 50 ms
        #expect(!pacing.allows)
        // A late tick (the thread was starved) still grants one tick's worth at most.
        now += 400
        _ = pacing.observe(now: now, ranNanos: 0, waitedNanos: 400 * Self.ms, tickMillis: 50)
        #expect(Self.starts(&pacing) == 50)
        #expect(pacing.pacedStarts == 100)
    }

    @Test func theLowestRateStillStartsOneASecondSoNothingWaitsForever() {
        var pacing = DispatchPacing(rate: 1)
        var now: Int64 = 0
        var started = 0
        for _ in 0..<100 {  // five seconds of busy ticks
            now += 50
            _ = pacing.observe(now: now, ranNanos: 0, waitedNanos: 50 * Self.ms, tickMillis: 50)
            started += Self.starts(&pacing)
        }
        #expect(started >= 4 && started <= 6)
    }

    @Test func aCalmSecondLiftsThePacing() {
        var pacing = DispatchPacing(rate: 100)
        var now: Int64 = 0
        #expect(pacing.observe(now: now, ranNanos: 0, waitedNanos: 20 * Self.ms, tickMillis: 50) == true)
        for _ in 0..<19 {  // calm ticks for 950 ms: still paced
            now += 50
            #expect(pacing.observe(now: now, ranNanos: 40 * Self.ms, waitedNanos: 0, tickMillis: 50) == nil)
            #expect(pacing.busy)
        }
        now += 50
        #expect(pacing.observe(now: now, ranNanos: 40 * Self.ms, waitedNanos: 0, tickMillis: 50) == false)
        #expect(Self.starts(&pacing, limit: 1_000) == 1_000)
    }

    @Test func rateZeroIsNeverPaced() {
        var pacing = DispatchPacing(rate: 0)
        #expect(pacing.observe(now: 50, ranNanos: 0, waitedNanos: 50 * Self.ms, tickMillis: 50) == nil)
        #expect(!pacing.busy)
        #expect(Self.starts(&pacing, limit: 100) == 100)
    }

    @Test func schedstatIsReadForTheCallingThread() throws {
        #expect(ThreadSchedStat.parse(ArraySlice(Array("123456 7890 12\n".utf8)))! == (123_456, 7_890))
        #expect(ThreadSchedStat.parse(ArraySlice(Array("garbage\n".utf8))) == nil)
        var stat = ThreadSchedStat()
        defer { stat.close() }
        guard stat.sinceLast() != nil else { return }  // a kernel without schedstats: pacing is off, and says so
        var spin: UInt64 = 0
        for i in 0..<2_000_000 { spin &+= UInt64(i) &* 31 }
        let second = stat.sinceLast()
        let figures = try #require(second)
        #expect(figures.ran > 0, "spun \(spin)")
    }

    @Test func rateWhileBusyIsReadFromTheConfiguration() throws {
        let base = "[[offers]]\nid = 1\nurl = \"https://shop.example/\"\n[[affiliates]]\nid = 7\n[delivery]\n"
        func load(_ value: String) -> Result<TrackstarConfig, ConfigProblems> { ConfigLoader.load(text: base + "rate_while_busy = \(value)") }
        #expect(TrackstarConfig().delivery.rateWhileBusy == 1_000)
        #expect(try load("250").get().delivery.rateWhileBusy == 250)
        #expect(try load("0").get().delivery.rateWhileBusy == 0)
        for bad in ["-1", "\"fast\"", "2000000"] {
            guard case .failure(let problems) = load(bad) else { Issue.record("\(bad) was accepted"); continue }
            #expect(problems.problems.contains { $0.description.contains("delivery.rate_while_busy") })
        }
    }
}
