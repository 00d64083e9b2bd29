// The conversion index's maintainer thread: every 10 ms it lets the index prepare its next
// generation, start one that aged out, seal replaced ones and drop expired ones, and logs each step.
// The loops never wait for it: they start a prepared generation themselves when theirs fills.
import TrackstarCore
import TrackstarIO
import TrackstarStore

/// Runs `ConcurrentIndex.maintain` on its own thread until stopped.
final class IndexKeeper: @unchecked Sendable {
    let index: ConcurrentIndex
    let thread = StoppableThread()
    static let periodMillis: Int64 = 10
    /// A refused growth step is logged at most once a minute (it repeats every turn until fixed).
    static let refusalLogMillis: Int64 = 60_000

    /// What the log lines call it ("conversion index", "unique-click index").
    let name: String

    init(index: ConcurrentIndex, name: String = "conversion index") { self.index = index; self.name = name }

    func start() { thread.start { [self] in run() } }

    func stop() { thread.stop() }

    func run() {
        var lastRefusalLog: Int64 = 0
        while !thread.sleep(until: WallClock.nowMillis() + IndexKeeper.periodMillis) {
            let now = WallClock.nowMillis()
            let report = index.maintain(nowMillis: now)
            for started in report.started {
                Log.info("\(name): started a generation of \(started.capacity) entries (\(started.capacity >> 16) MiB)"
                    + (started.aged ? " (rotation)" : " (growth)"))
            }
            for keys in report.dropped { Log.info("\(name): dropped a generation of \(keys) expired keys") }
            if let refusal = report.refusal, now - lastRefusalLog >= IndexKeeper.refusalLogMillis {
                Log.error(refusal)
                lastRefusalLog = now
            }
        }
    }
}
