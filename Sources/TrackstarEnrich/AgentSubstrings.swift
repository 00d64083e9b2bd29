// Case-insensitive (ASCII) search for any of a few configured substrings in a user agent: the patterns
// lower-cased into one byte array, grouped by first byte, so a scan tests one table entry per agent
// byte and compares only the patterns that start with it.

/// A compiled set of substrings; immutable.
struct AgentSubstrings: Sendable {
    private let bytes: [UInt8]          // every pattern, lower-cased, back to back
    private let patterns: [(start: Int32, count: Int32)]   // sorted by first byte
    private let firstByte: [UInt16]     // 257 entries: patterns[firstByte[b]..<firstByte[b + 1]] start with b

    /// Compiles `substrings` (none may be empty).
    init(_ substrings: [String]) {
        let lowered = substrings.map { Array($0.utf8).map(Self.lower) }.sorted { $0[0] < $1[0] }
        var bytes: [UInt8] = [], patterns: [(start: Int32, count: Int32)] = []
        for pattern in lowered {
            patterns.append((Int32(bytes.count), Int32(pattern.count)))
            bytes += pattern
        }
        var firstByte = [UInt16](repeating: 0, count: 257)
        var next = 0
        for value in 0...256 {
            while next < lowered.count, Int(lowered[next][0]) < value { next += 1 }
            firstByte[value] = UInt16(next)
        }
        self.bytes = bytes; self.patterns = patterns; self.firstByte = firstByte
    }

    /// ASCII lower case.
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 { byte &- 0x41 < 26 ? byte | 0x20 : byte }

    /// Whether any pattern occurs in `text`, ignoring ASCII case.
    func found(in text: UnsafeRawBufferPointer) -> Bool {
        guard !patterns.isEmpty else { return false }
        return bytes.withUnsafeBufferPointer { bytes in
            patterns.withUnsafeBufferPointer { patterns in
                firstByte.withUnsafeBufferPointer { firstByte in
                    for position in 0..<text.count {
                        let byte = Self.lower(text[position])
                        var index = Int(firstByte[Int(byte)])
                        let end = Int(firstByte[Int(byte) + 1])
                        while index < end {
                            if Self.matches(bytes, patterns[index], text, at: position) { return true }
                            index += 1
                        }
                    }
                    return false
                }
            }
        }
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, _ pattern: (start: Int32, count: Int32),
                                _ text: UnsafeRawBufferPointer, at position: Int) -> Bool {
        let count = Int(pattern.count), start = Int(pattern.start)
        guard position + count <= text.count else { return false }
        for i in 1..<max(count, 1) where lower(text[position + i]) != bytes[start + i] { return false }
        return true
    }
}
