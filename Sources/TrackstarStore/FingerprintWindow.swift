// A fixed-size, lock-free memory of recent fingerprints and the latest time each was seen, 8 bytes a
// slot, for "was this seen within the last W?" (unique clicks). Time is cut into generations of a
// quarter of the longest window; each generation fills one open-addressing table of a ring, sized
// up front, and a slot says which generation wrote it, so a table is reused without being cleared.
//
// Slot word: `tag:32 | generation mod 4096:12 | tick within the generation:20`, 0 when never used.
// The tag is 32 bits of the (mixed) fingerprint, the lowest forced to 1 so a used slot is never 0;
// the home slot comes first from its other 32 bits, so a false match needs the tag and the home.
// 20 tick bits keep times to 1/4,194,304 of the longest window (21 ms for 24 h), so an offer with a
// window of seconds is decided to the tick even when another offer's is a day.
//
// Invariants (why it is exact without a lock):
// - In generation g's table a slot is *current* when its generation bits are g's. A slot only ever
//   goes from not current to current (a claim) or from current to current with a later tick (a
//   raise), each by one compare-and-swap, until g leaves the ring. So, as in an insert-only table,
//   two threads inserting one fingerprint probe the same slots and meet at the same compare-and-swap:
//   exactly one claims, and the other then reads the claimed word.
// - A decision is one compare-and-swap on that word: the click that claims the slot, or raises a
//   tick that was a window or more old, is unique (if no older generation saw it within the window).
// - Probes stop at the first slot that is not current (nothing current lies beyond it, since claims
//   take the first such slot) or after `maxProbe` slots (then the table counts as full).
import Atomics

/// The ring of generation tables and the arithmetic of its slot words.
public final class FingerprintWindow: @unchecked Sendable {  // lock-free: every shared word is atomic
    /// Generations cover `windowMillis` (the longest window asked) in this many steps (one more table).
    public static let stepsPerWindow: Int64 = 4
    /// The most slots one probe visits (then the table counts as full for that fingerprint).
    public static let maxProbe = 512
    /// Generations' tables are sized for the expected clicks at most this full.
    public static let loadFactor = 0.7

    /// The longest window the ring covers.
    public let windowMillis: Int64
    /// Length of a generation (about a quarter of the window).
    public let generationMillis: Int64
    /// Resolution of stored times: a generation has at most 2^20 ticks.
    public let tickMillis: Int64
    /// Tables in the ring: generations a window spans, plus the current one.
    public let tables: Int
    /// Slots per table.
    public let capacity: Int
    private let base: UnsafeMutableRawPointer
    private let bytes: Int
    /// The newest generation any click reached; a time a whole ring older is refused (its table now
    /// holds newer generations). Written only when it moves, so loops share the line read-mostly.
    private let newest = UnsafeAtomic<Int64>.create(0)

    /// A ring sized for `expectedPerWindow` distinct fingerprints in a window of `windowMillis`
    /// (`loadFactor` full at that rate), mapped zeroed and touched lazily; nil if the kernel refuses.
    public init?(windowMillis: Int64, expectedPerWindow: Int) {
        let window = max(1, windowMillis)
        let generation = (window + FingerprintWindow.stepsPerWindow - 1) / FingerprintWindow.stepsPerWindow
        self.windowMillis = window
        generationMillis = generation
        tickMillis = (generation + FingerprintWindow.tickMask) / (FingerprintWindow.tickMask + 1)
        tables = Int((window + generation - 1) / generation) + 1
        let perGeneration = Double(max(1, expectedPerWindow)) * Double(generation) / Double(window)
        capacity = max(64, Int((perGeneration / FingerprintWindow.loadFactor).rounded(.up)))
        bytes = tables * capacity * 8
        guard let memory = MappedMemory.allocate(bytes: bytes, hugePages: true) else { return nil }
        base = memory
    }

    deinit { MappedMemory.release(base, bytes: bytes); newest.destroy() }

    /// Bytes of all tables (reserved; pages are touched as slots are used).
    public var reservedBytes: Int { bytes }

    /// What `record` decided.
    public enum Outcome: Equatable, Sendable { case unique, repeated, full }

    /// Records `fingerprint` seen at `nowMillis` and says whether it was unseen for `windowMillis`
    /// (at most the ring's window) before: it claims or raises the fingerprint's slot in the current
    /// generation, then, if that says new, looks in the older generations the window reaches.
    /// Lock-free; allocates nothing. Times are kept to `tickMillis` (rounded down).
    public func record(_ fingerprint: UInt64, windowMillis: Int64, nowMillis: Int64) -> Outcome {
        let window = min(max(1, windowMillis), self.windowMillis)
        let now = max(0, nowMillis)
        let generation = now / generationMillis
        guard admit(generation) else { return .full }
        switch claim(fingerprint, generation: generation, atMillis: now) {
        case .full: return .full
        case .raised(let previous): return now - previous < window ? .repeated : .unique  // older ones are older still
        case .claimed: break
        }
        return seenBefore(fingerprint, generation: generation, nowMillis: now, windowMillis: window) ? .repeated : .unique
    }

    /// Recovery: puts back a fingerprint seen at `atMillis` (its latest time raised if need be);
    /// nothing is decided. Skips times whose generation has left the ring at `nowMillis`. False when full.
    public func restore(_ fingerprint: UInt64, atMillis: Int64, nowMillis: Int64) -> Bool {
        let generation = max(0, atMillis) / generationMillis
        guard generation > nowMillis / generationMillis - Int64(tables) else { return true }
        guard admit(generation) else { return true }
        if case .full = claim(fingerprint, generation: generation, atMillis: max(0, atMillis)) { return false }
        return true
    }

