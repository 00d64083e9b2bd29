// The conversion index: claims, aborts and takeovers; online growth with exactly one winner per key
// while 16 threads race behind a barrier; expiry with an injected clock. TRACKSTAR_LONG_TESTS=1
// runs the contention tests fifty times longer.
import Atomics
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import TrackstarStore
import TrackstarTestSupport

@Suite struct ConcurrentIndexTests {
    static let long = ProcessInfo.processInfo.environment["TRACKSTAR_LONG_TESTS"] != nil

    @Test func claimPublishAndLookup() throws {
        let index = try #require(ConcurrentIndex(capacity: 1024))
        index.enter(0); defer { index.leave(0) }
        guard case .claimed(let entry) = index.claim(42, expiresMillis: 1) else { Issue.record("not claimed"); return }
        index.publish(entry: entry, value: 7)
        #expect(index.claim(42, expiresMillis: 1) == .existing(entry: entry, value: 7))
        #expect(index.lookup(42) == 7)
        #expect(index.lookup(43) == nil)
    }

    @Test func abortedEntryIsTakenOver() throws {
        let index = try #require(ConcurrentIndex(capacity: 1024))
        index.enter(0); defer { index.leave(0) }
        guard case .claimed(let entry) = index.claim(5, expiresMillis: 1) else { Issue.record("not claimed"); return }
        index.abort(entry: entry)
        #expect(index.lookup(5) == nil)
        #expect(index.claim(5, expiresMillis: 1) == .claimed(entry: entry))
    }

    /// A fixed-size index (guard = its capacity) refuses at 7/8 full and says so in its stats.
    @Test func refusesAtTheMemoryGuard() throws {
        let index = try #require(ConcurrentIndex(capacity: 1024))
        index.enter(0); defer { index.leave(0) }
        var full = false
        for key in 2...2001 as ClosedRange<UInt64> {
            switch index.claim(key, expiresMillis: 1) {
            case .claimed(let entry): index.publish(entry: entry, value: key)
            case .full: full = true
            case .existing: Issue.record("fresh key \(key) existed")
            }
            if full { break }
        }
        #expect(full)
        #expect(index.count == 1024 - 1024 / 8)
        #expect(index.maintain(nowMillis: 0).refusal?.contains("storage.max_conversions") == true)
        #expect(index.stats().growthRefusals == 1)
    }

