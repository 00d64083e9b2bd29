// Background threads that share a core with the click loops (the exporter) run in SCHED_IDLE while
// they keep up: a waking loop preempts them at once, instead of waiting out a nice-10 thread's slice.
// A lag watchdog (`IdleGovernor`) raises such a thread to SCHED_OTHER when it falls behind, so a busy
// host cannot starve it; SCHED_IDLE is used only where the thread can leave it again.
import CTrackstarShims
#if canImport(Glibc)
import Glibc
#endif

/// The calling thread's CPU class: SCHED_IDLE or SCHED_OTHER (its nice value is kept).
public enum BackgroundPriority {
    /// Whether a thread that enters SCHED_IDLE can leave it again in this process: Linux lets a thread
    /// out of SCHED_IDLE only with CAP_SYS_NICE or an RLIMIT_NICE that allows its nice value. Probed
    /// once, on a throwaway thread, so no real thread can be left stuck in the idle class.
    public static let idleIsReversible: Bool = probe()

    /// Puts the calling thread in SCHED_IDLE when it can leave it again; true when it did.
    public static func enterIdle() -> Bool {
        idleIsReversible && CTrackstar_setIdlePolicy(1) == 0
    }

    /// Puts the calling thread back in SCHED_OTHER (at its nice value); true when it did.
    public static func leaveIdle() -> Bool { CTrackstar_setIdlePolicy(0) == 0 }

    /// Whether the calling thread is in SCHED_IDLE.
    public static var currentThreadIsIdle: Bool { CTrackstar_isIdlePolicy() == 1 }

    /// The nice value background threads run at (the exporter's, the dispatcher's).
    public static let niceness: Int32 = 10

    static func probe() -> Bool { CTrackstar_idleIsReversible(niceness) == 1 }

    /// Gives the core to a runnable thread that is due (sched_yield): background work calls it
    /// between short steps of a long turn. The idle class alone does not bound a loop's wait: a
    /// loop that is preempted (rather than woken) waits for the next scheduler tick, 4 ms at HZ=250,
    /// while the idle thread the tick picked runs; a yield ends that turn early. Costs one system
    /// call (under a microsecond) where nothing else wants the core.
    public static func yieldCore() { sched_yield() }

    /// `yieldCore` when 200 µs have passed since this thread last yielded through here (one clock read
    /// otherwise): for work whose steps vary in cost (SQLite statements, a commit's page writes), so a
    /// turn never holds the core much longer than that whatever the machine. True if it yielded.
    @discardableResult
    public static func yieldIfDue() -> Bool { CTrackstar_yieldIfDue() != 0 }

    /// Yields by `yieldIfDue` in this process so far.
    public static var yieldsIfDue: UInt64 { UInt64(CTrackstar_yieldCount()) }
}

/// The lag watchdog of a thread that runs in SCHED_IDLE while it keeps up: past `raiseAfterMillis`
/// of lag it leaves the idle class (`.raise`), and once the lag is under half of that again it
/// returns (`.lower`). A value type: the thread keeps it and applies what `update` says.
public struct IdleGovernor: Sendable, Equatable {
    /// Lag (ms) past which the thread leaves SCHED_IDLE.
    public let raiseAfterMillis: Int64
    /// Whether the thread is meant to be in SCHED_IDLE now.
    public private(set) var idle: Bool

    /// What the thread should do after an `update`.
    public enum Change: Sendable, Equatable { case raise, lower }

    public init(raiseAfterMillis: Int64, idle: Bool) {
        self.raiseAfterMillis = raiseAfterMillis
        self.idle = idle
    }

    /// The lag is `lagMillis`: the change to make, if any.
    public mutating func update(lagMillis: Int64) -> Change? {
        if idle && lagMillis > raiseAfterMillis { idle = false; return .raise }
        if !idle && lagMillis < raiseAfterMillis / 2 { idle = true; return .lower }
        return nil
    }

    /// `update`, carried out on the calling thread: `.raise` leaves SCHED_IDLE, `.lower` enters it
    /// again. Returns the change made; nil also when the thread could not enter the idle class (it
    /// stays as it was, and a later update tries again).
    public mutating func apply(lagMillis: Int64) -> Change? {
        switch update(lagMillis: lagMillis) {
        case .raise?:
            _ = BackgroundPriority.leaveIdle()
            return .raise
        case .lower?:
            if BackgroundPriority.enterIdle() { return .lower }
            idle = false
            return nil
        case nil:
            return nil
        }
    }
}
