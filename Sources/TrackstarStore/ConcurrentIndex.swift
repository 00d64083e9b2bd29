// A lock-free map from 64-bit keys to 64-bit values, shared by all loops, that grows online and
// forgets keys past their expiry. It makes "exactly one conversion" true: the first loop to claim a
// key with compare-and-swap owns it, and every later claimant reads the owner's published value.
//
// Structure: a chain of generations (open-addressing tables, linear probing, 16-byte entries). Only
// the newest accepts new keys; when it reaches 3/4 full (or ages past the rotation period) a larger
// spare, prepared in advance by the maintainer, becomes the newest with one compare-and-swap of the
// chain word, and the old one is sealed: each empty entry is swapped to `sealedKey`, by the
// maintainer's walk or by any claimant whose probe meets it first. A claim probes every older
// generation, then inserts into the newest.
//
// Why exactly-once survives growth: in any one table a key's fate is decided at the first entry of
// its probe sequence that holds no other key — one compare-and-swap there, from empty to the key
// (an insert) or to sealed (a probe of an older generation), and whichever comes first wins. So an
// insert into a table that another claimant already treats as old either lands before that probe
// (which then finds it) or fails on the sealed entry and starts over in the newer generation, where
// the same argument repeats. Keys never move and are never removed from a live table; an aborted
// claim leaves its entry to be taken over in place in the newest generation, or marked `moved`
// (the key continues in a newer one) in an older one.
//
// Forgetting and freeing: a generation whose keys have all expired (it tracks its latest expiry) is
// unlinked from the chain once it is sealed; its memory is unmapped only after a grace period in
// which every participant was seen outside `enter`…`leave` (epoch-based reclamation, `Quiescence`).
// Claims, publishes, aborts and lookups must run inside `enter`/`leave`; the maintainer (one thread, calling
// `maintain`) is the only one that maps, unlinks or unmaps tables.

import Atomics
#if canImport(Glibc)
import Glibc
#endif

/// Entry words: `key` (0 = empty, 1 = sealed) and `value` (0 = being written, `aborted` = given up,
/// `moved` = superseded by a newer generation). Invariants: a key word changes once, from empty to a
/// key or to sealed; only the claimant of an entry writes its value until it publishes or aborts;
/// only the newest generation of a claimant's chain receives its inserts and takeovers.
public final class ConcurrentIndex: @unchecked Sendable {
    /// Value of an entry whose claimant gave up; the next claimant takes it over.
    public static let aborted = UInt64.max
    /// Value of an aborted entry in an older generation: the key's authority moved to a newer one.
    static let moved = UInt64.max - 1
    /// Key word of an entry sealed against inserts (keys are always larger).
    static let sealedKey: UInt64 = 1
    /// Entry handles carry their descriptor slot in the top byte.
    static let slotShift = 56

    let storage = IndexGenerationStorage()
    let quiescence: Quiescence
    /// The chain (see `Chain`): loaded acquiring by every claim, changed by compare-and-swap.
    let chainWord = UnsafeAtomic<UInt64>.create(0)
    /// Growth policy and the maintainer's own state (touched only under `maintaining`).
    let policy: IndexPolicy
    var keeper = IndexKeeperState()
    let maintaining = UnsafeAtomic<Bool>.create(false)
    /// Growth steps refused so far (written by the maintainer, read by `stats`).
    let refusalCount = UnsafeAtomic<Int>.create(0)

    /// What `claim` found.
    public enum Claim: Equatable {
        /// The caller owns the key and must `publish` or `abort` the entry.
        case claimed(entry: Int)
        /// Another caller owns it and published `value`.
        case existing(entry: Int, value: UInt64)
        /// The newest generation is full and no larger one could be started (memory guard).
        case full
    }

