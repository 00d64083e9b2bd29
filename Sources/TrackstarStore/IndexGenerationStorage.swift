// The raw memory behind `ConcurrentIndex`: a fixed array of 32 generation descriptors (never freed)
// and, per live generation, one mapped table of 16-byte entries. All pointer arithmetic of the index
// is here; the protocol that makes it correct is in ConcurrentIndex.swift.
import Atomics

/// Descriptors and entry tables. Invariants: a descriptor's fields are written only by the single
/// maintainer, while its slot is outside the chain (free or spare), and published to claimants by
/// the chain word (a releasing compare-and-swap that they load acquiring); `used` and `maxExpiry`
/// are the only fields claimants write. An entry table is unmapped only after a grace period in
/// which every participant was seen outside a critical section (see `Quiescence`).
struct IndexGenerationStorage {
    /// Descriptor slots; the chain word's mask has one bit per slot, so at most 32 generations.
    static let slots = 32
    /// One descriptor per 256 bytes: the words claimants write sit on lines of their own.
    static let descriptorBytes = 256
    let descriptors: UnsafeMutableRawPointer

    init() {
        descriptors = .allocate(byteCount: IndexGenerationStorage.slots * IndexGenerationStorage.descriptorBytes, alignment: 128)
        descriptors.initializeMemory(as: UInt8.self, repeating: 0,
                                     count: IndexGenerationStorage.slots * IndexGenerationStorage.descriptorBytes)
    }

    func deallocate() { descriptors.deallocate() }

