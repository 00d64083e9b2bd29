// Click IDs: 128 bits that say where the click lives (node, shard, sequence, mint minute) and carry a
// 49-bit SipHash tag, written as 26 Crockford base32 characters. Decoding checks the tag before any
// table is touched, so a forged or mangled ID costs one hash.

/// The decoded fields of a click ID. Layout, most significant bit first (128 bits):
/// `node:8 | shard:6 | sequence:40 | mintMinute:24 | keyID:1 | tag:49`.
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

    /// The 79 bits that the tag covers, as the top bits of a 128-bit word.
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

/// What decoding a presented click ID found.
public enum ClickIDDecoding: Sendable, Equatable {
    case valid(ClickID)
    /// Wrong length or a character outside Crockford base32.
    case malformed
    /// Well formed, but the tag does not verify under either key.
    case forged
}

/// Signs, encodes, decodes and verifies click IDs with the node's keys.
public struct ClickIDCodec: Sendable {
    /// The key new IDs are signed with, and its id bit.
    public var currentKey: SipHashKey
    public var currentKeyID: UInt8
    /// The key before the last rotation, still accepted until the longest attribution window passes.
    public var previousKey: SipHashKey?

    public init(currentKey: SipHashKey, currentKeyID: UInt8 = 0, previousKey: SipHashKey? = nil) {
        self.currentKey = currentKey; self.currentKeyID = currentKeyID & 1; self.previousKey = previousKey
    }

    static let alphabet: StaticString = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    /// The 49-bit tag of a payload under `key`.
    @inlinable @inline(__always)
    static func tag(_ payload: UInt128, key: SipHashKey) -> UInt64 {
        let h = sipHash24(key: key, UInt64(truncatingIfNeeded: payload >> 64), UInt64(truncatingIfNeeded: payload))
        return h >> 15
    }

    /// Writes the 26-character text form of `id` (its `keyID` is replaced by the current key's) to `out`.
    public func encode(_ id: ClickID, into out: UnsafeMutableRawPointer) {
        var signed = id
        signed.keyID = currentKeyID
        let payload = signed.payloadBits
        let value = payload | UInt128(ClickIDCodec.tag(payload, key: currentKey))
        // Digit i is bits 125-5i ..< 130-5i of the 128-bit value (the top two of the 130 are zero).
        // Shifting the two 64-bit halves by constants, rather than the UInt128 by a variable, took
        // encoding from ~370 to ~110 instructions in callgrind.
        let high = UInt64(truncatingIfNeeded: value >> 64), low = UInt64(truncatingIfNeeded: value)
        let table = UnsafeRawPointer(ClickIDCodec.alphabet.utf8Start)
        @inline(__always) func put(_ i: Int, _ digit: UInt64) {
            out.storeBytes(of: table.load(fromByteOffset: Int(digit & 31), as: UInt8.self), toByteOffset: i, as: UInt8.self)
        }
        for i in 0..<13 { put(i, high >> UInt64(61 - 5 * i)) }  // digits 0–12: bits 65 and up
        put(13, (high & 1) << 4 | low >> 60)                    // digit 13: bits 60–64
        for i in 14..<26 { put(i, low >> UInt64(125 - 5 * i)) }  // digits 14–25: bits 0–59
    }

    /// Decodes and verifies a presented ID (case-insensitive; Crockford's I, L → 1 and O → 0).
    public func decode(_ text: UnsafeRawBufferPointer) -> ClickIDDecoding {
        guard text.count == ClickID.textLength, let value = ClickIDCodec.parseBase32(text) else {
            return .malformed
        }
        let tag = UInt64(truncatingIfNeeded: value) & ((1 << 49) - 1)
        let payload = value & ~((UInt128(1) << 49) - 1)
        let keyID = UInt8(truncatingIfNeeded: (value >> 49) & 1)
        let key = keyID == currentKeyID ? currentKey : previousKey
        guard let key, ClickIDCodec.tag(payload, key: key) == tag else { return .forged }
        return .valid(ClickID(
            node: UInt8(truncatingIfNeeded: value >> 120),
            shard: UInt8(truncatingIfNeeded: (value >> 114) & 0x3f),
            sequence: UInt64(truncatingIfNeeded: (value >> 74)) & ClickID.maxSequence,
            mintMinute: UInt32(truncatingIfNeeded: (value >> 50) & 0xff_ffff),
            keyID: keyID))
    }

