// User agents of report.sqlite's click blocks as numbers (issue 19 item 1). A user agent is a third
// of a click's block text or more (~80–140 of ~240–300 bytes), and a campaign's clicks carry a few
// hundred distinct ones: the block holds the agent's id in `user_agents` instead (a JSON number where
// the text was), and the `clicks` view looks it up, so `SELECT user_agent FROM clicks` gives the same
// text. Only plain agents get an id (printable ASCII without '"' or '\', 1…`maxAgentBytes` bytes, so
// the text the view gives back is byte for byte the one JSON would have carried); others, and any
// once the dictionary is full, stay in the block as text.
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// The store's agents and their ids, with an open-addressing table from an agent's bytes to its
/// entry. Exporter thread only. Invariants: entries `0 ..< count` are distinct agents, each in
/// `user_agents` once its transaction commits; `committed` of them are known committed (`commit()`),
/// the rest were added by the open transaction and `rollBack()` forgets them; every entry is in
/// `slots` (entry index + 1; 0 is an empty slot), which has at least twice `maxAgents` slots.
final class UserAgentDictionary {
    /// The table, made with the click blocks (`SQLiteClickBlocks.schema`).
    static let schema = "CREATE TABLE IF NOT EXISTS user_agents (id INTEGER PRIMARY KEY, agent TEXT NOT NULL);"
    /// Longer agents stay in the block as text.
    static let maxAgentBytes = 512

    let maxAgents: Int
    private let slotMask: Int
    private let slots: UnsafeMutablePointer<Int32>
    private let hashes: UnsafeMutablePointer<UInt64>
    private let offsets: UnsafeMutablePointer<Int32>
    private let lengths: UnsafeMutablePointer<Int32>
    private let ids: UnsafeMutablePointer<Int64>
    private let arena: UnsafeMutableRawPointer
    private let arenaCapacity: Int
    private(set) var count = 0
    private var arenaUsed = 0, nextID: Int64 = 1
    private var committed = (count: 0, arenaUsed: 0, nextID: Int64(1))