    /// Current slots in the table of `generation` (a scan: for tests and figures).
    public func count(generation: Int64) -> Int {
        var used = 0
        for slot in 0..<capacity where current(load(table(generation), slot), generation) { used += 1 }
        return used
    }

    // MARK: Probing

    /// Whether `generation`'s table still holds it (not a whole ring behind the newest generation),
    /// moving the newest forward when `generation` is newer. A refusal means the clock went back.
    @inline(__always)
    private func admit(_ generation: Int64) -> Bool {
        // Relaxed: the value only guards against writing into a reused table; slots say the rest.
        var newest = self.newest.load(ordering: .relaxed)
        while generation > newest {
            let (exchanged, original) = self.newest.compareExchange(expected: newest, desired: generation, ordering: .relaxed)
            if exchanged { return true }
            newest = original
        }
        return generation > newest - Int64(tables)
    }

    enum Claim { case claimed, raised(previousMillis: Int64), full }

    /// Claims the fingerprint's slot in `generation`'s table, or raises its time to `atMillis`.
    private func claim(_ fingerprint: UInt64, generation: Int64, atMillis: Int64) -> Claim {
        let table = self.table(generation)
        let mixed = FingerprintWindow.mixed(fingerprint)
        let tag = FingerprintWindow.tag(mixed)
        let word = tag | generationBits(generation) | UInt64((atMillis - generation * generationMillis) / tickMillis)
        var slot = home(mixed)
        for _ in 0..<min(FingerprintWindow.maxProbe, capacity) {
            var seen = load(table, slot)
            while true {
                if !current(seen, generation) {
                    // Acquiring-releasing: the claimed word is the decision; a loser reads it.
                    let (exchanged, original) = atomic(table, slot).compareExchange(expected: seen, desired: word, ordering: .acquiringAndReleasing)
                    if exchanged { return .claimed }
                    seen = original
                    continue  // someone claimed it first: is it ours?
                }
                guard seen & FingerprintWindow.tagMask == tag else { break }  // another fingerprint: next slot
                if seen >= word { return .raised(previousMillis: time(seen, generation)) }  // as late already
                let (exchanged, original) = atomic(table, slot).compareExchange(expected: seen, desired: word, ordering: .acquiringAndReleasing)
                if exchanged { return .raised(previousMillis: time(seen, generation)) }
                seen = original
            }
            slot = slot + 1 == capacity ? 0 : slot + 1
        }
        return .full
    }

    /// Whether an older generation within reach of the window holds the fingerprint at a time less
    /// than `windowMillis` before `nowMillis`.
    private func seenBefore(_ fingerprint: UInt64, generation: Int64, nowMillis: Int64, windowMillis: Int64) -> Bool {
        let oldest = max(0, nowMillis - windowMillis + 1) / generationMillis
        var older = generation - 1
        while older >= oldest {
            if let latest = find(fingerprint, generation: older) { return nowMillis - latest < windowMillis }
            older -= 1
        }
        return false
    }

    /// The latest time of `fingerprint` in `generation`'s table, if it is there.
    private func find(_ fingerprint: UInt64, generation: Int64) -> Int64? {
        let table = self.table(generation)
        let mixed = FingerprintWindow.mixed(fingerprint)
        let tag = FingerprintWindow.tag(mixed)
        var slot = home(mixed)
        for _ in 0..<min(FingerprintWindow.maxProbe, capacity) {
            let seen = load(table, slot)
            guard current(seen, generation) else { return nil }
            if seen & FingerprintWindow.tagMask == tag { return time(seen, generation) }
            slot = slot + 1 == capacity ? 0 : slot + 1
        }
        return nil
    }

    // MARK: Words

    static let tagMask: UInt64 = ~0xFFFF_FFFF
    static let tickMask: Int64 = 0xF_FFFF
    static let generationShift: UInt64 = 20

    /// The fingerprint's bits, mixed (a bijection), so any fingerprint spreads: the tag is the top
    /// 32 (the lowest forced to 1), the home comes first from the other 32.
    @inline(__always)
    static func mixed(_ fingerprint: UInt64) -> UInt64 {
        var z = fingerprint
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    static func tag(_ mixed: UInt64) -> UInt64 { mixed & tagMask | 1 << 32 }

    @inline(__always)
    private func home(_ mixed: UInt64) -> Int {
        // The high half of a 64×64 product maps the rotated bits onto 0..<capacity evenly.
        Int(truncatingIfNeeded: (mixed << 32 | mixed >> 32).multipliedFullWidth(by: UInt64(capacity)).high)
    }

    @inline(__always)
    private func generationBits(_ generation: Int64) -> UInt64 {
        UInt64(truncatingIfNeeded: generation & 0xFFF) << FingerprintWindow.generationShift
    }

    @inline(__always)
    private func current(_ word: UInt64, _ generation: Int64) -> Bool {
        word != 0 && word & (0xFFF << FingerprintWindow.generationShift) == generationBits(generation)
    }

    /// The (rounded-down) time a current word of `generation` holds.
    @inline(__always)
    private func time(_ word: UInt64, _ generation: Int64) -> Int64 {
        generation * generationMillis + Int64(word & UInt64(FingerprintWindow.tickMask)) * tickMillis
    }

    @inline(__always)
    private func table(_ generation: Int64) -> UnsafeMutableRawPointer {
        base + Int(generation % Int64(tables)) * capacity * 8
    }

    @inline(__always)
    private func atomic(_ table: UnsafeMutableRawPointer, _ slot: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (table + slot &* 8).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    @inline(__always)
    private func load(_ table: UnsafeMutableRawPointer, _ slot: Int) -> UInt64 {
        // Acquiring: pairs with the releasing claim or raise that wrote the word.
        atomic(table, slot).load(ordering: .acquiring)
    }
}
