// Case-insensitive (ASCII) search for a set of substrings in a user agent: the patterns lower-cased
// into one byte array, grouped by first byte, so one pass tests one table entry per agent byte and
// compares only the patterns that start with it. Answers "any?" (bot rules) or "which?" (device kinds).

/// Which of up to 128 patterns occurred, by the pattern's index in the list given to init.
struct TokenSet: Equatable {
    var low: UInt64 = 0, high: UInt64 = 0

    /// The set of the given pattern indices.
    init(_ indices: some Sequence<Int> = []) { for index in indices { insert(index) } }

    @inline(__always) mutating func insert(_ index: Int) {
        if index < 64 { low |= 1 << UInt64(index) } else { high |= 1 << UInt64(index - 64) }
    }
    @inline(__always) func contains(_ index: Int) -> Bool {
        index < 64 ? low & (1 << UInt64(index)) != 0 : high & (1 << UInt64(index - 64)) != 0
    }
    @inline(__always) func intersects(_ other: TokenSet) -> Bool { low & other.low != 0 || high & other.high != 0 }
}

/// A compiled set of substrings; immutable.
struct AgentSubstrings: Sendable {
    private let bytes: [UInt8]          // every pattern, lower-cased, back to back
    private let patterns: [(start: Int32, count: Int32, index: Int32)]   // sorted by first byte
    private let firstByte: [UInt16]     // 257 entries: patterns[firstByte[b]..<firstByte[b + 1]] start with b
    /// Patterns in the set.
    let count: Int

    /// Compiles `substrings` (none may be empty; at most 128 for `occurring(in:)`).
    init(_ substrings: [String]) {
        let lowered = substrings.enumerated().map { (index: $0.offset, bytes: Array($0.element.utf8).map(Self.lower)) }
            .sorted { ($0.bytes[0], $0.index) < ($1.bytes[0], $1.index) }
        var bytes: [UInt8] = [], patterns: [(start: Int32, count: Int32, index: Int32)] = []
        for pattern in lowered {
            patterns.append((Int32(bytes.count), Int32(pattern.bytes.count), Int32(pattern.index)))
            bytes += pattern.bytes
        }
        var firstByte = [UInt16](repeating: 0, count: 257)
        var next = 0
        for value in 0...256 {
            while next < lowered.count, Int(lowered[next].bytes[0]) < value { next += 1 }
            firstByte[value] = UInt16(next)
        }
        self.bytes = bytes; self.patterns = patterns; self.firstByte = firstByte
        count = substrings.count
    }

    /// ASCII lower case.
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 { byte &- 0x41 < 26 ? byte | 0x20 : byte }

    /// Whether any pattern occurs in `text`, ignoring ASCII case.
    func found(in text: UnsafeRawBufferPointer) -> Bool {
        guard count > 0 else { return false }
        var any = false
        scan(text) { _ in any = true; return false }
        return any
    }

    /// Which patterns occur in `text`, ignoring ASCII case (patterns past the 128th are not reported).
    func occurring(in text: UnsafeRawBufferPointer) -> TokenSet {
        var seen = TokenSet()
        scan(text) { index in seen.insert(index); return true }
        return seen
    }

    /// Calls `found` with the index of each occurrence until it returns false.
    @inline(__always)
    private func scan(_ text: UnsafeRawBufferPointer, _ found: (Int) -> Bool) {
        bytes.withUnsafeBufferPointer { bytes in
            patterns.withUnsafeBufferPointer { patterns in
                firstByte.withUnsafeBufferPointer { firstByte in
                    for position in 0..<text.count {
                        let byte = Int(Self.lower(text[position]))
                        var candidate = Int(firstByte[byte])
                        let end = Int(firstByte[byte + 1])
                        while candidate < end {
                            let pattern = patterns[candidate]
                            if Self.matches(bytes, start: Int(pattern.start), count: Int(pattern.count), text, at: position),
                               !found(Int(pattern.index)) { return }
                            candidate += 1
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, start: Int, count: Int,
                                _ text: UnsafeRawBufferPointer, at position: Int) -> Bool {
        guard position + count <= text.count else { return false }
        var offset = 1
        while offset < count {
            if lower(text[position + offset]) != bytes[start + offset] { return false }
            offset += 1
        }
        return true
    }
}