    /// `maxAgents` distinct agents at most (tests make it small), with room for 128 bytes each on average.
    init(maxAgents: Int = 65_536) {
        self.maxAgents = max(maxAgents, 1)
        var slotCount = 1
        while slotCount < 2 * self.maxAgents { slotCount *= 2 }
        slotMask = slotCount - 1
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: 0, count: slotCount)
        hashes = .allocate(capacity: self.maxAgents)
        offsets = .allocate(capacity: self.maxAgents)
        lengths = .allocate(capacity: self.maxAgents)
        ids = .allocate(capacity: self.maxAgents)
        arenaCapacity = self.maxAgents * 128
        arena = .allocate(byteCount: arenaCapacity, alignment: 8)
    }

    deinit {
        slots.deallocate(); hashes.deallocate(); offsets.deallocate(); lengths.deallocate(); ids.deallocate()
        arena.deallocate()
    }

    /// Whether an agent gets an id: 1…`maxAgentBytes` bytes of printable ASCII other than '"' and '\'
    /// (an agent that is not stays text). Eight bytes a step, the last few as the eight ending it.
    static func isPlain(_ agent: UnsafeRawBufferPointer) -> Bool {
        let n = agent.count
        guard n > 0, n <= maxAgentBytes, let p = agent.baseAddress else { return false }
        @inline(__always) func plain(_ word: UInt64) -> Bool {
            word & 0x8080_8080_8080_8080 == 0 && !ByteWriter.wordNeedsJSONEscape(word)
        }
        var i = 0
        while i + 8 <= n {
            guard plain(p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) else { return false }
            i += 8
        }
        guard i < n else { return true }
        return plain(UserAgentDictionary.lastWord(p, n))
    }

    /// An agent's hash (1…`maxAgentBytes` bytes), eight bytes a step. A lookup hashes without checking
    /// the bytes: an agent found equals a stored one, which was plain; only a new one is checked
    /// (`isPlain`), which saved ~235 instructions a click of the fused check-and-hash (callgrind of
    /// `ExportFigures 100000`'s exporter thread: 472.1 M → 450.9 M).
    @inline(__always)
    static func hash(_ agent: UnsafeRawBufferPointer) -> UInt64 {
        let n = agent.count, p = agent.baseAddress!
        @inline(__always) func mix(_ h: UInt64, _ word: UInt64) -> UInt64 {
            let x = (h ^ word) &* 0xff51_afd7_ed55_8ccd
            return x ^ (x >> 32)
        }
        var h = 0x9e37_79b9_7f4a_7c15 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            h = mix(h, p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < n { h = mix(h, lastWord(p, n)) }
        return h ^ (h >> 29)
    }

    /// The eight bytes ending an agent of `n` bytes; for `n` < 8 its bytes padded with spaces (plain,
    /// and the length is in the hash already).
    @inline(__always)
    static func lastWord(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        if n >= 8 { return p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) }
        var word: UInt64 = 0x2020_2020_2020_2020
        for k in 0..<n { word = word & ~(0xff << (8 * UInt64(k))) | UInt64(p.load(fromByteOffset: k, as: UInt8.self)) << (8 * UInt64(k)) }
        return word
    }

    /// The slot holding `agent` (hash `h`), or the empty slot where it would go (`found` false).
    @inline(__always)
    private func probe(_ agent: UnsafeRawBufferPointer, _ h: UInt64) -> (slot: Int, found: Bool) {
        var slot = Int(truncatingIfNeeded: h) & slotMask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return (slot, false) }
            let k = entry - 1
            if hashes[k] == h && Int(lengths[k]) == agent.count
                && memcmp(arena + Int(offsets[k]), agent.baseAddress!, agent.count) == 0 { return (slot, true) }
            slot = (slot + 1) & slotMask
        }
    }

    /// Adds an entry at an empty `slot` (the caller checked the room).
    private func add(_ agent: UnsafeRawBufferPointer, _ h: UInt64, id: Int64, slot: Int) {
        let k = count
        (arena + arenaUsed).copyMemory(from: agent.baseAddress!, byteCount: agent.count)
        hashes[k] = h
        offsets[k] = Int32(arenaUsed)
        lengths[k] = Int32(agent.count)
        ids[k] = id
        slots[slot] = Int32(k + 1)
        count += 1
        arenaUsed += agent.count
    }

    private func hasRoom(_ bytes: Int) -> Bool { count < maxAgents && arenaUsed + bytes <= arenaCapacity }

    /// The agent's id, 0 for one that stays text. A new plain agent, while there is room, gets the next
    /// id and its row (`insert`: `INSERT INTO user_agents VALUES (?, ?)`, in the caller's transaction).
    @inline(__always)
    func id(_ agent: UnsafeRawBufferPointer, insert: SQLiteStatement) throws(ExportError) -> Int64 {
        guard agent.count > 0, agent.count <= UserAgentDictionary.maxAgentBytes else { return 0 }
        let h = UserAgentDictionary.hash(agent)
        let (slot, found) = probe(agent, h)
        if found { return ids[Int(slots[slot]) - 1] }
        guard UserAgentDictionary.isPlain(agent), hasRoom(agent.count) else { return 0 }
        let id = nextID
        add(agent, h, id: id, slot: slot)
        nextID += 1
        insert.bind(1, id)
        insert.bind(2, agent)
        try insert.run()
        return id
    }

    /// The transaction that added the entries since the last `commit()` committed.
    func commit() { committed = (count, arenaUsed, nextID) }

    /// It rolled back: its entries are forgotten (the table is rebuilt from the committed ones).
    func rollBack() {
        guard count != committed.count || nextID != committed.nextID else { return }
        count = committed.count
        arenaUsed = committed.arenaUsed
        nextID = committed.nextID
        slots.update(repeating: 0, count: slotMask + 1)
        for k in 0..<count {
            var slot = Int(truncatingIfNeeded: hashes[k]) & slotMask
            while slots[slot] != 0 { slot = (slot + 1) & slotMask }
            slots[slot] = Int32(k + 1)
        }
    }

    /// Reads the store's agents (at open): every plain one while there is room; ids go on after the largest.
    func load(_ db: SQLiteDatabase) throws(ExportError) {
        count = 0; arenaUsed = 0; nextID = 1
        slots.update(repeating: 0, count: slotMask + 1)
        let select = try db.prepare("SELECT id, agent FROM user_agents ORDER BY id")
        while try select.step() {
            let id = select.int(0)
            nextID = max(nextID, id + 1)
            let agent = select.bytes(1)
            guard UserAgentDictionary.isPlain(agent), hasRoom(agent.count) else { continue }
            let h = UserAgentDictionary.hash(agent)
            let (slot, found) = probe(agent, h)
            if !found { add(agent, h, id: id, slot: slot) }
        }
        commit()
    }

    /// The view's expression for the agent of a click array `value` whose agent is element `index`:
    /// the dictionary's text for a number, the element itself for a text.
    static func viewExpression(_ value: String, index: Int) -> String {
        "CASE WHEN typeof(\(value) ->> \(index)) = 'integer' THEN (SELECT a.agent FROM user_agents a WHERE a.id = \(value) ->> \(index)) "
            + "ELSE \(value) ->> \(index) END"
    }
}
