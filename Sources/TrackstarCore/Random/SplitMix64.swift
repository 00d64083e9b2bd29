// SplitMix64 (Steele, Lea and Flood 2014): a deterministic 64-bit stream from one word of state,
// for figure programs, tests and load mixes that must build the same data on every run. Not for
// anything secret (click IDs use SipHash with the node's key).

/// A deterministic generator: the same `state` gives the same stream.
public struct SplitMix64: Sendable {
    /// The state; each `next()` advances it by the golden-ratio increment.
    public var state: UInt64

    /// A stream that starts from `state`.
    public init(state: UInt64) { self.state = state }

    /// The next value of the stream.
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<n` (`n` > 0; the modulo's bias is below 2⁻³² for the small `n` it serves).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
