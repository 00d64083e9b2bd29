// Byte classification, eight-bytes-at-a-time (SWAR) tests and named ASCII bytes, shared by the request
// parser and the query decoder. Pure functions on values: nothing here reads or writes memory.

/// Byte classification and allocation-free comparisons shared by the parser and the query decoder.
enum ASCII {
    /// RFC 7230 `tchar` bitmaps for bytes 0–63 and 64–127.
    private static var tokenLow: UInt64 { 0x03FF_6CFA_0000_0000 }
    private static var tokenHigh: UInt64 { 0x57FF_FFFF_C7FF_FFFE }

    /// True for RFC 7230 token characters (``!#$%&'*+-.^_`|~``, digits, letters).
    @inline(__always)
    static func isTokenChar(_ b: UInt8) -> Bool {
        if b < 64 { return (tokenLow >> UInt64(b)) & 1 != 0 }
        if b < 128 { return (tokenHigh >> UInt64(b - 64)) & 1 != 0 }
        return false
    }

    /// Offset of the first byte in [from, to) that is a control byte (< 0x20, including HTAB) or DEL,
    /// or `to`. SP and obs-text (>= 0x80) are plain. Checks eight bytes per step.
    @inline(__always)
    static func skipPlainFieldBytes(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var i = from
        while i + 8 <= end {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let special = SWAR.bytesBelow(0x20, word) | SWAR.bytesEqual(0x7F, word)
            if special != 0 { return i + special.trailingZeroBitCount >> 3 }
            i += 8
        }
        while i < end, bytes[i] >= 0x20, bytes[i] != 0x7F { i += 1 }
        return i
    }

    /// Offset of the first byte in [from, to) that is not visible ASCII (<= 0x20, >= 0x7F) or is '?' or '#',
    /// or `to`. Checks eight bytes per step.
    @inline(__always)
    static func skipPlainTargetBytes(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var i = from
        while i + 8 <= end {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let special = SWAR.bytesBelow(0x21, word) | SWAR.bytesEqual(0x7F, word) | (word & SWAR.highBits)
                | SWAR.bytesEqual(.question, word) | SWAR.bytesEqual(.hash, word)
            if special != 0 { return i + special.trailingZeroBitCount >> 3 }
            i += 8
        }
        while i < end {
            let b = bytes[i]
            if b <= .space || b >= .del || b == .question || b == .hash { return i }
            i += 1
        }
        return i
    }

    /// Offset of the first byte in [from, to) that is not an ASCII letter, digit or '-' (the usual
    /// header-name bytes), or the offset where fewer than eight bytes remain; callers finish byte by byte.
    @inline(__always)
    static func skipCommonTokenBytes(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var i = from
        while i + 8 <= end {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let folded = word | (SWAR.ones &* 0x20)
            let common = SWAR.inRange(0x61, 0x7A, folded) | SWAR.inRange(0x30, 0x39, word)
                | SWAR.inRange(0x2D, 0x2D, word)
            let stop = (~common | word) & SWAR.highBits
            if stop != 0 { return i + stop.trailingZeroBitCount >> 3 }
            i += 8
        }
        return i
    }

