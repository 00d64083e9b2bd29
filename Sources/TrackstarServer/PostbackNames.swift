// The parameter names of every sender profile in use, compiled at load into one collision-free
// (perfect) hash table: a postback's names are matched in one pass, before its offer (and so its
// profile) is known, at one hash and one compare per parameter. Invariants: `slots` has a power-of-two
// size, every name has exactly one slot, and nothing changes after `init`.
import TrackstarCore
import TrackstarConfiguration

/// Every distinct parameter name of the profiles in use, each with a small index (< `maxNames`).
/// Owns the memory `lookup` reads; the request path holds only the `Lookup` (no class reference, so
/// no retain and release per postback).
final class PostbackNames: @unchecked Sendable {  // immutable after init; pointers freed in deinit
    static let maxNames = TrackstarConfiguration.PostbackProfiles.maxNames
    /// The names, by index.
    let names: [[UInt8]]
    /// The table itself: plain pointers into the memory below, valid while this object lives.
    let lookup: Lookup
    /// Per index: the first and last (up to) eight bytes and the length: exact for names up to 16 bytes.
    private let keys: UnsafeMutablePointer<NameKey>
    /// Per slot: the name index + 1, or 0 for none.
    private let slots: UnsafeMutablePointer<UInt8>
    /// Every name's bytes back to back, and where each starts (for names longer than 16 bytes).
    private let bytes: UnsafeMutablePointer<UInt8>
    private let starts: UnsafeMutablePointer<Int>

    struct NameKey { var head: UInt64; var tail: UInt64; var length: Int }

    init(_ names: [[UInt8]]) {
        precondition(names.count <= PostbackNames.maxNames)
        self.names = names
        keys = .allocate(capacity: max(1, names.count))
        for (i, name) in names.enumerated() { keys[i] = name.withUnsafeBytes { PostbackNames.key($0) } }
        let total = names.reduce(0) { $0 + $1.count }
        bytes = .allocate(capacity: max(1, total))
        starts = .allocate(capacity: max(1, names.count))
        var at = 0
        for (i, name) in names.enumerated() {
            starts[i] = at
            (bytes + at).initialize(from: name, count: name.count)
            at += name.count
        }
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
        let shift = 64 - chosen!.bits
        let seed = chosen!.seed
        let size = 1 << Int(chosen!.bits)
        slots = .allocate(capacity: size)
        slots.initialize(repeating: 0, count: size)
        for i in 0..<names.count { slots[Int(PostbackNames.hash(keys[i], seed: seed, shift: shift))] = UInt8(i + 1) }
        lookup = Lookup(keys: keys, slots: slots, bytes: bytes, starts: starts, shift: shift, seed: seed)
    }

    deinit { keys.deallocate(); slots.deallocate(); bytes.deallocate(); starts.deallocate() }

    /// The index of `name`, or nil when no profile in use lists it.
    @inline(__always)
    func index(_ name: UnsafeRawBufferPointer) -> Int? { lookup.index(name) }

    /// The perfect hash table as plain values: what a postback uses. Valid while its `PostbackNames`
    /// lives (a loop takes it from the catalog it holds, `HandlerState.postbackNames`).
    struct Lookup {
        fileprivate let keys: UnsafePointer<NameKey>
        fileprivate let slots: UnsafePointer<UInt8>
        fileprivate let bytes: UnsafePointer<UInt8>
        fileprivate let starts: UnsafePointer<Int>
        fileprivate let shift: UInt64
        fileprivate let seed: UInt64

        fileprivate init(keys: UnsafeMutablePointer<NameKey>, slots: UnsafeMutablePointer<UInt8>, bytes: UnsafeMutablePointer<UInt8>,
                         starts: UnsafeMutablePointer<Int>, shift: UInt64, seed: UInt64) {
            self.keys = UnsafePointer(keys); self.slots = UnsafePointer(slots); self.bytes = UnsafePointer(bytes)
            self.starts = UnsafePointer(starts); self.shift = shift; self.seed = seed
        }

        /// The index of `name`, or nil when no profile in use lists it.
        @inline(__always)
        func index(_ name: UnsafeRawBufferPointer) -> Int? {
            guard name.count > 0 else { return nil }
            let key = PostbackNames.key(name)
            let entry = Int(slots[Int(PostbackNames.hash(key, seed: seed, shift: shift))])
            guard entry != 0 else { return nil }
            let known = keys[entry - 1]
            guard known.head == key.head && known.tail == key.tail && known.length == key.length else { return nil }
            // The head and tail words cover 16 bytes: compare the rest.
            if key.length > 16 && memcmp(bytes + starts[entry - 1], name.baseAddress!, name.count) != 0 { return nil }
            return entry - 1
        }
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
