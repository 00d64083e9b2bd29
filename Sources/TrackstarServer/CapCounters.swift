// Exact cap counters shared by every loop (issue 14). Each cap key — an offer, or an offer and one
// affiliate — owns one 64-byte line of six atomic words (daily, monthly, total clicks; the same for
// conversions), each `window << 40 | count`; a unit is taken by compare-and-swap that refuses at the
// limit, so with a cap of N exactly N units pass however many loops race for the last one.
import Atomics
import TrackstarConfiguration
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// Which counter of a line (the order of `CapLimits.keys`).
enum CapCounter: Int, CaseIterable {
    case dailyClicks, monthlyClicks, totalClicks, dailyConversions, monthlyConversions, totalConversions

    /// The configuration key, also the `cap` label in /metrics.
    var key: String { ["daily_clicks", "monthly_clicks", "total_clicks", "daily_conversions", "monthly_conversions", "total_conversions"][rawValue] }
    /// 0: the day window, 1: the month window, 2: total (window 0).
    var period: Int { rawValue % 3 }
}

/// One cap key's six counters on their own cache line. `CapBook` owns the memory and frees it when
/// it goes; every holder of a line also holds its book (`OfferCaps.book`), so a catalog's lines
/// live as long as the catalog, also after a reload dropped their cap.
///
/// Invariants: a word is `window << 40 | count`; the window only grows (a click stamped a few
/// milliseconds before midnight that arrives after another loop opened the new day counts in the
/// new day: conservative, never more than N). Every operation is one relaxed CAS loop on one word:
/// the word's modification order alone makes the count exact; no other memory is published with it,
/// so no acquire/release is needed.
struct CapLine: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    static let countBits: UInt64 = 40
    static let countMask: UInt64 = (1 << countBits) - 1

    @inline(__always)
    func word(_ counter: CapCounter) -> UnsafeAtomic<UInt64> { UnsafeAtomic(at: base + counter.rawValue) }

    /// Takes one unit of `counter` in `window` unless `limit` units are taken; true when taken.
    @inline(__always)
    func reserve(_ counter: CapCounter, window: UInt64, limit: UInt64) -> Bool {
        reserve(at: counter.rawValue, window: window, limit: limit)
    }

    /// `reserve` by word index (`CapCounter.rawValue`).
    @inline(__always)
    func reserve(at index: Int, window: UInt64, limit: UInt64) -> Bool {
        let atomic = UnsafeAtomic<UInt64>(at: base + index)
        var old = atomic.load(ordering: .relaxed)
        while true {
            let stored = old >> CapLine.countBits
            let current = max(stored, window)
            let count = stored == current ? old & CapLine.countMask : 0
            guard count < limit else { return false }
            let new = current << CapLine.countBits | (count + 1)
            // Relaxed: see the type's invariants; the CAS itself is what makes the count exact.
            let (done, seen) = atomic.weakCompareExchange(expected: old, desired: new, successOrdering: .relaxed, failureOrdering: .relaxed)
            if done { return true }
            old = seen
        }
    }

    /// Gives back a unit taken in `window` (a later cap of the same click refused it); nothing when
    /// the window has moved on since.
    func release(_ counter: CapCounter, window: UInt64) { release(at: counter.rawValue, window: window) }

    /// `release` by word index.
    func release(at index: Int, window: UInt64) {
        let atomic = UnsafeAtomic<UInt64>(at: base + index)
        var old = atomic.load(ordering: .relaxed)
        while old >> CapLine.countBits == window && old & CapLine.countMask > 0 {
            // Relaxed: as `reserve`.
            let (done, seen) = atomic.weakCompareExchange(expected: old, desired: old - 1, successOrdering: .relaxed, failureOrdering: .relaxed)
            if done { return }
            old = seen
        }
    }

    /// Counts a recorded unit at start-up (replay, one thread): the latest window seen wins.
    func replay(_ counter: CapCounter, window: UInt64) {
        let atomic = word(counter)
        let old = atomic.load(ordering: .relaxed)  // Relaxed: recovery runs before any loop starts.
        let stored = old >> CapLine.countBits
        if window < stored { return }
        let count = stored == window ? old & CapLine.countMask : 0
        atomic.store(window << CapLine.countBits | (count + 1), ordering: .relaxed)
    }

    /// Units taken in `window` (0 when the counter is still in an older window), for /metrics.
    func used(_ counter: CapCounter, window: UInt64) -> UInt64 {
        let value = word(counter).load(ordering: .relaxed)  // Relaxed: a statistic.
        return value >> CapLine.countBits >= window ? value & CapLine.countMask : 0
    }

    /// Raw words, for the snapshot file.
    func raw(_ counter: CapCounter) -> UInt64 { word(counter).load(ordering: .relaxed) }
    func setRaw(_ counter: CapCounter, _ value: UInt64) { word(counter).store(value, ordering: .relaxed) }
}