    /// True when the `literal.utf8CodeUnitCount` token bytes at `start` equal the lowercase `literal`,
    /// ignoring case. OR-ing 0x20 is exact for token bytes against lowercase letters, digits and '-':
    /// only 'A'–'Z' gain a letter that way, and only CR or control bytes (never in a token) map onto
    /// '-' or a digit.
    @inline(__always)
    static func tokenEqualsLowercase(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        let chars = UnsafeRawPointer(literal.utf8Start)
        var i = 0
        while i + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: start + i, as: UInt64.self) | (SWAR.ones &* 0x20)
            guard word == chars.loadUnaligned(fromByteOffset: i, as: UInt64.self) else { return false }
            i += 8
        }
        while i < count {
            guard bytes[start + i] | 0x20 == chars.load(fromByteOffset: i, as: UInt8.self) else { return false }
            i += 1
        }
        return true
    }

    /// ASCII lowercase of `b` (other bytes unchanged).
    @inline(__always)
    static func lower(_ b: UInt8) -> UInt8 {
        b &- 0x41 < 26 ? b | 0x20 : b
    }

    /// The value of a hex digit (either case), or 0xFF.
    @inline(__always)
    static func hexValue(_ b: UInt8) -> UInt8 {
        if b &- 0x30 < 10 { return b &- 0x30 }
        let l = b | 0x20
        if l &- 0x61 < 6 { return l &- 0x61 &+ 10 }
        return 0xFF
    }

    /// True when bytes [start, end) equal `literal` exactly.
    static func equals(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ literal: StaticString) -> Bool {
        guard end - start == literal.utf8CodeUnitCount else { return false }
        let chars = literal.utf8Start
        for i in 0..<literal.utf8CodeUnitCount where bytes[start + i] != chars[i] {
            return false
        }
        return true
    }

    /// True when `range` equals the lowercase `literal`, ignoring ASCII case.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ range: ByteRange, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return hasPrefixIgnoringCase(bytes, Int(range.start), Int(range.end), literal)
    }

    /// True when bytes [start, end) begin with the lowercase `literal`, ignoring ASCII case.
    static func hasPrefixIgnoringCase(
        _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ literal: StaticString
    ) -> Bool {
        guard end - start >= literal.utf8CodeUnitCount else { return false }
        let chars = literal.utf8Start
        for i in 0..<literal.utf8CodeUnitCount where lower(bytes[start + i]) != chars[i] {
            return false
        }
        return true
    }

    /// `range` without trailing SP / HTAB.
    static func trimmingTrailingOWS(_ bytes: UnsafeRawBufferPointer, _ range: ByteRange) -> ByteRange {
        var end = Int(range.end)
        while end > Int(range.start), bytes[end - 1] == .space || bytes[end - 1] == .tab { end -= 1 }
        return ByteRange(Int(range.start), end)
    }
}

/// Eight-bytes-at-a-time byte tests on a little-endian word, returning bit 7 of each flagged byte.
/// `bytesBelow` and `bytesEqual` flag the first match exactly but may flag bytes above it (borrows),
/// so callers only use `trailingZeroBitCount`; `atLeast` and `inRange` are exact for every byte.
enum SWAR {
    static var ones: UInt64 { 0x0101_0101_0101_0101 }
    static var highBits: UInt64 { 0x8080_8080_8080_8080 }

    /// Flags bytes below `limit` (which must be <= 0x80); bytes >= 0x80 are never flagged.
    @inline(__always)
    static func bytesBelow(_ limit: UInt8, _ word: UInt64) -> UInt64 {
        (word &- ones &* UInt64(limit)) & ~word & highBits
    }

    /// Flags bytes whose low seven bits are at least `low` (<= 0x80), exactly per byte (no borrows).
    @inline(__always)
    static func atLeast(_ low: UInt8, _ word: UInt64) -> UInt64 {
        ((word | highBits) &- ones &* UInt64(low)) & highBits
    }

    /// Flags bytes whose low seven bits are in low...high (high < 0x80), exactly per byte.
    @inline(__always)
    static func inRange(_ low: UInt8, _ high: UInt8, _ word: UInt64) -> UInt64 {
        atLeast(low, word) & ~atLeast(high + 1, word)
    }

    /// Flags bytes equal to `value`.
    @inline(__always)
    static func bytesEqual(_ value: UInt8, _ word: UInt64) -> UInt64 {
        bytesBelow(1, word ^ (ones &* UInt64(value)))
    }
}

/// Named ASCII bytes used by the parser.
extension UInt8 {
    static var tab: UInt8 { 0x09 }
    static var lf: UInt8 { 0x0A }
    static var cr: UInt8 { 0x0D }
    static var space: UInt8 { 0x20 }
    static var hash: UInt8 { 0x23 }
    static var percent: UInt8 { 0x25 }
    static var ampersand: UInt8 { 0x26 }
    static var plus: UInt8 { 0x2B }
    static var comma: UInt8 { 0x2C }
    static var slash: UInt8 { 0x2F }
    static var digitZero: UInt8 { 0x30 }
    static var colon: UInt8 { 0x3A }
    static var semicolon: UInt8 { 0x3B }
    static var equals: UInt8 { 0x3D }
    static var question: UInt8 { 0x3F }
    static var del: UInt8 { 0x7F }
}
