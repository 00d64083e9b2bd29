// Click IDs: where the click lives (node, shard, sequence, mint minute), sealed under the node's key
// and written as 26 Crockford base32 characters that look uniformly random (ClickIDCodec.swift).
// Decoding checks the tag before any table is touched, so a forged or mangled ID costs two hashes.

/// The decoded fields of a click ID: 78 bits of place and time, plus which key sealed it.
public struct ClickID: Sendable, Equatable {
    /// The node that minted the click (cluster routing).
    public var node: UInt8
    /// The shard (event loop) that owns the click record, 0..<64.
    public var shard: UInt8
    /// Position of the click in its shard, 0..<2^40.
    public var sequence: UInt64
    /// Minutes since `ClickID.epochSeconds` at mint time: lets expiry be checked before the lookup.
    public var mintMinute: UInt32
    /// Which of the two keys signed the tag (key rotation).
    public var keyID: UInt8

    /// 2025-01-01T00:00:00Z; 24 bits of minutes reach into 2056.
    public static let epochSeconds: Int64 = 1_735_689_600
    /// Characters in the text form.
    public static let textLength = 26
    public static let maxShards = 64
    public static let maxSequence: UInt64 = (1 << 40) - 1

    public init(node: UInt8, shard: UInt8, sequence: UInt64, mintMinute: UInt32, keyID: UInt8) {
        self.node = node; self.shard = shard; self.sequence = sequence
        self.mintMinute = mintMinute; self.keyID = keyID
    }

    /// The mint minute for a wall-clock time in milliseconds since the Unix epoch.
    @inlinable
    public static func minute(unixMillis: Int64) -> UInt32 {
        let minutes = (unixMillis / 1000 - epochSeconds) / 60
        return UInt32(clamping: max(0, min(minutes, (1 << 24) - 1)))
    }

    /// The 78 bits of place and time that the opaque format seals: `node:8 | shard:6` in the low 14
    /// bits of `high`, `sequence:40 | mintMinute:24` in `low`.
    @inlinable @inline(__always)
    var fieldBits: (high: UInt64, low: UInt64) {
        (UInt64(node) << 6 | UInt64(shard & 0x3f),
         (sequence & ClickID.maxSequence) << 24 | UInt64(mintMinute & 0xff_ffff))
    }

    /// The fields of `fieldBits`.
    @inlinable @inline(__always)
    init(fieldHigh: UInt64, fieldLow: UInt64, keyID: UInt8) {
        self.init(node: UInt8(truncatingIfNeeded: fieldHigh >> 6), shard: UInt8(truncatingIfNeeded: fieldHigh & 0x3f),
                  sequence: fieldLow >> 24, mintMinute: UInt32(truncatingIfNeeded: fieldLow & 0xff_ffff), keyID: keyID)
    }

    /// The legacy (version 0) format's 79 signed bits, as the top bits of a 128-bit word:
    /// `node:8 | shard:6 | sequence:40 | mintMinute:24 | keyID:1`, followed by the 49-bit tag.
    @usableFromInline
    var payloadBits: UInt128 {
        var v = UInt128(node) << 120
        v |= UInt128(shard & 0x3f) << 114
        v |= UInt128(sequence & ClickID.maxSequence) << 74
        v |= UInt128(mintMinute & 0xff_ffff) << 50
        v |= UInt128(keyID & 1) << 49
        return v
    }
}
