// The conversion index's maintainer: prepares the next (larger) generation before it is needed,
// starts one when the newest ages out, seals replaced generations, and unlinks and unmaps those
// whose keys have all expired. One thread at a time (the server's index keeper, or recovery).
import Atomics

/// How the index grows and forgets.
public struct IndexPolicy: Sendable, Equatable {
    /// Entries of the first generation (a power of two, at least 1,024).
    public var initialCapacity: Int
    /// Memory guard: entries of all generations together (16 bytes each) never exceed this; the
    /// newest then fills to 7/8 and claims are refused with `.full`.
    public var maxEntries: Int
    /// The newest generation is replaced once it is this old and holds a key (0: only when full),
    /// so that keys are forgotten about one period after their expiry.
    public var rotationMillis: Int64

    public init(initialCapacity: Int, maxEntries: Int, rotationMillis: Int64 = 0) {
        self.initialCapacity = IndexPolicy.roundedCapacity(initialCapacity)
        self.maxEntries = maxEntries
        self.rotationMillis = rotationMillis
    }

    /// `capacity` rounded up to a power of two, at least 1,024.
    public static func roundedCapacity(_ capacity: Int) -> Int {
        var size = 1024
        while size < capacity && size < 1 << 40 { size <<= 1 }
        return size
    }
}

/// A point-in-time view of the index for /metrics and logs (relaxed reads; counts may lag).
public struct IndexStats: Sendable, Equatable {
    /// Keys held by live generations (expired keys count until their generation is dropped).
    public var liveKeys = 0
    /// Entries of the live generations.
    public var capacity = 0
    /// Live generations, the newest included.
    public var generations = 0
    /// The newest generation's number: growth and rotation steps since start.
    public var newestGeneration = 0
    /// Keys in the newest generation, and the count at which the next growth step starts.
    public var newestKeys = 0
    public var nextGrowthAt = 0
    /// Entries of the prepared next generation (0 when none is ready).
    public var spareCapacity = 0
    /// Growth steps refused by the memory guard (or by 32 live generations) since start.
    public var growthRefusals = 0
}

/// What one `maintain` call did, for the log.
public struct IndexMaintenance: Sendable {
    /// Generations started (capacity each) since the last call, and why.
    public var started: [(capacity: Int, aged: Bool)] = []
    /// Generations dropped (all keys expired) and their entries.
    public var dropped: [Int] = []
    /// A growth step the memory guard refused (the message to log), nil otherwise.
    public var refusal: String?
}

/// Where a descriptor slot is in its life (maintainer only).
enum SlotPhase: Equatable {
    case free, spare, live
    /// Sealed completely; may be dropped once the grace period for `epoch` is over.
    case sealed(epoch: UInt64)
    /// Unlinked from the chain; unmapped once the grace period for `epoch` is over.
    case unlinked(epoch: UInt64)
}

/// The maintainer's bookkeeping.
struct IndexKeeperState {
    var phase = [SlotPhase](repeating: .free, count: IndexGenerationStorage.slots)
    /// Newest generation number the maintainer has seen started.
    var seenNewest = 0
    /// Growth refusals (read by `stats` through `refusalCount`).
    var refusals = 0
    /// Number of the last spare whose pages were faulted in.
    var faultedSpare = -1
}