    /// - Parameters:
    ///   - policy: starting capacity, memory guard and rotation period.
    ///   - participants: threads that may call `enter` (ids 0..<participants).
    ///   - nowMillis: wall-clock time the first generation starts at.
    public init?(policy: IndexPolicy, participants: Int, nowMillis: Int64) {
        self.policy = policy
        self.quiescence = Quiescence(participants: max(participants, 1))
        guard storage.prepare(slot: 0, capacity: policy.initialCapacity, number: 0, nowMillis: nowMillis) else {
            storage.deallocate(); quiescence.deallocate(); chainWord.destroy(); maintaining.destroy(); refusalCount.destroy()
            return nil
        }
        keeper.phase[0] = .live
        // Relaxed: no other thread has this object yet.
        chainWord.store(Chain.make(mask: 1, newest: 0, spareReady: false), ordering: .relaxed)
        // The first spare, unless the guard leaves no room for growth (a fixed-size index).
        if policy.maxEntries >= 3 * policy.initialCapacity {
            var report = IndexMaintenance()
            prepareSpare(nowMillis: nowMillis, &report)
        }
    }

    /// An index of one generation of at least `capacity` entries that never grows (tests, tools).
    public convenience init?(capacity: Int) {
        self.init(policy: IndexPolicy(initialCapacity: capacity, maxEntries: IndexPolicy.roundedCapacity(capacity)),
                  participants: 1, nowMillis: 0)
    }

    deinit {
        for slot in 0..<IndexGenerationStorage.slots { storage.release(slot: slot) }
        storage.deallocate(); quiescence.deallocate(); chainWord.destroy(); maintaining.destroy(); refusalCount.destroy()
    }

    // MARK: Critical sections

