// Knowing when every request loop has taken a new catalog: each reload or API change posts one
// `AppliedEverywhere` with it, the last loop to swap records the time it took and wakes the admin
// loop, and the admin loop holds an API write's answer until then (bounded), without blocking a thread.
import Atomics
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// The catalogs posted to the loops: how long they took to reach every loop (the last 1,024, in
/// microseconds), and the latest one, whose arrival everywhere the admin loop's answers wait for.
final class ApplyTimes: @unchecked Sendable {  // behind `lock`
    /// How long an answer waits for the loops before it goes anyway (the change is durable; a loop
    /// that late takes it when it wakes). Healthy loops take about a millisecond (performance.md).
    static let patienceMicros: Int64 = 2_000_000
    private var lock = pthread_mutex_t()
    private var samples: [Int64] = []
    private var next = 0
    /// The last catalog posted, until every loop has it or the patience ran out.
    private var latest: AppliedEverywhere?
    /// Answers that went before every loop had the change (the patience ran out).
    private var late = 0

    init() { pthread_mutex_init(&lock, nil) }

    /// On the thread that posts a catalog, before posting it.
    func posted(_ catalog: AppliedEverywhere) {
        pthread_mutex_lock(&lock)
        latest = catalog
        pthread_mutex_unlock(&lock)
    }

    /// On the last loop to take a catalog.
    func record(micros: Int64) {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if samples.count < 1024 { samples.append(micros) } else { samples[next] = micros; next = (next + 1) % 1024 }
    }

    /// True once every loop has taken the latest catalog posted (loops take their mailboxes in
    /// order, so every earlier one too), or when it has waited longer than `patienceMicros`.
    func everyLoopHasTheLatest(nowMicros: Int64) -> Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard let waiting = latest else { return true }
        let taken = waiting.loopsTaken
        if taken < waiting.loops && nowMicros - waiting.postedMicros < ApplyTimes.patienceMicros { return false }
        if taken < waiting.loops {
            late += 1
            Log.warning("a catalog change is answered before every loop took it", [
                "loops": "\(waiting.loops)", "taken": "\(taken)", "waited_ms": "\((nowMicros - waiting.postedMicros) / 1000)"])
        }
        latest = nil
        return true
    }

    func summary() -> (count: Int, p50: Int64, p99: Int64, max: Int64, late: Int) {
        pthread_mutex_lock(&lock)
        let sorted = samples.sorted()
        let late = self.late
        pthread_mutex_unlock(&lock)
        guard !sorted.isEmpty else { return (0, 0, 0, 0, late) }
        func at(_ q: Double) -> Int64 { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return (sorted.count, at(0.5), at(0.99), sorted.last!, late)
    }
}

/// Counts the loops that have taken one new catalog; the last one records the time since it was
/// posted and wakes the admin loop, whose held answers may then go.
final class AppliedEverywhere: Sendable {
    let loops: Int
    let times: ApplyTimes
    let postedMicros = MonotonicClock.micros()
    let applied = ManagedAtomic<Int>(0)
    /// Makes the admin loop run an iteration (it re-checks its held answers in each).
    let wake: @Sendable () -> Void

    /// Registers itself as the latest catalog with `times`; post it to the loops after this.
    init(loops: Int, times: ApplyTimes, wake: @escaping @Sendable () -> Void) {
        self.loops = loops; self.times = times; self.wake = wake
        times.posted(self)
    }

    /// On each loop, after it swapped its catalog.
    func loopApplied() {
        // acquiringAndReleasing: the last loop's reading of the count orders after every other loop's
        // swap, and its release publishes its own swap to `loopsTaken`'s acquiring reader.
        if applied.wrappingIncrementThenLoad(ordering: .acquiringAndReleasing) == loops {
            times.record(micros: MonotonicClock.micros() - postedMicros)
            wake()
        }
    }

    /// How many loops have taken it. Acquiring: pairs with each loop's releasing increment.
    var loopsTaken: Int { applied.load(ordering: .acquiring) }
}
