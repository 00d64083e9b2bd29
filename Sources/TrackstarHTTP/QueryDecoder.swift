// Allocation-free helpers for application/x-www-form-urlencoded data: iterating `name=value` pairs of a
// query string or form body, percent-decoding into caller-provided storage, and matching encoded names.

/// Iterates `name=value` pairs of a query string or form body, separated by '&' (empty pairs skipped).
/// Ranges are raw (still percent-encoded), relative to the same base as the input range's buffer.
///
/// A pair without '=' yields an empty value; `=x` yields an empty name. Only the first '=' splits,
/// so values may contain '='.
public struct QueryPairs: Sequence, IteratorProtocol {
    private let buffer: UnsafeRawBufferPointer
    private var position: Int
    private let end: Int

    /// Iterates the pairs inside `range` of `buffer` (e.g. `head.query` over the parser's buffer).
    public init(_ buffer: UnsafeRawBufferPointer, range: ByteRange) {
        self.buffer = buffer
        self.position = Int(range.start)
        self.end = Int(range.end)
    }

    /// The next non-empty pair, or nil at the end.
    public mutating func next() -> (name: ByteRange, value: ByteRange)? {
        while position < end {
            let pairStart = position
            var separator = -1
            while position < end, buffer[position] != .ampersand {
                if separator < 0, buffer[position] == .equals { separator = position }
                position += 1
            }
            let pairEnd = position
            position += 1  // skip '&' (or step past `end`, which is harmless)
            if pairEnd == pairStart { continue }
            if separator < 0 { return (ByteRange(pairStart, pairEnd), ByteRange(pairEnd, pairEnd)) }
            return (ByteRange(pairStart, separator), ByteRange(separator + 1, pairEnd))
        }
        return nil
    }
}

/// The pairs of `QueryPairs` in one pass that also tells whether a name or value holds '%' or '+'
/// (needs decoding), so plain ones can be used in place. Scans eight bytes per step for the four
/// bytes that matter ('&', '=', '%', '+'): callgrind showed the byte-wise split plus a separate
/// escape scan per name and value at ~20% of a click's instructions.
public struct QueryScanner {
    /// One `name=value` pair: raw ranges, as `QueryPairs` yields them, and whether each needs decoding.
    public struct Pair {
        public var name: ByteRange
        public var value: ByteRange
        /// True when the name holds '%' or '+'.
        public var nameEncoded: Bool
        /// True when the value holds '%' or '+'.
        public var valueEncoded: Bool
    }

    private let base: UnsafeRawPointer?
    /// Bytes readable from `base` (the whole buffer, so words may be read past `end` and masked).
    private let limit: Int
    private var position: Int
    private let end: Int

    /// Scans the pairs inside `range` of `buffer`.
    public init(_ buffer: UnsafeRawBufferPointer, range: ByteRange) {
        base = buffer.baseAddress
        limit = buffer.count
        position = Int(range.start)
        end = Int(range.end)
    }

    /// The next non-empty pair, or nil at the end.
    @inline(__always)
    public mutating func next() -> Pair? {
        while position < end {
            let pairStart = position
            var separator = -1
            var nameEncoded = false, valueEncoded = false
            var i = nextSpecial(from: pairStart)
            while i < end {
                let b = base.unsafelyUnwrapped.load(fromByteOffset: i, as: UInt8.self)
                if b == .ampersand { break }
                if b == .equals {
                    if separator < 0 { separator = i }
                } else if separator < 0 {
                    nameEncoded = true
                } else {
                    valueEncoded = true
                }
                i = nextSpecial(from: i + 1)
            }
            position = i + 1  // skip '&' (or step past `end`, which is harmless)
            if i == pairStart { continue }
            if separator < 0 {
                return Pair(name: ByteRange(pairStart, i), value: ByteRange(i, i), nameEncoded: nameEncoded, valueEncoded: false)
            }
            return Pair(name: ByteRange(pairStart, separator), value: ByteRange(separator + 1, i),
                        nameEncoded: nameEncoded, valueEncoded: valueEncoded)
        }
        return nil
    }

