// Order ids (txid) as advertisers send them: copied from spreadsheets and templates, they arrive with
// trailing spaces, tabs, line ends, BOMs and zero-width characters. An order id is trimmed of those
// at both ends before it becomes an idempotency key or is stored; its inside is kept as it came.

/// Trimming of order ids; pure, allocation-free (works on a view of the decoded value).
public enum OrderID {
    /// `bytes` without leading and trailing white space and invisible characters: ASCII space, tab,
    /// CR, LF, VT, FF, and in UTF-8 U+0085, U+00A0 (NBSP), U+1680, U+180E, U+2000–U+200F (spaces,
    /// ZWSP, ZWNJ, ZWJ, LRM, RLM), U+2028, U+2029, U+202F, U+205F, U+2060 (word joiner), U+3000 and
    /// U+FEFF (BOM). Case is kept: order ids are compared byte for byte.
    public static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        // Fast path, the common case: every trimmed character begins with a byte of at most 0x20 or
        // at least 0x80 and ends with one (a UTF-8 continuation byte is at least 0x80), so an id that
        // starts and ends with visible ASCII has nothing to trim. callgrind: ~180 instructions a
        // postback for the general loop, 2 compares for this.
        if let first = bytes.first, let last = bytes.last, first &- 0x21 < 0x5E, last &- 0x21 < 0x5E { return bytes }
        return trimmedSlowly(bytes)
    }

    /// `trimmed` without its fast path: the reference its tests compare against.
    static func trimmedSlowly(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0, end = bytes.count
        while start < end {
            let n = invisibleLength(bytes, at: start, end: end)
            if n == 0 { break }
            start += n
        }
        while end > start {
            let n = invisibleLengthBefore(bytes, end: end, start: start)
            if n == 0 { break }
            end -= n
        }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// The length of the invisible character starting at `at` (0 if there is none).
    static func invisibleLength(_ bytes: UnsafeRawBufferPointer, at: Int, end: Int) -> Int {
        for n in 1...3 where at + n <= end && isInvisible(bytes, from: at, count: n) { return n }
        return 0
    }

    /// The length of the invisible character ending just before `end` (0 if there is none).
    static func invisibleLengthBefore(_ bytes: UnsafeRawBufferPointer, end: Int, start: Int) -> Int {
        for n in 1...3 where end - n >= start && isInvisible(bytes, from: end - n, count: n) { return n }
        return 0
    }

    /// Whether the `count` bytes at `from` encode exactly one character of the trimmed set.
    static func isInvisible(_ bytes: UnsafeRawBufferPointer, from: Int, count: Int) -> Bool {
        let b0 = bytes[from]
        switch count {
        case 1:
            return b0 == 0x20 || (b0 >= 0x09 && b0 <= 0x0d)
        case 2:
            let b1 = bytes[from + 1]
            return b0 == 0xc2 && (b1 == 0x85 || b1 == 0xa0)
        default:
            let b1 = bytes[from + 1], b2 = bytes[from + 2]
            switch (b0, b1) {
            case (0xe1, 0x9a): return b2 == 0x80                                  // U+1680
            case (0xe1, 0xa0): return b2 == 0x8e                                  // U+180E
            case (0xe2, 0x80): return b2 <= 0x8f || b2 == 0xa8 || b2 == 0xa9 || b2 == 0xaf  // U+2000–200F, 2028, 2029, 202F
            case (0xe2, 0x81): return b2 == 0x9f || b2 == 0xa0                    // U+205F, U+2060
            case (0xe3, 0x80): return b2 == 0x80                                  // U+3000
            case (0xef, 0xbb): return b2 == 0xbf                                  // U+FEFF
            default: return false
            }
        }
    }
}
