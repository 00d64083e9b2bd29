// SipHash-2-4 (Aumasson & Bernstein), the keyed MAC behind click ID tags.
// Swift's `Hasher` is seeded per process and is not a MAC, so tags use this instead.

/// A 128-bit SipHash key.
public struct SipHashKey: Sendable, Equatable {
    public var k0: UInt64
    public var k1: UInt64
    public init(k0: UInt64, k1: UInt64) { self.k0 = k0; self.k1 = k1 }
}

/// SipHash-2-4 over two 64-bit words (the click ID payload), returning 64 bits.
/// Specialised to a fixed 16-byte message so the hot path has no loops over bytes.
@inlinable
public func sipHash24(key: SipHashKey, _ m0: UInt64, _ m1: UInt64) -> UInt64 {
    var v0: UInt64 = 0x736f6d65_70736575 ^ key.k0
    var v1: UInt64 = 0x646f7261_6e646f6d ^ key.k1
    var v2: UInt64 = 0x6c796765_6e657261 ^ key.k0
    var v3: UInt64 = 0x74656462_79746573 ^ key.k1
    @inline(__always) func round() {
        v0 &+= v1; v1 = v1.rotl(13); v1 ^= v0; v0 = v0.rotl(32)
        v2 &+= v3; v3 = v3.rotl(16); v3 ^= v2
        v0 &+= v3; v3 = v3.rotl(21); v3 ^= v0
        v2 &+= v1; v1 = v1.rotl(17); v1 ^= v2; v2 = v2.rotl(32)
    }
    v3 ^= m0; round(); round(); v0 ^= m0
    v3 ^= m1; round(); round(); v0 ^= m1
    let last: UInt64 = 16 << 56  // message length in the top byte, no tail bytes
    v3 ^= last; round(); round(); v0 ^= last
    v2 ^= 0xff
    round(); round(); round(); round()
    return v0 ^ v1 ^ v2 ^ v3
}

/// SipHash-2-4 with 128 bits of output (the reference's `siphash` with `outlen = 16`) over two
/// 64-bit words: the keyed pad of opaque click IDs. Returns the first and second output words.
@inlinable
public func sipHash24Wide(key: SipHashKey, _ m0: UInt64, _ m1: UInt64) -> (UInt64, UInt64) {
    var v0: UInt64 = 0x736f6d65_70736575 ^ key.k0
    var v1: UInt64 = 0x646f7261_6e646f6d ^ key.k1 ^ 0xee
    var v2: UInt64 = 0x6c796765_6e657261 ^ key.k0
    var v3: UInt64 = 0x74656462_79746573 ^ key.k1
    @inline(__always) func round() {
        v0 &+= v1; v1 = v1.rotl(13); v1 ^= v0; v0 = v0.rotl(32)
        v2 &+= v3; v3 = v3.rotl(16); v3 ^= v2
        v0 &+= v3; v3 = v3.rotl(21); v3 ^= v0
        v2 &+= v1; v1 = v1.rotl(17); v1 ^= v2; v2 = v2.rotl(32)
    }
    v3 ^= m0; round(); round(); v0 ^= m0
    v3 ^= m1; round(); round(); v0 ^= m1
    let last: UInt64 = 16 << 56
    v3 ^= last; round(); round(); v0 ^= last
    v2 ^= 0xee
    round(); round(); round(); round()
    let first = v0 ^ v1 ^ v2 ^ v3
    v1 ^= 0xdd
    round(); round(); round(); round()
    return (first, v0 ^ v1 ^ v2 ^ v3)
}

extension UInt64 {
    @inlinable @inline(__always)
    func rotl(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}
