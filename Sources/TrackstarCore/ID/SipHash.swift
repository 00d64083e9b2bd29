// SipHash-2-4 (Aumasson & Bernstein), the keyed MAC behind click ID tags.
// Swift's `Hasher` is seeded per process and is not a MAC, so tags use this instead.

/// A 128-bit SipHash key.
public struct SipHashKey: Sendable, Equatable {
    public var k0: UInt64
    public var k1: UInt64
    public init(k0: UInt64, k1: UInt64) { self.k0 = k0; self.k1 = k1 }
}

/// SipHash's four state words with its round; both functions below compress the same 16-byte
/// message and differ only in the 128-bit variant's constants and second output.
@usableFromInline
struct SipState {
    @usableFromInline var v0, v1, v2, v3: UInt64

    @inlinable @inline(__always)
    init(key: SipHashKey, wide: Bool) {
        v0 = 0x736f6d65_70736575 ^ key.k0
        v1 = 0x646f7261_6e646f6d ^ key.k1 ^ (wide ? 0xee : 0)
        v2 = 0x6c796765_6e657261 ^ key.k0
        v3 = 0x74656462_79746573 ^ key.k1
    }

    @inlinable @inline(__always)
    mutating func round() {
        v0 &+= v1; v1 = v1.rotl(13); v1 ^= v0; v0 = v0.rotl(32)
        v2 &+= v3; v3 = v3.rotl(16); v3 ^= v2
        v0 &+= v3; v3 = v3.rotl(21); v3 ^= v0
        v2 &+= v1; v1 = v1.rotl(17); v1 ^= v2; v2 = v2.rotl(32)
    }

    /// Two compression rounds per word, then the length block (16 bytes, no tail).
    @inlinable @inline(__always)
    mutating func compress(_ m0: UInt64, _ m1: UInt64) {
        v3 ^= m0; round(); round(); v0 ^= m0
        v3 ^= m1; round(); round(); v0 ^= m1
        let last: UInt64 = 16 << 56  // message length in the top byte, no tail bytes
        v3 ^= last; round(); round(); v0 ^= last
    }

    /// Four finalization rounds after `v2 ^= marker`; the XOR of the state.
    @inlinable @inline(__always)
    mutating func finish(_ marker: UInt64) -> UInt64 {
        v2 ^= marker
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}

/// SipHash-2-4 over two 64-bit words (the click ID payload), returning 64 bits.
/// Specialised to a fixed 16-byte message so the hot path has no loops over bytes.
@inlinable
public func sipHash24(key: SipHashKey, _ m0: UInt64, _ m1: UInt64) -> UInt64 {
    var state = SipState(key: key, wide: false)
    state.compress(m0, m1)
    return state.finish(0xff)
}

/// SipHash-2-4 with 128 bits of output (the reference's `siphash` with `outlen = 16`) over two
/// 64-bit words: the keyed pad of opaque click IDs. Returns the first and second output words.
@inlinable
public func sipHash24Wide(key: SipHashKey, _ m0: UInt64, _ m1: UInt64) -> (UInt64, UInt64) {
    var state = SipState(key: key, wide: true)
    state.compress(m0, m1)
    let first = state.finish(0xee)
    state.v1 ^= 0xdd
    state.round(); state.round(); state.round(); state.round()
    return (first, state.v0 ^ state.v1 ^ state.v2 ^ state.v3)
}

extension UInt64 {
    @inlinable @inline(__always)
    func rotl(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}
