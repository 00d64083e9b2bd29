// A fast 64-bit checksum for log records: detects torn and corrupted records, not adversaries.
// Word-at-a-time multiply-rotate mixing (xxHash64's round) with a final avalanche.

/// Checksums of record bytes; never returns 0, which marks a slot that was never written.
public enum Checksum {
    @inline(__always)
    @usableFromInline static func round(_ h: UInt64, _ word: UInt64) -> UInt64 {
        var acc = h &+ word &* 0xC2B2_AE3D_27D4_EB4F
        acc = (acc << 31) | (acc >> 33)
        return acc &* 0x9E37_79B1_85EB_CA87
    }

    /// Folds `bytes` into `seed`. Always inlined: callers pass fixed sizes (a record's header
    /// words), which then unroll to a few multiplies.
    @inlinable @inline(__always)
    public static func update(_ seed: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = seed ^ UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            h = round(h, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        // The last 0–7 bytes as a little-endian word, in at most three loads (the same value a
        // byte-by-byte loop gives; callgrind showed that loop as a third of a record's checksum).
        let rest = bytes.count - i
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        if rest & 4 != 0 {
            tail = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            shift = 32; i += 4
        }
        if rest & 2 != 0 {
            tail |= UInt64(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt16.self))) << shift
            shift += 16; i += 2
        }
        if rest & 1 != 0 { tail |= UInt64(bytes[i]) << shift }
        return round(h, tail)
    }

    /// The final value: avalanched, never 0.
    @inlinable
    public static func finish(_ h: UInt64) -> UInt64 {
        var z = h
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        z ^= z >> 33
        return z == 0 ? 1 : z
    }
}
