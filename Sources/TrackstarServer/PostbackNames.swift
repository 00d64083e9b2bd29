// The parameter names of every sender profile in use, compiled at load into one collision-free
// (perfect) hash table: a postback's names are matched in one pass, before its offer (and so its
// profile) is known, at one hash and one compare per parameter. Invariants: `slots` has a power-of-two
// size, every name has exactly one slot, and nothing changes after `init`.
import TrackstarCore
import TrackstarConfiguration

/// Every distinct parameter name of the profiles in use, each with a small index (< `maxNames`).
final class PostbackNames: @unchecked Sendable {  // immutable after init; pointers freed in deinit
    static let maxNames = TrackstarConfiguration.PostbackProfiles.maxNames
    /// The names, by index.
    let names: [[UInt8]]
    /// Per index: the first and last (up to) eight bytes and the length: exact for names up to 16 bytes.
    private let keys: UnsafeMutablePointer<NameKey>
    /// Per slot: the name index + 1, or 0 for none.
    private let slots: UnsafeMutablePointer<UInt8>
    private let shift: UInt64
    private let seed: UInt64

    struct NameKey { var head: UInt64; var tail: UInt64; var length: Int }

    init(_ names: [[UInt8]]) {
        precondition(names.count <= PostbackNames.maxNames)
        self.names = names
        keys = .allocate(capacity: max(1, names.count))
        for (i, name) in names.enumerated() { keys[i] = name.withUnsafeBytes { PostbackNames.key($0) } }
        // Find a seed under which no two names share a slot; widen the table if none does.
        var bits: UInt64 = 4
        while (1 << bits) < 4 * names.count { bits += 1 }
        var chosen: (bits: UInt64, seed: UInt64)?
        search: while chosen == nil {
            for seed in UInt64(1)...512 {
                var used = Set<UInt64>()
                var clash = false
                for i in 0..<names.count where !used.insert(PostbackNames.hash(keys[i], seed: seed, shift: 64 - bits)).inserted {
                    clash = true
                    break
                }
                if !clash { chosen = (bits, seed); break search }
            }
            bits += 1
        }
        shift = 64 - chosen!.bits
        seed = chosen!.seed
        let size = 1 << Int(chosen!.bits)
        slots = .allocate(capacity: size)
        slots.initialize(repeating: 0, count: size)
        for i in 0..<names.count { slots[Int(PostbackNames.hash(keys[i], seed: seed, shift: shift))] = UInt8(i + 1) }
    }

    deinit { keys.deallocate(); slots.deallocate() }

    /// The index of `name`, or nil when no profile in use lists it.
    @inline(__always)
    func index(_ name: UnsafeRawBufferPointer) -> Int? {
        guard name.count > 0 else { return nil }
        let key = PostbackNames.key(name)
        let entry = Int(slots[Int(PostbackNames.hash(key, seed: seed, shift: shift))])
        guard entry != 0 else { return nil }
        let known = keys[entry - 1]
        guard known.head == key.head && known.tail == key.tail && known.length == key.length else { return nil }
        if key.length > 16 {  // the head and tail words cover 16 bytes: compare the rest
            let same = names[entry - 1].withUnsafeBytes { memcmp($0.baseAddress!, name.baseAddress!, name.count) == 0 }
            if !same { return nil }
        }
        return entry - 1
    }

    /// Unaligned loads of the first and last bytes (overlapping for short names).
    @inline(__always)
    static func key(_ name: UnsafeRawBufferPointer) -> NameKey {
        let p = name.baseAddress!, n = name.count
        if n >= 8 { return NameKey(head: p.loadUnaligned(as: UInt64.self), tail: p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), length: n) }
        if n >= 4 {
            return NameKey(head: UInt64(p.loadUnaligned(as: UInt32.self)), tail: UInt64(p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)), length: n)
        }
        if n >= 2 {
            return NameKey(head: UInt64(p.loadUnaligned(as: UInt16.self)), tail: UInt64(p.loadUnaligned(fromByteOffset: n - 2, as: UInt16.self)), length: n)
        }
        let b = UInt64(p.load(as: UInt8.self))
        return NameKey(head: b, tail: b, length: n)
    }

    @inline(__always)
    static func hash(_ key: NameKey, seed: UInt64, shift: UInt64) -> UInt64 {
        // Multiply-xor steps after the seed, so another seed really gives other slots.
        var h = (key.head ^ seed) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ key.tail ^ (h >> 29)) &* 0xC2B2_AE3D_27D4_EB4F
        h = (h ^ UInt64(key.length) ^ (h >> 32)) &* 0x1656_67B1_9E37_79F9
        return h >> shift
    }
}

#if canImport(Glibc)
import Glibc
#endif