extension ConcurrentIndex {
    /// One maintenance turn: seal, drop, free, rotate by age, prepare the spare. Returns at once if
    /// another thread is maintaining.
    public func maintain(nowMillis: Int64) -> IndexMaintenance {
        var report = IndexMaintenance()
        // Acquiring/releasing: the maintainer's state passes from one maintaining thread to the next.
        guard maintaining.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return report }
        defer { maintaining.store(false, ordering: .releasing) }
        noteStarted(nowMillis: nowMillis, &report)
        sealReplaced()
        dropExpired(nowMillis: nowMillis, &report)
        freeUnlinked()
        rotateByAge(nowMillis: nowMillis, &report)
        noteStarted(nowMillis: nowMillis, &report)
        if !Chain.spareReady(chainWord.load(ordering: .acquiring)) { prepareSpare(nowMillis: nowMillis, &report) }
        faultInSpareWhenDue()
        return report
    }

    /// Makes the spare's pages resident once the newest is 3/4 of the way to its growth point, so that
    /// claims in a new generation never wait for the kernel to zero a fresh (huge) page: with random
    /// placement, the first few thousand claims of a new 2 GiB table would otherwise each fault one.
    func faultInSpareWhenDue() {
        let chain = chainWord.load(ordering: .acquiring)
        guard Chain.spareReady(chain) else { return }
        let next = Chain.newest(chain) + 1
        let newestSlot = Chain.newestSlot(chain)
        guard keeper.faultedSpare != next,
              storage.word(newestSlot, .used).load(ordering: .relaxed) >= storage.word(newestSlot, .softLimit).load(ordering: .relaxed) / 4 * 3
        else { return }
        keeper.faultedSpare = next
        faultIn(slot: next & (IndexGenerationStorage.slots - 1))
    }

    /// Writes every page of `slot`'s table once (maintainer only).
    func faultIn(slot: Int) {
        let table = storage.entries(slot)
        let entries = storage.word(slot, .mask).load(ordering: .relaxed) + 1
        var entry = 0
        while entry < entries {
            // A compare-and-swap of 0 with 0 writes the page without changing anything: a claimant
            // may already have started this generation and be inserting into it. Relaxed: nothing is
            // published by it. (A fetch-add of 0 would not do: compilers may turn it into a load.)
            _ = IndexGenerationStorage.keyWord(table, entry).compareExchange(expected: 0, desired: 0, ordering: .relaxed)
            entry += 4096 / 16
        }
    }

    /// Generations claimants started since the last turn become live; their age counts from now
    /// (a spare may have waited long before a claimant started it).
    func noteStarted(nowMillis: Int64, _ report: inout IndexMaintenance) {
        // Acquiring: as in `claim`.
        let chain = chainWord.load(ordering: .acquiring)
        while keeper.seenNewest < Chain.newest(chain) {
            keeper.seenNewest += 1
            let slot = keeper.seenNewest & (IndexGenerationStorage.slots - 1)
            keeper.phase[slot] = .live
            // Relaxed: read only by the maintainer.
            storage.word(slot, .createdMillis).store(Int(nowMillis), ordering: .relaxed)
            report.started.append((storage.word(slot, .mask).load(ordering: .relaxed) + 1, false))
        }
    }

    /// Seals every live generation that is no longer the newest: each empty entry becomes sealed.
    func sealReplaced() {
        let chain = chainWord.load(ordering: .acquiring)
        let newestSlot = Chain.newestSlot(chain)
        for slot in 0..<IndexGenerationStorage.slots where slot != newestSlot && keeper.phase[slot] == .live {
            let table = storage.entries(slot)
            let mask = storage.word(slot, .mask).load(ordering: .relaxed)
            for entry in 0...mask {
                let keyWord = IndexGenerationStorage.keyWord(table, entry)
                // Acquiring: a key seen here was inserted after its expiry raise (see `insert`), so
                // the generation's `maxExpiry` read after sealing includes it.
                if keyWord.load(ordering: .acquiring) == 0 {
                    _ = keyWord.compareExchange(expected: 0, desired: ConcurrentIndex.sealedKey, ordering: .acquiringAndReleasing)
                }
            }
            keeper.phase[slot] = .sealed(epoch: quiescence.advance())
        }
    }

    /// Unlinks sealed generations whose latest expiry has passed, once no claimant that saw them
    /// as the newest can still be taking an entry over (the grace period after sealing).
    func dropExpired(nowMillis: Int64, _ report: inout IndexMaintenance) {
        for slot in 0..<IndexGenerationStorage.slots {
            guard case .sealed(let epoch) = keeper.phase[slot], quiescence.graceReached(epoch) else { continue }
            // Relaxed: every raise is ordered before a key or value that sealing or the grace
            // period synchronised with.
            guard storage.word(slot, .maxExpiry).load(ordering: .relaxed) < Int(nowMillis) else { continue }
            var chain = chainWord.load(ordering: .acquiring)
            while true {
                let next = chain & ~(1 << UInt64(slot))
                // Acquiring-and-releasing: claimants that load the new chain no longer see the table.
                let (exchanged, original) = chainWord.compareExchange(expected: chain, desired: next, ordering: .acquiringAndReleasing)
                if exchanged { break }
                chain = original
            }
            report.dropped.append(storage.word(slot, .used).load(ordering: .relaxed))
            keeper.phase[slot] = .unlinked(epoch: quiescence.advance())
        }
    }

    /// Unmaps unlinked generations once every participant has left the sections that could see them.
    func freeUnlinked() {
        for slot in 0..<IndexGenerationStorage.slots {
            guard case .unlinked(let epoch) = keeper.phase[slot], quiescence.graceReached(epoch) else { continue }
            storage.release(slot: slot)
            keeper.phase[slot] = .free
        }
    }

    /// Replaces a newest generation older than the rotation period with one sized for its traffic.
    func rotateByAge(nowMillis: Int64, _ report: inout IndexMaintenance) {
        guard policy.rotationMillis > 0 else { return }
        var chain = chainWord.load(ordering: .acquiring)
        let newestSlot = Chain.newestSlot(chain)
        let used = storage.word(newestSlot, .used).load(ordering: .relaxed)
        let created = Int64(storage.word(newestSlot, .createdMillis).load(ordering: .relaxed))
        guard used > 0, nowMillis - created >= policy.rotationMillis else { return }
        if Chain.spareReady(chain) {
            // Acquiring-and-releasing: withdraw the spare; if a claimant started it first, the
            // newest is new and there is nothing to rotate this turn.
            let withdrawn = Chain.make(mask: Chain.mask(chain), newest: Chain.newest(chain), spareReady: false)
            guard chainWord.compareExchange(expected: chain, desired: withdrawn, ordering: .acquiringAndReleasing).exchanged else { return }
            chain = withdrawn
            let spareSlot = (Chain.newest(chain) + 1) & (IndexGenerationStorage.slots - 1)
            storage.release(slot: spareSlot)  // never published: no claimant can hold it
            keeper.phase[spareSlot] = .free
        }
        let capacity = IndexPolicy.roundedCapacity(max(policy.initialCapacity, used * 2))
        guard prepare(capacity: capacity, chain: chain, nowMillis: nowMillis, &report) else { return }
        faultIn(slot: (Chain.newest(chain) + 1) & (IndexGenerationStorage.slots - 1))  // before any claim lands in it
        // Acquiring-and-releasing: publishes the new generation's descriptor; only the maintainer
        // changes the chain while no spare is ready, so this cannot fail.
        _ = chainWord.compareExchange(expected: chain, desired: Chain.started(chain), ordering: .acquiringAndReleasing)
        report.started.append((capacity, true))
        keeper.seenNewest = Chain.newest(chain) + 1
        keeper.phase[keeper.seenNewest & (IndexGenerationStorage.slots - 1)] = .live
    }

    /// Prepares the spare (twice the newest's capacity) and publishes it with the spare bit.
    func prepareSpare(nowMillis: Int64, _ report: inout IndexMaintenance) {
        var chain = chainWord.load(ordering: .acquiring)
        let capacity = 2 * (storage.word(Chain.newestSlot(chain), .mask).load(ordering: .relaxed) + 1)
        guard prepare(capacity: capacity, chain: chain, nowMillis: nowMillis, &report) else { return }
        while true {
            let ready = Chain.make(mask: Chain.mask(chain), newest: Chain.newest(chain), spareReady: true)
            // Acquiring-and-releasing: the spare's descriptor is published with the bit.
            let (exchanged, original) = chainWord.compareExchange(expected: chain, desired: ready, ordering: .acquiringAndReleasing)
            if exchanged { return }
            chain = original
        }
    }

    /// Maps a table of `capacity` in the slot after the newest, within the memory guard.
    func prepare(capacity: Int, chain: UInt64, nowMillis: Int64, _ report: inout IndexMaintenance) -> Bool {
        let next = Chain.newest(chain) + 1
        let slot = next & (IndexGenerationStorage.slots - 1)
        let total = totalCapacity(chain) + capacity
        guard keeper.phase[slot] == .free, total <= policy.maxEntries else {
            refuse(keeper.phase[slot] != .free
                ? "the conversion index has \(IndexGenerationStorage.slots) live generations; it cannot grow until the oldest expires"
                : "the conversion index cannot grow to \(total) entries (\(total >> 16) MiB): storage.max_conversions allows \(policy.maxEntries); "
                    + "postbacks are refused 507 index_full once the newest generation is full. Raise storage.max_conversions if memory allows",
                   &report)
            return false
        }
        guard storage.prepare(slot: slot, capacity: capacity, number: next, nowMillis: nowMillis) else {
            refuse("cannot map \(capacity >> 16) MiB for the conversion index's next generation", &report)
            return false
        }
        keeper.phase[slot] = .spare
        return true
    }

    func refuse(_ message: String, _ report: inout IndexMaintenance) {
        report.refusal = message
        keeper.refusals += 1
        refusalCount.store(keeper.refusals, ordering: .relaxed)
    }

    func totalCapacity(_ chain: UInt64) -> Int {
        var total = 0
        var live = Chain.mask(chain)
        while live != 0 {
            total += storage.word(live.trailingZeroBitCount, .mask).load(ordering: .relaxed) + 1
            live &= live - 1
        }
        return total
    }

    /// Live keys, capacity and the next growth step, from any thread (descriptors are never freed).
    public func stats() -> IndexStats {
        // Acquiring: the descriptors of the generations in the chain were published with it.
        let chain = chainWord.load(ordering: .acquiring)
        var stats = IndexStats()
        var live = Chain.mask(chain)
        while live != 0 {
            let slot = live.trailingZeroBitCount
            live &= live - 1
            stats.liveKeys += storage.word(slot, .used).load(ordering: .relaxed)
            stats.capacity += storage.word(slot, .mask).load(ordering: .relaxed) + 1
            stats.generations += 1
        }
        let newest = Chain.newestSlot(chain)
        stats.newestGeneration = Chain.newest(chain)
        stats.newestKeys = storage.word(newest, .used).load(ordering: .relaxed)
        stats.nextGrowthAt = storage.word(newest, .softLimit).load(ordering: .relaxed)
        if Chain.spareReady(chain) {
            stats.spareCapacity = storage.word((Chain.newest(chain) + 1) & (IndexGenerationStorage.slots - 1), .mask)
                .load(ordering: .relaxed) + 1
        }
        stats.growthRefusals = refusalCount.load(ordering: .relaxed)
        return stats
    }

    /// The newest generation's number (it grows by one at every growth or rotation step).
    public var newestGeneration: Int {
        // Relaxed: a statistic; nothing is read through it.
        Chain.newest(chainWord.load(ordering: .relaxed))
    }

    /// Keys held (live generations; expired keys count until their generation is dropped).
    public var count: Int { stats().liveKeys }
    /// Entries of the live generations.
    public var capacity: Int { stats().capacity }
}
