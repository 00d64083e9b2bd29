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

        @inlinable
        init(name: ByteRange, value: ByteRange, nameEncoded: Bool, valueEncoded: Bool) {
            self.name = name; self.value = value; self.nameEncoded = nameEncoded; self.valueEncoded = valueEncoded
        }
    }

    // Inlinable (with its state) so the server's parameter loop keeps the scan in registers across
    // pairs: callgrind showed ~250 instructions a request of call and state traffic otherwise.
    @usableFromInline let base: UnsafeRawPointer?
    /// Bytes readable from `base` (the whole buffer, so words may be read past `end` and masked).
    @usableFromInline let limit: Int
    /// Start of the next pair.
    @usableFromInline var position: Int
    @usableFromInline let end: Int
    /// Offset of the word being visited, and its flagged bytes not yet visited (bit 7 of each).
    @usableFromInline var word: Int
    @usableFromInline var pending: UInt64

    /// Scans the pairs inside `range` of `buffer`.
    @inlinable
    public init(_ buffer: UnsafeRawBufferPointer, range: ByteRange) {
        base = buffer.baseAddress
        limit = buffer.count
        position = Int(range.start)
        end = Int(range.end)
        word = position
        pending = 0
        if position < end { pending = specials(at: position) }
    }

    /// The next non-empty pair, or nil at the end. Each word of the range is classified once, and
    /// its flagged bytes visited lowest first, across pairs.
    @inlinable
    public mutating func next() -> Pair? {
        while position < end {
            let pairStart = position
            var pairEnd = end
            var separator = -1
            var nameEncoded = false, valueEncoded = false
            scan: while true {
                while pending == 0 {
                    word += 8
                    guard word < end else { break scan }
                    pending = specials(at: word)
                }
                let i = word + pending.trailingZeroBitCount >> 3
                pending &= pending &- 1
                let b = base.unsafelyUnwrapped.load(fromByteOffset: i, as: UInt8.self)
                if b == 0x26 { pairEnd = i; break scan }  // '&'
                if b == 0x3D {  // '='
                    if separator < 0 { separator = i }
                } else if separator < 0 {
                    nameEncoded = true
                } else {
                    valueEncoded = true
                }
            }
            position = pairEnd + 1  // skip '&' (or step past `end`, which is harmless)
            if pairEnd == pairStart { continue }
            if separator < 0 {
                return Pair(name: ByteRange(pairStart, pairEnd), value: ByteRange(pairEnd, pairEnd),
                            nameEncoded: nameEncoded, valueEncoded: false)
            }
            return Pair(name: ByteRange(pairStart, separator), value: ByteRange(separator + 1, pairEnd),
                        nameEncoded: nameEncoded, valueEncoded: valueEncoded)
        }
        return nil
    }

    /// Bit 7 set for each '&', '=', '%' or '+' among the eight bytes at `start` that lie before `end`.
    @inlinable @inline(__always)
    func specials(at start: Int) -> UInt64 {
        guard start + 8 <= limit else { return specialsBytewise(at: start) }
        let word = UInt64(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: start, as: UInt64.self))
        let flags = QueryScanner.specialBytes(word)
        // Bytes past `end` (the rest of the request line, say) do not count.
        return end - start >= 8 ? flags : flags & ((1 &<< (UInt64(end - start) &* 8)) &- 1)
    }

    /// `specials` for the last bytes of the buffer, where a whole word cannot be read.
    @usableFromInline
    func specialsBytewise(at start: Int) -> UInt64 {
        var flags: UInt64 = 0
        var i = start
        while i < end && i < start + 8 {
            let b = base.unsafelyUnwrapped.load(fromByteOffset: i, as: UInt8.self)
            if b == .ampersand || b == .equals || b == .percent || b == .plus { flags |= 0x80 &<< (UInt64(i - start) &* 8) }
            i += 1
        }
        return flags
    }

    /// Bit 7 set in exactly the bytes of `word` that are '&', '=', '%' or '+'. A byte is zero after
    /// XOR with a target iff bit 7 of `(x & 0x7F) + 0x7F | x` is clear; this form never carries into
    /// the next byte, so every flag is exact.
    @inlinable @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let low = ones &* 0x7F
        @inline(__always) func nonzero(_ target: UInt64) -> UInt64 {
            let x = word ^ (ones &* target)
            return ((x & low) &+ low) | x
        }
        // '&', '=', '%', '+'
        return ~(nonzero(0x26) & nonzero(0x3D) & nonzero(0x25) & nonzero(0x2B)) & (ones &* 0x80)
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

    /// Decodes like `decode`, but stops when `output` is full instead of failing: the byte count
    /// written and whether the whole input fit; nil for a malformed escape in the part decoded.
    public static func decodePrefix(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
        -> (count: Int, complete: Bool)? {
        var reader = DecodingReader(input)
        var written = 0
        while let b = reader.next() {
            guard b >= 0 else { return nil }
            guard written < output.count else { return (written, false) }
            output[written] = UInt8(truncatingIfNeeded: b)
            written += 1
        }
        return (written, true)
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
