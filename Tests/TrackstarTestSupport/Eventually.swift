// The one bounded wait every test target shares: poll a condition until it holds or a deadline of
// seconds passes. Tests wait on what they can observe, never on a sleep standing in for it.
#if canImport(Glibc)
import Glibc
#endif

/// Polls `condition` every `interval` seconds until it holds or `seconds` pass; true if it held.
/// The condition is checked once more at the deadline, so a slow machine loses no last chance.
public func eventually(within seconds: Double, every interval: Double = 0.02,
                       _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicSeconds() + seconds
    while true {
        if try condition() { return true }
        if monotonicSeconds() >= deadline { return false }
        var pause = timespec(tv_sec: Int(interval), tv_nsec: Int((interval - Double(Int(interval))) * 1e9))
        nanosleep(&pause, nil)
    }
}

/// Seconds on the monotonic clock (immune to wall-clock steps during a test).
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
