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
