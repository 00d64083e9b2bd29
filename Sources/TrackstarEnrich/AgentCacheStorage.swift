// The user-agent cache's table: 4-way buckets of 16-byte entries, one 64-byte cache line per bucket,
// allocated once. An entry is the agent's 64-bit hash and one word packing the examined length and the
// answer; a bucket keeps its newest entry first and drops its oldest when full (FIFO per bucket).
// Single-threaded: one table per loop.

/// One cached classification: the hash and a packed word (see `AgentCacheStorage.pack`).
struct AgentCacheEntry {
    var hash: UInt64
    var word: UInt64
}

/// Raw memory for the cache's buckets.
final class AgentCacheStorage {
    static let ways = 4
    private let entries: UnsafeMutablePointer<AgentCacheEntry>
    /// Number of buckets, a power of two.
    let bucketCount: Int

    // Word layout: bits 0-15 examined length, 16-23 device type, bit 24 spider, bit 25 provisional
    // (a cheap answer made over budget), bit 26 occupied, bit 27 a bot substring occurs, bits 32-47
    // OS id, 48-63 browser id.
    private static let occupiedBit: UInt64 = 1 << 26
    private static let provisionalBit: UInt64 = 1 << 25
    private static let listedBit: UInt64 = 1 << 27

    /// Room for at least `capacity` entries (at least one bucket), all empty.
    init(capacity: Int) {
        var buckets = 1
        while buckets * Self.ways < capacity { buckets <<= 1 }
        bucketCount = buckets
        let raw = UnsafeMutableRawPointer.allocate(byteCount: buckets * Self.ways * 16, alignment: 64)
        entries = raw.initializeMemory(as: AgentCacheEntry.self, repeating: AgentCacheEntry(hash: 0, word: 0), count: buckets * Self.ways)
    }

    deinit { UnsafeMutableRawPointer(entries).deallocate() }

    /// Entries the table holds.
    var capacity: Int { bucketCount * Self.ways }
    /// Bytes the table holds.
    var bytes: Int { capacity * MemoryLayout<AgentCacheEntry>.stride }

    /// The cached answer for (`hash`, `length`) and whether it was provisional, or nil.
    @inline(__always)
    func find(hash: UInt64, length: Int) -> (answer: AgentAnswer, provisional: Bool, slot: Int)? {
        let base = (Int(truncatingIfNeeded: hash) & (bucketCount - 1)) &* Self.ways
        for way in 0..<Self.ways {
            let entry = entries[base + way]
            if entry.hash == hash, entry.word & Self.occupiedBit != 0, Int(entry.word & 0xFFFF) == length {
                return (Self.unpack(entry.word), entry.word & Self.provisionalBit != 0, base + way)
            }
        }
        return nil
    }

    /// Stores an answer as the bucket's newest entry, dropping its oldest.
    func insert(hash: UInt64, length: Int, answer: AgentAnswer, provisional: Bool) {
        let base = (Int(truncatingIfNeeded: hash) & (bucketCount - 1)) &* Self.ways
        for way in stride(from: Self.ways - 1, to: 0, by: -1) { entries[base + way] = entries[base + way - 1] }
        entries[base] = AgentCacheEntry(hash: hash, word: Self.pack(answer, length: length, provisional: provisional))
    }

    /// Replaces the answer in `slot` (a slot `find` returned), keeping its place.
    func replace(slot: Int, length: Int, answer: AgentAnswer) {
        entries[slot].word = Self.pack(answer, length: length, provisional: false)
    }

    /// Occupied entries (a scan; for tests and figures).
    func occupiedCount() -> Int {
        var count = 0
        for i in 0..<capacity where entries[i].word & Self.occupiedBit != 0 { count += 1 }
        return count
    }

    private static func pack(_ answer: AgentAnswer, length: Int, provisional: Bool) -> UInt64 {
        UInt64(truncatingIfNeeded: length) & 0xFFFF
            | UInt64(answer.device.device.rawValue) << 16
            | (answer.device.spider ? 1 << 24 : 0)
            | (provisional ? provisionalBit : 0)
            | occupiedBit
            | (answer.listedSubstring ? listedBit : 0)
            | UInt64(answer.device.os) << 32
            | UInt64(answer.device.browser) << 48
    }

    private static func unpack(_ word: UInt64) -> AgentAnswer {
        AgentAnswer(device: DeviceAnswer(device: DeviceType(rawValue: UInt8(truncatingIfNeeded: word >> 16)) ?? .other,
                                         os: UInt16(truncatingIfNeeded: word >> 32),
                                         browser: UInt16(truncatingIfNeeded: word >> 48),
                                         spider: word & (1 << 24) != 0),
                    listedSubstring: word & listedBit != 0)
    }
}
