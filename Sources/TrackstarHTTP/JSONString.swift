// Decoding of the string contents `JSONObjectScanner` has checked (JSONBody.swift): escapes to bytes,
// `\uXXXX` (and surrogate pairs) to UTF-8, into caller-provided storage or straight into a fingerprint,
// without allocating.

/// Decoding of string contents the scanner has checked: escapes to bytes, `\uXXXX` to UTF-8.
public enum JSONString {
    /// The 16-bit unit of the `\uXXXX` at `i` (on the backslash), or nil if it is not one.
    static func unit(_ bytes: UnsafeRawBufferPointer, _ i: Int, _ end: Int) -> UInt32? {
        guard end - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { return nil }
        var value: UInt32 = 0
        for k in 2..<6 {
            let h = ASCII.hexValue(bytes[i + k])
            guard h != 0xFF else { return nil }
            value = value << 4 | UInt32(h)
        }
        return value
    }

    /// Calls `emit` with each decoded byte of checked string contents `raw`, until it returns false.
    @inline(__always)
    static func forEachByte(_ raw: UnsafeRawBufferPointer, _ emit: (UInt8) -> Bool) {
        var i = 0
        let end = raw.count
        while i < end {
            let b = raw[i]
            guard b == UInt8(ascii: "\\"), i + 1 < end else {
                if !emit(b) { return }
                i += 1
                continue
            }
            var scalar: UInt32
            switch raw[i + 1] {
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "u"):
                scalar = unit(raw, i, end) ?? 0xFFFD
                if scalar & 0xFC00 == 0xD800, let low = unit(raw, i + 6, end) {
                    scalar = 0x10000 + ((scalar & 0x3FF) << 10 | (low & 0x3FF))
                    i += 6
                }
                i += 4
            default: scalar = UInt32(raw[i + 1])  // '"', '\\', '/'
            }
            i += 2
            if scalar < 0x80 {
                if !emit(UInt8(scalar)) { return }
            } else if scalar < 0x800 {
                if !emit(UInt8(0xC0 | scalar >> 6)) || !emit(UInt8(0x80 | scalar & 0x3F)) { return }
            } else if scalar < 0x10000 {
                if !emit(UInt8(0xE0 | scalar >> 12)) || !emit(UInt8(0x80 | scalar >> 6 & 0x3F))
                    || !emit(UInt8(0x80 | scalar & 0x3F)) { return }
            } else {
                if !emit(UInt8(0xF0 | scalar >> 18)) || !emit(UInt8(0x80 | scalar >> 12 & 0x3F))
                    || !emit(UInt8(0x80 | scalar >> 6 & 0x3F)) || !emit(UInt8(0x80 | scalar & 0x3F)) { return }
            }
        }
    }

    /// Decodes checked string contents into `output`: the byte count, or nil when `output` is too small.
    public static func decode(_ raw: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        var written = 0
        var fits = true
        forEachByte(raw) { b in
            guard written < output.count else { fits = false; return false }
            output[written] = b
            written += 1
            return true
        }
        return fits ? written : nil
    }

    /// A 64-bit fingerprint of the decoded contents (FNV-1a, then a final mix), to tell member names apart.
    public static func fingerprint(_ raw: UnsafeRawBufferPointer, escaped: Bool) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        if escaped {
            forEachByte(raw) { b in h = (h ^ UInt64(b)) &* 0x100_0000_01B3; return true }
        } else {
            for b in raw { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        }
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        return h
    }
}
