// A seeded 64-bit hash of user-agent bytes for the per-loop cache: 16 bytes per step through a 128-bit
// multiply (wyhash's "mum" mixer). Not a MAC: the seed is random per cache, so an outsider cannot aim
// agents at one bucket without seeing the process's memory.

/// Hashes byte strings with a fixed seed.
struct AgentHash {
    private let seed: UInt64
    // Mixed into every first word, so that no word an outsider can write zeroes the product.
    private let secret: UInt64

    /// A hash with a fresh random seed.
    init() {
        var generator = SystemRandomNumberGenerator()
        self.init(seed: generator.next())
    }

    /// A hash with the given seed (tests).
    init(seed: UInt64) {
        self.seed = seed
        secret = (seed ^ 0xA076_1D64_78BD_642F) &* 0x9E37_79B9_7F4A_7C15 | 1
    }

    /// The 64-bit hash of `bytes`.
    @inline(__always)
    func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var state = seed ^ (UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15)
        var offset = 0
        while offset + 16 <= count {
            let a = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let b = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
            state = Self.mix(a ^ secret, b ^ state)
            offset += 16
        }
        if offset < count {
            // The tail, 1 to 15 bytes, as two little-endian words padded with zeros.
            var a: UInt64 = 0, b: UInt64 = 0
            var shift: UInt64 = 0
            for i in offset..<count {
                let byte = UInt64(bytes[i])
                if i - offset < 8 { a |= byte << shift } else { b |= byte << (shift - 64) }
                shift += 8
            }
            state = Self.mix(a ^ secret ^ 0xE703_7ED1_A0B4_28DB, b ^ state)
        }
        return Self.mix(state ^ 0x8EBC_6AF0_9C88_C6E3, seed ^ UInt64(truncatingIfNeeded: count))
    }

    /// Folds the 128-bit product of `a` and `b` to 64 bits.
    @inline(__always)
    private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }
}
