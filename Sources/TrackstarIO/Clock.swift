// Wall-clock time for records and the Date header; monotonic time comes from uv_now.
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
