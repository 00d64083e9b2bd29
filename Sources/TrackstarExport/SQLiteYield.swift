// The exporter's SQLite work gives its core back at short intervals: a click loop preempted by the
// scheduler tick (not woken) waits until the next tick, 4 ms at HZ=250, while the idle-class exporter
// that tick picked runs SQLite; a progress handler that yields the core ends such a turn early (and
// `SQLiteSink.insert` yields every 1,024 click rows for its own Swift work between statements).
import CSQLite
import TrackstarStore

extension SQLiteDatabase {
    /// Virtual-machine steps between two yields: about 0.1–0.3 ms of SQLite work.
    static let yieldEverySteps: Int32 = 20_000

    /// Makes every statement on this connection yield the core (`BackgroundPriority.yieldCore`) every
    /// `yieldEverySteps` steps; the statement then carries on (the handler never interrupts it).
    public func yieldsCoreWhileRunning() {
        sqlite3_progress_handler(handle, SQLiteDatabase.yieldEverySteps, { _ in
            BackgroundPriority.yieldCore()
            return 0
        }, nil)
    }
}
