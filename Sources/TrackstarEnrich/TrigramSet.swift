// The prefilter's two halves: the set of byte trigrams (ASCII case folded) present in an agent, as a
// 4,096-bit set refilled per classification, and each rule's requirement as a small program over it:
// all of the rule's required trigrams, and for each of its alternations all trigrams of one branch.
// A necessary condition, so nothing it skips could have matched (hash collisions only let more through).

/// The trigrams of one agent; one per scratch, refilled for each agent.
final class TrigramSet {
    static let words = 64   // 4,096 bits
    private let bits = UnsafeMutablePointer<UInt64>.allocate(capacity: words)

    init() { bits.initialize(repeating: 0, count: Self.words) }
    deinit { bits.deallocate() }

    /// The bit a trigram (three case-folded bytes, first in the high byte) maps to.
    @inline(__always)
    static func index(_ trigram: UInt32) -> UInt16 { UInt16(truncatingIfNeeded: (trigram &* 0x9E37_79B1) >> 20) }

    /// Replaces the set with the trigrams of `agent`.
    func fill(_ agent: UnsafeRawBufferPointer) {
        bits.update(repeating: 0, count: Self.words)
        var trigram: UInt32 = 0
        for (position, byte) in agent.enumerated() {
            trigram = (trigram << 8 | UInt32(AgentSubstrings.lower(byte))) & 0xFF_FFFF
            if position >= 2 {
                let bit = Self.index(trigram)
                bits[Int(bit >> 6)] |= 1 << UInt64(bit & 63)
            }
        }
    }

    /// Whether every bit in `required` is set.
    @inline(__always)
    func containsAll(_ required: UnsafeBufferPointer<UInt16>) -> Bool {
        for bit in required where bits[Int(bit >> 6)] & (1 << UInt64(bit & 63)) == 0 { return false }
        return true
    }

    /// Whether the set satisfies `program` (from `program(_:)`): a count of required bits and the bits,
    /// then a count of alternations, each a count of branches, each a count of bits and the bits.
    @inline(__always)
    func passes(_ program: UnsafePointer<UInt16>) -> Bool {
        var position = 1 + Int(program[0])
        if !containsAll(UnsafeBufferPointer(start: program + 1, count: Int(program[0]))) { return false }
        let groups = Int(program[position]); position += 1
        for _ in 0..<groups {
            let branches = Int(program[position]); position += 1
            var passed = false
            for _ in 0..<branches {
                let count = Int(program[position]); position += 1
                if !passed, containsAll(UnsafeBufferPointer(start: program + position, count: count)) { passed = true }
                position += count
            }
            if !passed { return false }
        }
        return true
    }

    /// The program for a requirement from `RegexSyntax.requirement`; `[0, 0]` requires nothing.
    static func program(_ requirement: (all: [[UInt8]], anyOf: [[[[UInt8]]]])) -> [UInt16] {
        let all = bits(of: requirement.all)
        var program = [UInt16(all.count)] + all + [UInt16(requirement.anyOf.count)]
        for group in requirement.anyOf {
            program.append(UInt16(group.count))
            for branch in group {
                let branchBits = bits(of: branch, limit: 8)
                program.append(UInt16(branchBits.count))
                program += branchBits
            }
        }
        return program
    }

    /// The distinct trigram bits of `runs` (at most `limit`), case folded.
    static func bits(of runs: [[UInt8]], limit: Int = 16) -> [UInt16] {
        var result: [UInt16] = []
        for run in runs where run.count >= 3 {
            for start in 0...(run.count - 3) {
                let trigram = UInt32(AgentSubstrings.lower(run[start])) << 16
                    | UInt32(AgentSubstrings.lower(run[start + 1])) << 8 | UInt32(AgentSubstrings.lower(run[start + 2]))
                let bit = index(trigram)
                if !result.contains(bit) { result.append(bit) }
                if result.count == limit { return result }
            }
        }
        return result
    }
}
