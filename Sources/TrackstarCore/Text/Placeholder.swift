// Unfilled templates: a value that is still the sender's macro (`{transaction_id}`, `[SUB1]`, `%ORDER%`,
// `#price#`, `REPLACE`) was never filled in, and must count as absent, never as data or as a key.
// Pure byte checks with no allocation, for the postback path.

/// Recognises literal placeholders in parameter values.
public enum Placeholder {
    /// True when `value` is a template left unfilled: a `{` followed later by `}` anywhere (as in
    /// `ord-{id}`), or the whole value wrapped as `[x]`, `%x%`, `#x#` or `<x>` with a letter inside,
    /// or `words` holds it (ASCII case ignored). `${x}` and `{{x}}` are covered by the first rule.
    @inlinable  // on the postback path (order ids): inlined, the length test rejects most values at once
    public static func isUnfilled(_ value: UnsafeRawBufferPointer, words: PlaceholderWords) -> Bool {
        let n = value.count
        guard n >= 2, let p = value.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        if let open = memchr(p, Int32(UInt8(ascii: "{")), n) {
            let at = UnsafeRawPointer(open) - UnsafeRawPointer(p)
            if memchr(p + at + 1, Int32(UInt8(ascii: "}")), n - at - 1) != nil { return true }
        }
        let first = p[0], last = p[n - 1]
        let wrapped = (first == UInt8(ascii: "[") && last == UInt8(ascii: "]")) || (first == UInt8(ascii: "%") && last == UInt8(ascii: "%"))
            || (first == UInt8(ascii: "#") && last == UInt8(ascii: "#")) || (first == UInt8(ascii: "<") && last == UInt8(ascii: ">"))
        if wrapped && n >= 3 {
            for i in 1..<(n - 1) where (p[i] | 0x20) >= UInt8(ascii: "a") && (p[i] | 0x20) <= UInt8(ascii: "z") { return true }
        }
        return words.contains(value)
    }
}

/// A profile's placeholder words, compared without regard to ASCII case; a 64-bit signature mask
/// rejects most values with one test.
public struct PlaceholderWords: Sendable {
    @usableFromInline let words: [[UInt8]]
    @usableFromInline let lengths: UInt64

    public init(_ words: [String]) {
        self.words = words.map { Array($0.utf8) }
        lengths = self.words.reduce(0) { $0 | ($1.isEmpty ? 0 : 1 << PlaceholderWords.signature($1.count, $1[0])) }
    }

    /// One of 64 bits for a word's length and folded first byte: a value whose bit no word has is none
    /// of them, found with one test and no look at the words (most order ids).
    @inlinable
    static func signature(_ length: Int, _ first: UInt8) -> UInt64 { (UInt64(truncatingIfNeeded: length) &* 31 &+ UInt64(first | 0x20)) & 63 }

    /// True when `value` is one of the words.
    @inlinable
    public func contains(_ value: UnsafeRawBufferPointer) -> Bool {
        guard !value.isEmpty, lengths & (1 << PlaceholderWords.signature(value.count, value[0])) != 0 else { return false }
        for word in words where ASCIIFold.equal(word, value) { return true }
        return false
    }
}

/// Comparisons that ignore ASCII case.
public enum ASCIIFold {
    /// Byte equality with ASCII letters compared without case.
    @inlinable
    public static func equal(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            let x = a[i], y = b[i]
            if x == y { continue }
            guard x | 0x20 == y | 0x20, (x | 0x20) >= UInt8(ascii: "a"), (x | 0x20) <= UInt8(ascii: "z") else { return false }
        }
        return true
    }
}

#if canImport(Glibc)
import Glibc
#endif
