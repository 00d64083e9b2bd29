// The exporter's SQLite work gives its core back at short intervals: a click loop preempted by the
// scheduler tick (not woken) waits until the next tick, 4 ms at HZ=250, while the idle-class exporter
// that tick picked runs SQLite. Everything the exporter does looks at one per-thread yield clock
// (`BackgroundPriority.yieldIfDue`: yield once 200 µs have passed since the last yield): a progress
// handler in statements, the VFS (CTrackstarSQLiteVFS) in a COMMIT's and a checkpoint's page reads,
// writes and syncs, and `SQLiteSink.insert` / `ClickTally.flush` in its own Swift work between statements.
import CSQLite
import CTrackstarSQLiteVFS
import TrackstarStore

extension SQLiteDatabase {
    /// The exporter's VFS, registered on first use (nil, i.e. SQLite's default, if that failed): the
    /// default VFS plus yields when due and write-back started every MiB written, so a COMMIT's and a
    /// checkpoint's I/O never hold the core long, and runs of consecutive page writes gathered into
    /// writes of up to 256 KiB, the file's space reserved ahead of its end (CTrackstarSQLiteVFS/vfs.c).
    public static let yieldingVFS: String? = CTrackstar_registerYieldVFS() == SQLITE_OK ? CTrackstar_yieldVFSName : nil

    /// Write-backs the yielding VFS started so far in this process.
    public static var yieldingVFSWriteBacks: UInt64 { UInt64(CTrackstar_yieldVFSWriteBacks()) }

    /// Space reservations past a database's end (`fallocate` with `FALLOC_FL_KEEP_SIZE`, 8 MiB ahead)
    /// the yielding VFS made so far in this process.
    public static var yieldingVFSReservations: UInt64 { UInt64(CTrackstar_yieldVFSReservations()) }

    /// Main-database page writes the yielding VFS gathered into runs, and the runs it wrote, so far on
    /// the calling thread (a connection's I/O happens on the thread that steps its statements).
    public static var yieldingVFSGatheredWrites: UInt64 { UInt64(CTrackstar_yieldVFSGatheredWrites()) }
    public static var yieldingVFSRunsWritten: UInt64 { UInt64(CTrackstar_yieldVFSRunsWritten()) }

    /// Virtual-machine steps between two looks at the yield clock (`BackgroundPriority.yieldIfDue`,
    /// which yields once 200 µs have passed since the thread last did): a few µs of SQLite work.
    static let yieldEverySteps: Int32 = 1_000

    /// Makes every statement on this connection yield the core when due (`BackgroundPriority.yieldIfDue`,
    /// looked at every `yieldEverySteps` steps); the statement then carries on (the handler never interrupts it).
    public func yieldsCoreWhileRunning() {
        sqlite3_progress_handler(handle, SQLiteDatabase.yieldEverySteps, { _ in
            BackgroundPriority.yieldIfDue()
            return 0
        }, nil)
    }
}
