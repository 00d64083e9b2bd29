// The run as the command line described it, the window timing the main thread publishes to the
// workers, and the barrier they meet at between setup and measurement.
#if canImport(Glibc)
import Glibc
#endif

/// Everything a worker needs to know about the run. Immutable and shared by all threads.
struct LoadPlan: Sendable {
    var host = "127.0.0.1"
    var port: Int32 = 8080
    var threads = 1
    var connections = 64
    var durationSeconds = 5.0
    var warmupSeconds = 1.0
    /// Requests per second over all connections; nil runs closed loop.
    var rate: Double?
    var pipeline = 1
    var scenario = Scenario.clicks
    var postbackShare = 0.3
    var campaign = Campaign(offers: 50, affiliates: 200)
    /// IDs to mint before a `postbacks` run, over all workers.
    var pool = 300_000
    /// Open loop: the pacer sleeps at least this long between wake-ups (nanoseconds).
    var tickNanos: UInt64 = 100_000
    var seed: UInt64 = 0x5EED
    /// Distinguishes this run's txids from earlier runs' against the same server (txids convert once per offer).
    var runID: UInt64 = 0
    /// One connection per request (`Connection: close` on each).
    var closeEach = false

    var hostHeader: String { "\(host):\(port)" }
    var openLoop: Bool { rate != nil }

    /// Connections given to worker `index`: an even split, the first workers taking the remainder.
    func connections(forWorker index: Int) -> Int {
        connections / threads + (index < connections % threads ? 1 : 0)
    }

    /// Open loop: nanoseconds between one connection's intended sends.
    var intervalNanos: Double { rate.map { Double(connections) / $0 * 1e9 } ?? 0 }
}

/// Window boundaries on the `uv_hrtime` clock, written by the main thread between the two barrier
/// waits and only read afterwards (the barrier orders the accesses).
final class RunClock: @unchecked Sendable {
    var start: UInt64 = 0
    var windowStart: UInt64 = .max
    var windowEnd: UInt64 = .max
}

/// A pthread barrier for the workers and the main thread.
final class Barrier: @unchecked Sendable {
    let barrier: UnsafeMutablePointer<pthread_barrier_t> = .allocate(capacity: 1)

    init(parties: Int) { pthread_barrier_init(barrier, nil, UInt32(parties)) }

    deinit { pthread_barrier_destroy(barrier); barrier.deallocate() }

    func wait() { pthread_barrier_wait(barrier) }
}

/// Sleeps until `deadline` on the monotonic clock that `uv_hrtime` reads.
func sleep(until deadline: UInt64) {
    var target = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
}