    /// Starts a critical section for `participant` (one thread at a time per id): tables seen from
    /// here to `leave` stay mapped.
    @inline(__always)
    public func enter(_ participant: Int) {
        assert(participant >= 0 && participant < quiescence.count, "participant \(participant) out of range")
        // Relaxed load: a stale (smaller) epoch only makes the maintainer wait longer.
        let epoch = quiescence.epoch.load(ordering: .relaxed)
        quiescence.announcement(participant).store(epoch, ordering: .relaxed)
        // Sequentially consistent fence: the announcement is ordered before every chain load that
        // follows (pairs with the fence in `Quiescence.advance`/`graceReached`).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    /// Ends `participant`'s critical section.
    @inline(__always)
    public func leave(_ participant: Int) {
        // Releasing: every read of a table in the section happens before the maintainer's acquiring
        // load that sees 0 and may then unmap it.
        quiescence.announcement(participant).store(0, ordering: .releasing)
    }

    // MARK: Claims

    /// Claims `key` (> 1) until at least `expiresMillis`, or returns its owner's published value,
    /// waiting for a value that is being written (the owner's few instructions between claim and
    /// publish). Call between `enter` and `leave`.
    public func claim(_ key: UInt64, expiresMillis: Int64) -> Claim {
        precondition(key > ConcurrentIndex.sealedKey)
        let hash = Int(truncatingIfNeeded: mix(key))
        while true {
            // Acquiring: the descriptors of every generation in the chain were written before the
            // releasing compare-and-swap that published it.
            let chain = chainWord.load(ordering: .acquiring)
            let newestSlot = Chain.newestSlot(chain)
            var older = Chain.mask(chain) & ~(1 << UInt64(newestSlot))
            while older != 0 {
                let slot = older.trailingZeroBitCount
                older &= older &- 1
                if let found = findSealing(key, hash, slot: slot) { return found }
            }
            if let done = insert(key, hash, chain: chain, expiresMillis: expiresMillis) { return done }
            // The newest generation was sealed or replaced under us: read the chain again.
        }
    }

    /// Looks `key` up in an older generation, sealing the empty entry that ends its probe sequence
    /// so that no claimant holding an older chain can insert it there any more. nil: not here.
    func findSealing(_ key: UInt64, _ hash: Int, slot: Int) -> Claim? {
        let table = storage.entries(slot)
        let mask = storage.word(slot, .mask).load(ordering: .relaxed)
        var entry = hash & mask
        while true {
            let keyWord = IndexGenerationStorage.keyWord(table, entry)
            // Acquiring: if we see another claimant's key we will read its value after it.
            let seen = keyWord.load(ordering: .acquiring)
            if seen == key {
                if let found = settle(table, entry, slot: slot, newest: false, expiresMillis: 0) { return found }
            } else if seen == ConcurrentIndex.sealedKey {
                return nil
            } else if seen == 0 {
                // Acquiring-and-releasing: decides this entry against a racing insert of an older
                // chain's claimant; on failure we re-read the entry (now a key or sealed).
                if keyWord.compareExchange(expected: 0, desired: ConcurrentIndex.sealedKey,
                                           ordering: .acquiringAndReleasing).exchanged { return nil }
                continue
            }
            entry = (entry &+ 1) & mask
        }
    }

    /// Inserts `key` into the newest generation of `chain`; nil when that generation was sealed or
    /// a newer one started, so the caller must read the chain again.
    func insert(_ key: UInt64, _ hash: Int, chain: UInt64, expiresMillis: Int64) -> Claim? {
        let slot = Chain.newestSlot(chain)
        let table = storage.entries(slot)
        let mask = storage.word(slot, .mask).load(ordering: .relaxed)
        var entry = hash & mask
        while true {
            let keyWord = IndexGenerationStorage.keyWord(table, entry)
            // Acquiring: as in `findSealing`.
            let seen = keyWord.load(ordering: .acquiring)
            if seen == key {
                if let found = settle(table, entry, slot: slot, newest: true, expiresMillis: expiresMillis) { return found }
            } else if seen == ConcurrentIndex.sealedKey {
                return nil
            } else if seen == 0 {
                // Relaxed: a count that triggers growth, not a guard of any memory.
                let used = storage.word(slot, .used).load(ordering: .relaxed)
                if used >= storage.word(slot, .softLimit).load(ordering: .relaxed) {
                    if startSpare(chain) { return nil }
                    if used >= storage.word(slot, .hardLimit).load(ordering: .relaxed) { return .full }
                }
                raiseMaxExpiry(slot, expiresMillis)
                // Acquiring-and-releasing: the key is ordered after the expiry raise (a sealer that
                // sees the key sees the expiry) and before the value; a loser re-reads the entry.
                if keyWord.compareExchange(expected: 0, desired: key, ordering: .acquiringAndReleasing).exchanged {
                    storage.word(slot, .used).wrappingIncrement(ordering: .relaxed)
                    return .claimed(entry: slot << ConcurrentIndex.slotShift | entry)
                }
                continue
            }
            entry = (entry &+ 1) & mask
        }
    }

    /// Waits for a found entry's value. Published: `.existing`. Aborted: taken over in the newest
    /// generation, marked `moved` in an older one. nil: the key continues further on (moved).
    func settle(_ table: UnsafeMutableRawPointer, _ entry: Int, slot: Int, newest: Bool, expiresMillis: Int64) -> Claim? {
        let valueWord = IndexGenerationStorage.valueWord(table, entry)
        let handle = slot << ConcurrentIndex.slotShift | entry
        var spins = 0
        while true {
            // Acquiring pairs with `publish`: the value's target is fully written.
            let value = valueWord.load(ordering: .acquiring)
            if value == ConcurrentIndex.moved { return nil }
            if value == ConcurrentIndex.aborted {
                if newest { raiseMaxExpiry(slot, expiresMillis) }
                // Acquiring-and-releasing: one compare-and-swap decides between a takeover and a move.
                let next = newest ? 0 : ConcurrentIndex.moved
                if valueWord.compareExchange(expected: ConcurrentIndex.aborted, desired: next,
                                             ordering: .acquiringAndReleasing).exchanged {
                    return newest ? .claimed(entry: handle) : nil
                }
                continue
            }
            if value != 0 { return .existing(entry: handle, value: value) }
            spins += 1
            if spins > 64 { sched_yield() }  // the owner may be descheduled on a busy machine
        }
    }

    /// Raises the generation's latest expiry (rounded up to 1,024 ms, so the shared line is
    /// written about once a second rather than by every claim).
    @inline(__always)
    func raiseMaxExpiry(_ slot: Int, _ expiresMillis: Int64) {
        let rounded = Int((expiresMillis + 1023) & ~1023)
        let word = storage.word(slot, .maxExpiry)
        // Relaxed: ordered before the key or value compare-and-swap that follows (acquiring-and-
        // releasing), which is what a sealer or the maintainer synchronises with.
        var current = word.load(ordering: .relaxed)
        while rounded > current {
            let (exchanged, original) = word.compareExchange(expected: current, desired: rounded, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Owner of a claimed entry: makes `value` (non-zero, not a marker) visible to every claimant.
    public func publish(entry: Int, value: UInt64) {
        precondition(value != 0 && value < ConcurrentIndex.moved)
        let table = storage.entries(entry >> ConcurrentIndex.slotShift)
        // Releasing: whatever the value points at (a conversion record) was written before it.
        IndexGenerationStorage.valueWord(table, entry & (1 << ConcurrentIndex.slotShift - 1)).store(value, ordering: .releasing)
    }

    /// Raises a published entry's value to at least `value` (below the markers); never lowers it.
    /// Any claimant may call it for an entry `claim` returned as existing, between `enter` and
    /// `leave` (unique clicks keep the latest click time per key this way).
    public func raise(entry: Int, to value: UInt64) {
        precondition(value != 0 && value < ConcurrentIndex.moved)
        let table = storage.entries(entry >> ConcurrentIndex.slotShift)
        let word = IndexGenerationStorage.valueWord(table, entry & (1 << ConcurrentIndex.slotShift - 1))
        // Relaxed: the value is the whole fact (a time), guarding no other memory.
        var current = word.load(ordering: .relaxed)
        while current < value && current != 0 {
            let (exchanged, original) = word.compareExchange(expected: current, desired: value, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Owner of a claimed entry: gives it up; the next claimant of the key takes it over.
    public func abort(entry: Int) {
        let table = storage.entries(entry >> ConcurrentIndex.slotShift)
        // Releasing: pairs with the acquiring load in `settle` of the next claimant.
        IndexGenerationStorage.valueWord(table, entry & (1 << ConcurrentIndex.slotShift - 1))
            .store(ConcurrentIndex.aborted, ordering: .releasing)
    }

    /// A claimant at the soft limit starts the spare generation if one is ready; true when the chain
    /// changed (by us or anyone), so the claim must read it again.
    func startSpare(_ chain: UInt64) -> Bool {
        if Chain.spareReady(chain) {
            // Acquiring-and-releasing: acquires the maintainer's spare descriptor (published with the
            // spare bit) and orders the start before this claimant's probes of the new chain.
            _ = chainWord.compareExchange(expected: chain, desired: Chain.started(chain), ordering: .acquiringAndReleasing)
            return true
        }
        // Relaxed: only a hint to retry; the retry loads the chain acquiring.
        return chainWord.load(ordering: .relaxed) != chain
    }

    /// Looks `key` up without claiming it: its published value, or nil if absent, unsettled or
    /// aborted. Call between `enter` and `leave`.
    public func lookup(_ key: UInt64) -> UInt64? {
        let hash = Int(truncatingIfNeeded: mix(key))
        // Acquiring: as in `claim`.
        let chain = chainWord.load(ordering: .acquiring)
        var live = Chain.mask(chain)
        while live != 0 {
            let slot = live.trailingZeroBitCount
            live &= live &- 1
            let table = storage.entries(slot)
            let mask = storage.word(slot, .mask).load(ordering: .relaxed)
            var entry = hash & mask
            for _ in 0...mask {
                // Acquiring: as in `findSealing`.
                let seen = IndexGenerationStorage.keyWord(table, entry).load(ordering: .acquiring)
                if seen == 0 || seen == ConcurrentIndex.sealedKey { break }
                if seen == key {
                    // Acquiring pairs with `publish`.
                    let value = IndexGenerationStorage.valueWord(table, entry).load(ordering: .acquiring)
                    if value != 0 && value < ConcurrentIndex.moved { return value }
                }
                entry = (entry &+ 1) & mask
            }
        }
        return nil
    }

    /// A bijective mixer (splitmix64's finaliser) so sequential keys spread over the table.
    @inline(__always)
    func mix(_ key: UInt64) -> UInt64 {
        var z = key
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
