// Unique-click table figures (issue 13): the real `FingerprintWindow` sized for a window and a click
// rate as `[storage] unique_clicks_per_window` sizes the server's, fed 2.5 windows of simulated clicks
// (all distinct visitors, or a share of repeat visitors), reporting reserved and resident bytes per
// click in the window, how many clicks found the table full, and the cost of one decision.
// Usage: swift build -c release --product UniqueFigures && .build/release/UniqueFigures [window_s] [clicks_per_s] [repeat_share]
import TrackstarCore
import TrackstarStore
import FigureSupport
#if canImport(Glibc)
import Glibc
#endif

/// This thread's CPU time (the machine is shared: wall time would count other processes).
func threadCPUNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let arguments = CommandLine.arguments
let windowSeconds = arguments.count > 1 ? Int64(arguments[1]) ?? 86_400 : 86_400
let rate = arguments.count > 2 ? Int(arguments[2]) ?? 100 : 100
let repeatShare = arguments.count > 3 ? Double(arguments[3]) ?? 0 : 0
let windowMillis = windowSeconds * 1000
let perWindow = Int(windowSeconds) * rate

let rssBefore = rssBytes()
guard let table = FingerprintWindow(windowMillis: windowMillis, expectedPerWindow: perWindow) else {
    print("cannot map the table"); exit(1)
}
print("window \(windowSeconds) s, \(rate) clicks/s (\(perWindow) clicks in a window), repeat visitors \(Int(repeatShare * 100)) %")
print("table: \(table.tables) generations of \(table.generationMillis) ms, \(table.capacity) slots each (8 B), tick \(table.tickMillis) ms")
print("reserved: \(table.reservedBytes >> 20) MiB = \(fixed(Double(table.reservedBytes) / Double(perWindow))) B per click in the window")

// 2.5 windows of clicks, evenly spaced; a repeat picks one of the last 4,096 visitors.
let total = perWindow * 5 / 2
var mix = SplitMix64(state: 13)
var recent = [UInt64](repeating: 1, count: 4096)
var unique = 0, repeated = 0, full = 0
let start: Int64 = 1_790_000_000_000
let began = threadCPUNanos()
for i in 0..<total {
    let now = start + Int64(i) * 1000 / Int64(rate)
    let fingerprint: UInt64
    if repeatShare > 0, Double(mix.next() % 1_000_000) < repeatShare * 1_000_000 {
        fingerprint = recent[Int(mix.next() % 4096)]
    } else {
        fingerprint = mix.next() | 1
        recent[i & 4095] = fingerprint
    }
    switch table.record(fingerprint, windowMillis: windowMillis, nowMillis: now) {
    case .unique: unique += 1
    case .repeated: repeated += 1
    case .full: full += 1
    }
}
let elapsed = threadCPUNanos() - began
let resident = rssBytes() - rssBefore
let generation = (start + Int64(total - 1) * 1000 / Int64(rate)) / table.generationMillis
var live = 0
for back in 0..<Int64(table.tables) { live += table.count(generation: generation - back) }
print("clicks: \(total) (unique \(unique), repeated \(repeated), table full \(full))")
print("slots in use at the end: \(live) (\(fixed(100 * Double(live) / Double(table.tables * table.capacity))) % of all)")
print("resident: \(resident >> 20) MiB = \(fixed(Double(resident) / Double(perWindow))) B per click in the window")
print("one decision: \(fixed(Double(elapsed) / Double(total))) ns of CPU, mean (one thread; includes making the fingerprint)")
