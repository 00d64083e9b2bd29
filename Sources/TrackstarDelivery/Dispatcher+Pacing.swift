// Pacing during a delivery storm: while the core the dispatcher runs on is busy with other work (over
// the last tick the thread waited for the CPU at least half as long as it ran: normally a click loop
// had it), attempts start at most `[delivery] rate_while_busy` a second, so a storm's kernel and cache
// cost stays off the clicks; once the core has been calm for a second, the queue drains at full speed.
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// The dispatcher's budget of attempt starts (dispatcher thread only). Jobs it holds back stay in
/// their endpoint's ready queue, so pacing never drops or reorders one; the tick serves endpoints in
/// turn, so none waits forever.
struct DispatchPacing {
    /// Starts a second while busy; 0: never paced.
    let rate: Int
    /// Whether the core counts as busy: it was at the last tick, or was within the last second.
    private(set) var busy = false
    /// Start credit in thousandths of a start (`rate` per second accrues `rate` per millisecond).
    private(set) var credit: Int64 = 0
    /// The last tick that found the core busy (ms).
    var lastBusyMillis: Int64 = .min
    var lastTickMillis: Int64 = 0
    /// Starts made while paced since pacing began (for the log line when it ends).
    var pacedStarts = 0
    var pacedSinceMillis: Int64 = 0
    /// The core counts as calm this long after the last busy tick.
    static let calmAfterMillis: Int64 = 1_000
    /// The test hook's environment variable: when set (not empty), every tick finds the core busy.
    static let testHookVariable = "TRACKSTAR_TEST_BUSY_CORE"
    /// Waiting for the CPU counts as busy from this share of the time run, and this much at least.
    static let waitedPerRan = 0.5
    static let minimumWaitNanos: UInt64 = 500_000

    init(rate: Int) { self.rate = rate }

    /// Whether one tick's figures mean another thread kept the core: `waited` (runnable, not
    /// running) at least half of `ran`, and at least half a millisecond.
    static func contended(ranNanos: UInt64, waitedNanos: UInt64) -> Bool {
        waitedNanos >= minimumWaitNanos && Double(waitedNanos) >= Double(ranNanos) * waitedPerRan
    }

    /// At each tick: the thread's CPU figures since the last one; refills the start credit (at most one
    /// tick's worth, and at least one start, is kept). Returns the change of state, if any.
    mutating func observe(now: Int64, ranNanos: UInt64, waitedNanos: UInt64, tickMillis: UInt64) -> Bool? {
        guard rate > 0 else { return nil }
        let elapsed = max(0, min(now - lastTickMillis, Int64(tickMillis) * 4))
        lastTickMillis = now
        if Self.contended(ranNanos: ranNanos, waitedNanos: waitedNanos) { lastBusyMillis = now }
        let wasBusy = busy
        busy = lastBusyMillis != .min && now - lastBusyMillis < Self.calmAfterMillis
        let cap = max(Int64(rate) * Int64(tickMillis), 1_000)
        credit = busy ? min(credit + Int64(rate) * elapsed, cap) : cap
        if busy && !wasBusy { pacedStarts = 0; pacedSinceMillis = now }
        return busy == wasBusy ? nil : busy
    }

    /// Whether one more attempt may start now.
    var allows: Bool { !busy || credit >= 1_000 }

    /// An attempt started.
    mutating func spend() {
        guard busy else { return }
        credit -= 1_000
        pacedStarts += 1
    }
}

/// The calling thread's scheduler figures from `/proc/thread-self/schedstat`: nanoseconds run and
/// nanoseconds waited runnable. Opened on the thread it describes; read with one pread.
struct ThreadSchedStat {
    private var fd: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: 96)
    private(set) var last: (ran: UInt64, waited: UInt64) = (0, 0)
    /// The file could not be opened or read (pacing is then off).
    private(set) var unavailable = false

    /// Figures since the previous call (zero at the first), or nil when unavailable.
    mutating func sinceLast() -> (ran: UInt64, waited: UInt64)? {
        if unavailable { return nil }
        if fd < 0 {
            fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)
            if fd < 0 { unavailable = true; return nil }
        }
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0, let now = Self.parse(buffer[0..<count]) else { unavailable = true; return nil }
        defer { last = now }
        if last == (0, 0) { return (0, 0) }
        return (now.ran &- last.ran, now.waited &- last.waited)
    }

    /// The first two numbers of a schedstat line ("ran waited slices").
    static func parse(_ bytes: ArraySlice<UInt8>) -> (ran: UInt64, waited: UInt64)? {
        var numbers: [UInt64] = []
        var value: UInt64 = 0, inNumber = false
        for byte in bytes {
            if byte >= 48 && byte <= 57 {
                value = value &* 10 &+ UInt64(byte - 48); inNumber = true
            } else if inNumber {
                numbers.append(value); value = 0; inNumber = false
                if numbers.count == 2 { break }
            }
        }
        if inNumber && numbers.count < 2 { numbers.append(value) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
    }

    /// Closes the file (at the dispatcher's stop).
    mutating func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }
}

extension Dispatcher {
    /// Every tick: is the core busy? Logs when pacing starts (at most once a minute) and when it ends.
    func watchPacing(now: Int64) {
        guard pacing.rate > 0 else { return }
        let figures = busyCoreForTests ? (ran: 0, waited: DispatchPacing.minimumWaitNanos) : schedStat.sinceLast()
        if figures == nil && !pacingUnavailableLogged {
            pacingUnavailableLogged = true
            message("deliveries: cannot read /proc/thread-self/schedstat; rate_while_busy pacing is off")
        }
        let (ran, waited) = figures ?? (0, 0)
        guard let nowBusy = pacing.observe(now: now, ranNanos: ran, waitedNanos: waited, tickMillis: tickMillis) else { return }
        if nowBusy {
            pacingLogged = now - pacingLoggedMillis >= 60_000
            guard pacingLogged else { return }
            pacingLoggedMillis = now
            message("deliveries: the dispatcher's core is busy; starting at most \(pacing.rate) postbacks a second until it has been "
                + "calm for a second (\(ledger.pending.count) pending)")
        } else if pacingLogged {
            message("deliveries: the dispatcher's core is calm again after \(now - pacing.pacedSinceMillis) ms; "
                + "\(pacing.pacedStarts) postbacks started meanwhile, \(ledger.pending.count) pending")
        }
    }

    /// The endpoints with ready jobs in ascending number, starting after the one that came first at
    /// the last tick (under pacing, each gets the first starts in turn).
    func readyEndpointsInTurn() -> [UInt32] {
        let endpoints = ready.keys.sorted()
        guard endpoints.count > 1 else { return endpoints }
        let first = endpoints.firstIndex { $0 > pacingTurn } ?? 0
        pacingTurn = endpoints[first]
        return Array(endpoints[first...] + endpoints[..<first])
    }
}