/// Every cap line of the process, by key (`offer << 32 | affiliate`, affiliate 0 for the offer's own
/// caps). Lines are made when a catalog is compiled (off the loops, under the lock) and freed only
/// with the book, which every reload's catalog shares, so counters outlive reloads: a lowered cap takes effect at once against the count so far.
///
/// The click path never touches the book: it holds the lines its catalog was compiled with. A shared
/// counter service (Redis `INCR` with a limit script, for a cap that spans nodes) would replace
/// `CapLine`'s three operations — reserve, release, replay — and nothing in the click path.
final class CapBook: @unchecked Sendable {  // `lines` guarded by `lock`
    private var lock = pthread_mutex_t()
    private var lines: [UInt64: CapLine] = [:]
    /// Keys made since `takeFresh` last ran: a reload seeds them from the logs.
    private var fresh: Set<UInt64> = []

    init() { pthread_mutex_init(&lock, nil) }

    deinit { for line in lines.values { free(line.base) } }

    static func key(offer: UInt32, affiliate: UInt32) -> UInt64 { UInt64(offer) << 32 | UInt64(affiliate) }

    /// The line of a key, made (zeroed, 64-byte aligned) on first use.
    func line(offer: UInt32, affiliate: UInt32) -> CapLine {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let key = CapBook.key(offer: offer, affiliate: affiliate)
        if let line = lines[key] { return line }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, 64, 64) == 0, let memory else { fatalError("cap counters: out of memory") }
        memset(memory, 0, 64)
        let line = CapLine(base: memory.bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 8))
        lines[key] = line
        fresh.insert(key)
        return line
    }

    /// The keys made since the last call (and forgets them).
    func takeFresh() -> Set<UInt64> {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        defer { fresh = [] }
        return fresh
    }

    /// The line of a key if a catalog ever made one.
    func existing(offer: UInt32, affiliate: UInt32) -> CapLine? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return lines[CapBook.key(offer: offer, affiliate: affiliate)]
    }

    /// Every line with its key.
    func all() -> [(key: UInt64, line: CapLine)] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return lines.map { ($0.key, $0.value) }.sorted { $0.key < $1.key }
    }
}

/// A cap key of its own with daily, monthly and total click caps of `limit`, for figure programs
/// (Benchmarks/Figures/CapFigures): `take` is exactly what a capped click does to its line.
public final class CapLineProbe: @unchecked Sendable {  // immutable; the line is atomic
    private let book: CapBook
    private let plan: CapPlan

    public init(limit: UInt64) {
        let book = CapBook()
        self.book = book
        var limits = CapLimits()
        limits.dailyClicks = limit
        limits.monthlyClicks = limit
        limits.totalClicks = limit
        plan = CapPlan(limits, line: book.line(offer: 1, affiliate: 0))
    }

    /// Takes one click unit (three compare-and-swaps on the line), all or nothing; false at the cap.
    public func take() -> Bool { plan.reserve(from: .dailyClicks, (day: 20_000, month: 24_000)) }

    /// Units taken so far.
    public var used: UInt64 { plan.line.used(.dailyClicks, window: 20_000) }
}
