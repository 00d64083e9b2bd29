// The one clock: wall-clock time for records, deadlines and the Date header, and a monotonic clock
// for durations. Reading the clock is not I/O, so it lives in Core; the loops' own monotonic time
// (timers, idle checks) is libuv's cached loop time, read in TrackstarIO.
#if canImport(Glibc)
import Glibc
#endif

/// Reads the system clock without allocating.
public enum WallClock {
    /// Milliseconds since the Unix epoch.
    @inline(__always)
    public static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// `millis` (Unix epoch, this clock) as the absolute `timespec` that `pthread_cond_timedwait`
    /// takes with a condition variable on CLOCK_REALTIME (the default).
    public static func deadline(atMillis millis: Int64) -> timespec {
        timespec(tv_sec: Int(millis / 1000), tv_nsec: Int(millis % 1000) * 1_000_000)
    }
}

/// A monotonic clock for durations.
public enum MonotonicClock {
    /// Microseconds since an arbitrary start.
    @inline(__always)
    public static func micros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
}