    /// A descriptor field as an atomic word (relaxed loads are enough where the chain published it).
    @inline(__always)
    func word(_ slot: Int, _ field: Field) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: (descriptors + slot * IndexGenerationStorage.descriptorBytes + field.rawValue)
            .assumingMemoryBound(to: Int.AtomicRepresentation.self))
    }

    /// Byte offsets of a descriptor's words.
    enum Field: Int {
        /// Address of the entry table (0 when none is mapped).
        case entries = 0
        /// Entries in the table (a power of two) minus one.
        case mask = 8
        /// `used` at which a claimant starts the next generation if one is ready.
        case softLimit = 16
        /// `used` at which the table refuses new keys.
        case hardLimit = 24
        /// Wall-clock ms when the generation became the newest.
        case createdMillis = 32
        /// The generation's number (monotonic over the index's life).
        case number = 40
        /// Keys inserted (claimants, relaxed increments), on a line of its own.
        case used = 64
        /// The latest expiry (wall-clock ms) of any key inserted or taken over, on a line of its own.
        case maxExpiry = 128
    }

    @inline(__always)
    func entries(_ slot: Int) -> UnsafeMutableRawPointer {
        // Relaxed: claimants reach a slot through the chain word, loaded acquiring after the
        // maintainer's releasing publication; publish and abort run inside the same critical section.
        UnsafeMutableRawPointer(bitPattern: word(slot, .entries).load(ordering: .relaxed))!
    }

    @inline(__always)
    static func keyWord(_ table: UnsafeMutableRawPointer, _ entry: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (table + entry &* 16).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    @inline(__always)
    static func valueWord(_ table: UnsafeMutableRawPointer, _ entry: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (table + (entry &* 16 &+ 8)).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    /// Maps a zeroed table of `capacity` entries into `slot` (maintainer only, slot outside the chain).
    func prepare(slot: Int, capacity: Int, number: Int, nowMillis: Int64) -> Bool {
        guard let table = MappedMemory.allocate(bytes: capacity * 16, hugePages: true) else { return false }
        // Relaxed: published to claimants by the chain word's releasing compare-and-swap.
        word(slot, .entries).store(Int(bitPattern: table), ordering: .relaxed)
        word(slot, .mask).store(capacity - 1, ordering: .relaxed)
        word(slot, .softLimit).store(capacity - capacity / 4, ordering: .relaxed)
        word(slot, .hardLimit).store(capacity - capacity / 8, ordering: .relaxed)
        word(slot, .createdMillis).store(Int(nowMillis), ordering: .relaxed)
        word(slot, .number).store(number, ordering: .relaxed)
        word(slot, .used).store(0, ordering: .relaxed)
        word(slot, .maxExpiry).store(0, ordering: .relaxed)
        return true
    }

    /// Unmaps `slot`'s table (maintainer only, after the grace period or for a never-published spare).
    func release(slot: Int) {
        let address = word(slot, .entries).load(ordering: .relaxed)
        guard address != 0, let table = UnsafeMutableRawPointer(bitPattern: address) else { return }
        MappedMemory.release(table, bytes: (word(slot, .mask).load(ordering: .relaxed) + 1) * 16)
        // Relaxed: no claimant can reach this slot any more (outside the chain, grace period over).
        word(slot, .entries).store(0, ordering: .relaxed)
        word(slot, .mask).store(0, ordering: .relaxed)
        word(slot, .used).store(0, ordering: .relaxed)
    }
}

/// The chain word: which descriptor slots hold live generations, which one is the newest, and
/// whether the next slot holds a spare generation a claimant may start. One word, so that every
/// claimant sees one consistent chain and starting a generation is a single compare-and-swap.
/// Layout: bits 0–31 the live mask, bits 32–62 the newest generation's number, bit 63 spare ready.
enum Chain {
    @inline(__always) static func mask(_ word: UInt64) -> UInt64 { word & 0xffff_ffff }
    @inline(__always) static func newest(_ word: UInt64) -> Int { Int(truncatingIfNeeded: (word >> 32) & 0x7fff_ffff) }
    @inline(__always) static func newestSlot(_ word: UInt64) -> Int { newest(word) & (IndexGenerationStorage.slots - 1) }
    @inline(__always) static func spareReady(_ word: UInt64) -> Bool { word >> 63 != 0 }

    static func make(mask: UInt64, newest: Int, spareReady: Bool) -> UInt64 {
        (mask & 0xffff_ffff) | UInt64(newest & 0x7fff_ffff) << 32 | (spareReady ? 1 << 63 : 0)
    }

    /// The chain after a claimant (or the maintainer) starts the spare as the newest generation.
    static func started(_ word: UInt64) -> UInt64 {
        let next = newest(word) + 1
        return make(mask: mask(word) | 1 << UInt64(next & (IndexGenerationStorage.slots - 1)), newest: next, spareReady: false)
    }
}

/// Quiescence tracking for reclamation (epoch-based): each participant (a loop, or a test thread)
/// announces the global epoch while it may hold pointers into entry tables, and 0 otherwise.
/// A table unlinked from the chain before the epoch was advanced to E may be unmapped once every
/// participant has been seen at 0 or at an epoch ≥ E.
struct Quiescence {
    let count: Int
    let announcements: UnsafeMutableRawPointer
    let epoch = UnsafeAtomic<UInt64>.create(1)

    init(participants: Int) {
        count = participants
        announcements = .allocate(byteCount: participants * 128, alignment: 128)
        announcements.initializeMemory(as: UInt8.self, repeating: 0, count: participants * 128)
    }

    func deallocate() {
        announcements.deallocate()
        epoch.destroy()
    }

    /// A participant's announcement, one per 128 bytes so loops never share a line.
    @inline(__always)
    func announcement(_ participant: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (announcements + participant &* 128).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    /// Advances the epoch after an unlink; returns the epoch a grace period must reach.
    func advance() -> UInt64 {
        // Sequentially consistent fence: the unlink (chain word store) before it is ordered before
        // the epoch bump and the announcement reads that follow, against each participant's fence in
        // `enter` (either the participant's chain load sees the unlink, or we see its announcement).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return epoch.wrappingIncrementThenLoad(ordering: .sequentiallyConsistent)
    }

    /// Whether every participant has been outside a critical section, or entered one at `target`
    /// or later, since the epoch reached `target`.
    func graceReached(_ target: UInt64) -> Bool {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        for participant in 0..<count {
            // Acquiring pairs with `leave`'s releasing store: the participant's reads of a table
            // are over before we unmap it.
            let seen = announcement(participant).load(ordering: .acquiring)
            if seen != 0 && seen < target { return false }
        }
        return true
    }
}