    /// 26 base32 digits → 130 bits, of which the top two must be zero; nil on any bad character.
    /// Digits come from `crockfordValues` and are gathered in three 64-bit words (12, 12 and 2
    /// digits), so the loop has no branches and no 128-bit shifts by a variable.
    static func parseBase32(_ text: UnsafeRawBufferPointer) -> UInt128? {
        let base = text.baseAddress!
        let table = UnsafeRawPointer(crockfordValues.utf8Start)
        var invalid: UInt8 = 0
        @inline(__always) func digit(_ i: Int) -> UInt64 {
            let byte = base.load(fromByteOffset: i, as: UInt8.self)
            // Bytes >= 0x80 keep their top bit, and entries for non-digits are 0x7F: both >= 32.
            let d = table.load(fromByteOffset: Int(byte & 0x7F), as: UInt8.self) | (byte & 0x80)
            invalid |= d
            return UInt64(d)
        }
        var first: UInt64 = 0, second: UInt64 = 0
        for i in 0..<12 { first = first << 5 | digit(i) }
        for i in 12..<24 { second = second << 5 | digit(i) }
        let last = digit(24) << 5 | digit(25)
        guard invalid < 32, first >> 55 < 8 else { return nil }
        return UInt128(first) << 70 | UInt128(second) << 10 | UInt128(last)
    }

    /// `crockfordDigit` for bytes 0–127 as a table (0x7F for bytes that are not digits); a test
    /// checks it against `crockfordDigit`.
    static var crockfordValues: StaticString {
        """
            \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
            \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
            \u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
            \u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\u{9}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
            \u{7F}\u{A}\u{B}\u{C}\u{D}\u{E}\u{F}\u{10}\u{11}\u{1}\u{12}\u{13}\u{1}\u{14}\u{15}\u{0}\
            \u{16}\u{17}\u{18}\u{19}\u{1A}\u{7F}\u{1B}\u{1C}\u{1D}\u{1E}\u{1F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}\
            \u{7F}\u{A}\u{B}\u{C}\u{D}\u{E}\u{F}\u{10}\u{11}\u{1}\u{12}\u{13}\u{1}\u{14}\u{15}\u{0}\
            \u{16}\u{17}\u{18}\u{19}\u{1A}\u{7F}\u{1B}\u{1C}\u{1D}\u{1E}\u{1F}\u{7F}\u{7F}\u{7F}\u{7F}\u{7F}
            """
    }

    /// The value of one Crockford base32 character, or 255 if it is not one.
    @inline(__always)
    static func crockfordDigit(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "0"), UInt8(ascii: "o"), UInt8(ascii: "O"): return 0
        case UInt8(ascii: "1"), UInt8(ascii: "i"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L"): return 1
        case UInt8(ascii: "2")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        default: break
        }
        let upper = byte & ~0x20  // ASCII letters to upper case; other bytes fall through to 255
        switch upper {
        case UInt8(ascii: "A")...UInt8(ascii: "H"): return upper - UInt8(ascii: "A") + 10
        case UInt8(ascii: "J"), UInt8(ascii: "K"): return upper - UInt8(ascii: "J") + 18
        case UInt8(ascii: "M"), UInt8(ascii: "N"): return upper - UInt8(ascii: "M") + 20
        case UInt8(ascii: "P")...UInt8(ascii: "T"): return upper - UInt8(ascii: "P") + 22
        case UInt8(ascii: "V")...UInt8(ascii: "Z"): return upper - UInt8(ascii: "V") + 27
        default: return 255
        }
    }
}