    /// One thread, no maintainer running between claims except when asked: a claimant at 3/4 starts
    /// the prepared spare itself; every key inserted before a growth step is still found after it.
    @Test func growsOnlineAndFindsEveryOlderKey() throws {
        let index = try #require(ConcurrentIndex(policy: IndexPolicy(initialCapacity: 1024, maxEntries: 1 << 24),
                                                 participants: 1, nowMillis: 0))
        let keys: UInt64 = 20 * 1024
        for key in 2...keys + 1 {
            index.enter(0)
            var claim = index.claim(key, expiresMillis: 10_000)
            if claim == .full {  // the spare was used and the maintainer has not prepared the next
                index.leave(0)
                _ = index.maintain(nowMillis: 0)
                index.enter(0)
                claim = index.claim(key, expiresMillis: 10_000)
            }
            guard case .claimed(let entry) = claim else { Issue.record("key \(key): \(claim)"); index.leave(0); return }
            index.publish(entry: entry, value: key &* 3)
            index.leave(0)
            if key % 512 == 0 { _ = index.maintain(nowMillis: 0) }
        }
        let stats = index.stats()
        #expect(stats.liveKeys == Int(keys))
        #expect(stats.generations > 1)
        index.enter(0); defer { index.leave(0) }
        for key in 2...keys + 1 {
            guard case .existing(_, let value) = index.claim(key, expiresMillis: 10_000), value == key &* 3 else {
                Issue.record("key \(key) lost after growth"); return
            }
        }
    }

    /// 16 threads claim the same keys in the same order, released at once, while the index grows
    /// from 1,024 entries to hold 20 times that: each key is won exactly once and every loser sees
    /// the winner's value. `.full` (the maintainer lagging behind a growth step) is retried.
    @Test func exactlyOneWinnerPerKeyThroughGrowth() throws {
        let threads = 16
        let keys = ConcurrentIndexTests.long ? 1_000_000 : 20 * 1024
        let index = try #require(ConcurrentIndex(policy: IndexPolicy(initialCapacity: 1024, maxEntries: 1 << 26),
                                                 participants: threads, nowMillis: 0))
        let stop = ManagedAtomic<Bool>(false)
        let maintainer = Thread {
            while !stop.load(ordering: .relaxed) {
                _ = index.maintain(nowMillis: 0)
                usleep(200)  // pacing of the maintainer's turns, not synchronisation
            }
        }
        maintainer.start()
        let tally = Tally(threads: threads)
        let fulls = ManagedAtomic<Int>(0)
        runTogether(threads: threads) { t in
            for k in 0..<keys {
                let key = UInt64(k) + 2
                while true {
                    index.enter(t)
                    let claim = index.claim(key, expiresMillis: 1)
                    switch claim {
                    case .claimed(let entry):
                        tally.wins[t] += 1
                        index.publish(entry: entry, value: key &* 3)
                    case .existing(_, let value):
                        if value != key &* 3 { tally.mismatches[t] += 1 }
                    case .full:
                        fulls.wrappingIncrement(ordering: .relaxed)
                    }
                    index.leave(t)
                    if claim != .full { break }
                    sched_yield()
                }
            }
        }
        stop.store(true, ordering: .relaxed)
        while !maintainer.isFinished { usleep(1000) }
        #expect((0..<threads).reduce(0) { $0 + tally.wins[$1] } == keys)
        #expect((0..<threads).reduce(0) { $0 + tally.mismatches[$1] } == 0)
        let stats = index.stats()
        #expect(stats.liveKeys == keys)
        #expect(stats.generations >= 4)
    }

    /// Threads abort and retake keys while generations rotate: a key is never held twice.
    @Test func abortsAndTakeoversAcrossGenerations() throws {
        let threads = 8
        let rounds = ConcurrentIndexTests.long ? 200_000 : 4_000
        let index = try #require(ConcurrentIndex(policy: IndexPolicy(initialCapacity: 1024, maxEntries: 1 << 24, rotationMillis: 1),
                                                 participants: threads, nowMillis: 0))
        let holders = (0..<64).map { _ in ManagedAtomic<Int>(0) }
        let stop = ManagedAtomic<Bool>(false)
        let clock = ManagedAtomic<Int>(0)
        let maintainer = Thread {
            while !stop.load(ordering: .relaxed) {
                _ = index.maintain(nowMillis: Int64(clock.wrappingIncrementThenLoad(ordering: .relaxed)))
                usleep(100)  // pacing, not synchronisation
            }
        }
        maintainer.start()
        let doubles = ManagedAtomic<Int>(0)
        runTogether(threads: threads) { t in
            var state = UInt64(t + 1) &* 0x9e37_79b9_7f4a_7c15
            for _ in 0..<rounds {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let k = Int(state >> 58)  // 64 hot keys
                index.enter(t)
                if case .claimed(let entry) = index.claim(UInt64(k) + 2, expiresMillis: 1 << 40) {
                    // Holding the key: nobody else may hold it now.
                    if holders[k].wrappingIncrementThenLoad(ordering: .relaxed) != 1 { doubles.wrappingIncrement(ordering: .relaxed) }
                    holders[k].wrappingDecrement(ordering: .relaxed)
                    index.abort(entry: entry)  // give it back: the next claimant takes it over
                }
                index.leave(t)
            }
        }
        stop.store(true, ordering: .relaxed)
        while !maintainer.isFinished { usleep(1000) }
        #expect(doubles.load(ordering: .relaxed) == 0)
        index.enter(0); defer { index.leave(0) }
        for k in 0..<64 {  // every key is still claimable exactly once
            guard case .claimed(let entry) = index.claim(UInt64(k) + 2, expiresMillis: 1 << 40) else {
                Issue.record("key \(k) not claimable"); return
            }
            index.publish(entry: entry, value: 9)
            #expect(index.claim(UInt64(k) + 2, expiresMillis: 1 << 40) == .existing(entry: entry, value: 9))
        }
    }

    /// With an injected clock: keys stay findable until their expiry across rotations, then their
    /// generation is dropped and unmapped, and the key can be claimed anew.
    @Test func expiredGenerationsAreDroppedAndForgotten() throws {
        let index = try #require(ConcurrentIndex(policy: IndexPolicy(initialCapacity: 1024, maxEntries: 1 << 20, rotationMillis: 100),
                                                 participants: 1, nowMillis: 0))
        index.enter(0)
        for key in 2...101 as ClosedRange<UInt64> {
            guard case .claimed(let entry) = index.claim(key, expiresMillis: 1_000) else { Issue.record("not claimed"); return }
            index.publish(entry: entry, value: key)
        }
        index.leave(0)
        #expect(index.maintain(nowMillis: 150).started.first?.aged == true)  // rotation by age
        index.enter(0)
        guard case .claimed(let late) = index.claim(500, expiresMillis: 3_000) else { Issue.record("not claimed"); return }
        index.publish(entry: late, value: 500)
        index.leave(0)
        _ = index.maintain(nowMillis: 300)  // second rotation: two sealed generations now
        _ = index.maintain(nowMillis: 900)  // nothing expired yet
        index.enter(0)
        if case .existing(_, let value) = index.claim(2, expiresMillis: 1_000) { #expect(value == 2) } else { Issue.record("key 2 lost before expiry") }
        index.leave(0)
        #expect(index.stats().liveKeys == 101)
        let dropped = index.maintain(nowMillis: 1_100).dropped  // the first generation's keys expired (1,024 rounded)
        #expect(dropped == [100])
        _ = index.maintain(nowMillis: 1_101)  // unmapped after the grace period
        index.enter(0)
        #expect(index.lookup(2) == nil)
        #expect(index.lookup(500) == 500)  // its own generation lives on
        guard case .claimed(let again) = index.claim(2, expiresMillis: 5_000) else { Issue.record("expired key not forgotten"); return }
        index.publish(entry: again, value: 77)
        index.leave(0)
        _ = index.maintain(nowMillis: 3_500)  // rotates the newest (holding key 2 again) away
        _ = index.maintain(nowMillis: 3_501)
        #expect(index.stats().liveKeys == 1)  // only key 2's new claim is left
        _ = index.maintain(nowMillis: 6_000)
        _ = index.maintain(nowMillis: 6_001)
        let stats = index.stats()
        #expect(stats.liveKeys == 0)
        #expect(stats.generations == 1)
        #expect(stats.capacity == 1024)
    }

    /// An aborted key in an older generation is marked moved; the key continues in the newest.
    @Test func abortedKeyInOlderGenerationMovesToTheNewest() throws {
        let index = try #require(ConcurrentIndex(policy: IndexPolicy(initialCapacity: 1024, maxEntries: 1 << 20, rotationMillis: 10),
                                                 participants: 1, nowMillis: 0))
        index.enter(0)
        guard case .claimed(let first) = index.claim(9, expiresMillis: 1_000) else { Issue.record("not claimed"); return }
        index.abort(entry: first)
        index.leave(0)
        _ = index.maintain(nowMillis: 20)
        index.enter(0); defer { index.leave(0) }
        guard case .claimed(let second) = index.claim(9, expiresMillis: 1_000) else { Issue.record("not claimed"); return }
        #expect(second >> ConcurrentIndex.slotShift != first >> ConcurrentIndex.slotShift)
        index.publish(entry: second, value: 11)
        #expect(index.claim(9, expiresMillis: 1_000) == .existing(entry: second, value: 11))
        #expect(index.lookup(9) == 11)
    }
}