    /// Offset of the first '&', '=', '%' or '+' in [from, end), or `end`.
    @inline(__always)
    private func nextSpecial(from start: Int) -> Int {
        var i = start
        while i < end {
            guard i + 8 <= limit else { return nextSpecialBytewise(from: i) }
            let word = UInt64(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            var flags = QueryScanner.specialBytes(word)
            if end - i < 8 { flags &= (1 &<< (UInt64(end - i) &* 8)) &- 1 }  // bytes past `end` do not count
            if flags != 0 { return i + flags.trailingZeroBitCount >> 3 }
            i += 8
        }
        return end
    }

    /// `nextSpecial` for the last bytes of the buffer, where a whole word cannot be read.
    private func nextSpecialBytewise(from start: Int) -> Int {
        var i = start
        while i < end {
            let b = base.unsafelyUnwrapped.load(fromByteOffset: i, as: UInt8.self)
            if b == .ampersand || b == .equals || b == .percent || b == .plus { return i }
            i += 1
        }
        return end
    }

    /// Bit 7 set in exactly the bytes of `word` that are '&', '=', '%' or '+'. A byte is zero after
    /// XOR with a target iff bit 7 of `(x & 0x7F) + 0x7F | x` is clear; this form never carries into
    /// the next byte, so every flag is exact.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let low = SWAR.ones &* 0x7F
        @inline(__always) func nonzero(_ target: UInt8) -> UInt64 {
            let x = word ^ (SWAR.ones &* UInt64(target))
            return ((x & low) &+ low) | x
        }
        return ~(nonzero(.ampersand) & nonzero(.equals) & nonzero(.percent) & nonzero(.plus)) & SWAR.highBits
    }
}

/// Percent-decoding (`%XX` and '+' as space) without allocating.
public enum PercentDecoding {
    /// Decodes %XX (either hex case) and '+' as space into `output`; returns the byte count, or nil for a
    /// malformed escape ('%' not followed by two hex digits) or if `output` is too small.
    /// `output` may be the same memory as `input` (decoding never writes ahead of reading).
    public static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        // Fast path: most values (ids, subs) hold no escape and no '+': one scan and one copy
        // (measured with callgrind: decoding was the largest single cost of a click).
        if !input.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            guard input.count <= output.count else { return nil }
            if let base = input.baseAddress, input.count > 0 { output.baseAddress!.copyMemory(from: base, byteCount: input.count) }
            return input.count
        }
        var reader = DecodingReader(input)
        var written = 0
        while let b = reader.next() {
            guard b >= 0, written < output.count else { return nil }
            output[written] = UInt8(truncatingIfNeeded: b)
            written += 1
        }
        return written
    }

    /// True when the raw bytes equal the ASCII `literal` after percent-decoding (for matching parameter
    /// names like "offer_id" without allocating). A malformed escape never matches.
    public static func equals(_ input: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        let chars = literal.utf8Start
        var reader = DecodingReader(input)
        var matched = 0
        while let b = reader.next() {
            guard b >= 0, matched < count, UInt8(truncatingIfNeeded: b) == chars[matched] else { return false }
            matched += 1
        }
        return matched == count
    }
}

/// Yields decoded bytes one at a time: 0–255, -1 for a malformed escape, nil at the end.
struct DecodingReader {
    private let input: UnsafeRawBufferPointer
    private var index = 0

    init(_ input: UnsafeRawBufferPointer) {
        self.input = input
    }

    @inline(__always)
    mutating func next() -> Int? {
        guard index < input.count else { return nil }
        let b = input[index]
        index += 1
        if b == .plus { return Int(UInt8.space) }
        guard b == .percent else { return Int(b) }
        guard index + 2 <= input.count else { return -1 }
        let high = ASCII.hexValue(input[index])
        let low = ASCII.hexValue(input[index + 1])
        guard high != 0xFF, low != 0xFF else { return -1 }
        index += 2
        return Int(high << 4 | low)
    }
}
