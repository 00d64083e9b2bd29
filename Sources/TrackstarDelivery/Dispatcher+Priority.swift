// The dispatcher thread in the idle CPU class (SCHED_IDLE) while it gets the CPU it needs: a click loop
// that wakes during a delivery storm preempts it at once instead of waiting out a nice-10 slice. Its
// starvation guard is the lateness of its own tick: a thread the idle class starves runs its timer late.
import TrackstarCore
import TrackstarStore

/// The dispatcher's priority state (dispatcher thread only).
struct DispatcherPriority {
    /// A tick this late (ms) means the idle class is starving the thread: it goes to nice 10.
    static let starvedAfterMillis: Int64 = 1_000
    /// How long it then stays at nice 10 before trying the idle class again.
    static let holdMillis: Int64 = 10_000
    var started = false
    var idle = false
    var lastTick: Int64 = 0
    /// While raised: when the idle class may be tried again.
    var raisedUntil: Int64?
}

extension Dispatcher {
    /// Every tick: enter the idle class on the first one (when it can be left again, see
    /// BackgroundPriority.swift); leave it for nice 10 when a tick came more than a second late, and
    /// try it again after ten seconds.
    func watchPriority(now: Int64) {
        defer { priority.lastTick = now }
        guard priority.started else {
            priority.started = true
            priority.idle = BackgroundPriority.enterIdle()
            return
        }
        if priority.idle {
            let late = now - priority.lastTick - Int64(tickMillis)
            guard late > DispatcherPriority.starvedAfterMillis, BackgroundPriority.leaveIdle() else { return }
            priority.idle = false
            priority.raisedUntil = now + DispatcherPriority.holdMillis
            message("deliveries: the dispatcher's tick came \(late) ms late at idle priority; running at nice 10 for "
                + "\(DispatcherPriority.holdMillis / 1000) s")
        } else if let until = priority.raisedUntil, now >= until {
            priority.raisedUntil = nil
            priority.idle = BackgroundPriority.enterIdle()
        }
    }
}
