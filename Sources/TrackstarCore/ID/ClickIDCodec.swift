// Seals, encodes, decodes and verifies click IDs with the node's keys. An ID is a synthetic-IV
// construction over the click's 78 bits of place and time: the MAC tag is the IV, and a keyed pad
// derived from it hides the fields, so IDs look uniformly random and reveal nothing without the key.

/// What decoding a presented click ID found.
public enum ClickIDDecoding: Sendable, Equatable {
    case valid(ClickID)
    /// Wrong length or a character outside Crockford base32.
    case malformed
    /// Well formed, but the tag does not verify under either key.
    case forged
}

/// Signs, encodes, decodes and verifies click IDs with the node's keys.
///
/// The text is 26 base32 digits, 130 bits, most significant first: `tag:51 | keyBit:1 | sealed:78`.
/// - `tag` = SipHash-2-4(key, fields with a format constant) >> 13: the MAC, and the IV.
/// - `sealed` = fields XOR the first 78 bits of SipHash-2-4-128(key, tag, pad constant).
/// - `keyBit` = keyID XOR the tag's parity, so the bit is as random as the tag (the parity of 51 bits
///   spread over 11 digits: no digit's own bits decide it, so every digit stays uniform) and still
///   tells the decoder which key to try without a hash.
/// Decoding: key from `keyBit`, pad from `tag`, fields = sealed XOR pad, then the MAC must equal
/// `tag`. Any change to any digit changes the fields or the tag, and the MAC refuses it.
/// IDs of the earlier, readable format (version 0, ClickIDCodec+Legacy.swift) still verify while
/// `acceptsLegacy` is set (a data dir created before opaque IDs).
public struct ClickIDCodec: Sendable {
    /// The key new IDs are signed with, and its id bit.
    public var currentKey: SipHashKey
    public var currentKeyID: UInt8
    /// The key before the last rotation, still accepted until the longest attribution window passes.
    public var previousKey: SipHashKey?
    /// Whether version-0 IDs (readable fields, minted before opaque IDs) are still accepted.
    public var acceptsLegacy: Bool

    public init(currentKey: SipHashKey, currentKeyID: UInt8 = 0, previousKey: SipHashKey? = nil, acceptsLegacy: Bool = false) {
        self.currentKey = currentKey; self.currentKeyID = currentKeyID & 1; self.previousKey = previousKey
        self.acceptsLegacy = acceptsLegacy
    }

    static let alphabet: StaticString = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    /// Set in the MAC's first word (above the 14 field bits it carries) so that no MAC input equals a
    /// pad input (whose first word is a 51-bit tag) or a version-0 payload of an ordinary node.
    @usableFromInline static let macDomain: UInt64 = 0x7631 << 48
    /// The pad's second word.
    @usableFromInline static let padDomain: UInt64 = 0x7061_6420_7631_0000

    /// The 51-bit tag of the fields under `key`.
    @inlinable @inline(__always)
    static func sealTag(_ fields: (high: UInt64, low: UInt64), key: SipHashKey) -> UInt64 {
        sipHash24(key: key, fields.high | macDomain, fields.low) >> 13
    }

    /// The 78-bit pad for `tag`: 14 bits for the fields' high word, 64 for the low.
    @inlinable @inline(__always)
    static func pad(_ tag: UInt64, key: SipHashKey) -> (high: UInt64, low: UInt64) {
        let (first, second) = sipHash24Wide(key: key, tag, padDomain)
        return (second & 0x3fff, first)
    }

    @inlinable @inline(__always)
    static func parity(_ tag: UInt64) -> UInt64 { UInt64(tag.nonzeroBitCount & 1) }

    /// Writes the 26-character text form of `id` (its `keyID` is replaced by the current key's) to `out`.
    public func encode(_ id: ClickID, into out: UnsafeMutableRawPointer) {
        let fields = id.fieldBits
        let tag = ClickIDCodec.sealTag(fields, key: currentKey)
        let pad = ClickIDCodec.pad(tag, key: currentKey)
        let keyBit = UInt64(currentKeyID) ^ ClickIDCodec.parity(tag)
        // The 130 bits as `top` (bits 128–129), `high` (64–127) and `low` (0–63).
        let top = tag >> 49
        let high = (tag & ((1 << 49) - 1)) << 15 | keyBit << 14 | (fields.high ^ pad.high)
        let low = fields.low ^ pad.low
        ClickIDCodec.writeDigits(top: top, high: high, low: low, into: out)
    }

    /// Decodes and verifies a presented ID (case-insensitive; Crockford's I, L → 1 and O → 0).
    public func decode(_ text: UnsafeRawBufferPointer) -> ClickIDDecoding {
        guard text.count == ClickID.textLength, let bits = ClickIDCodec.parseBase32Wide(text) else {
            return .malformed
        }
        let tag = bits.top << 49 | bits.high >> 15
        let keyID = UInt8(truncatingIfNeeded: (bits.high >> 14 & 1) ^ ClickIDCodec.parity(tag))
        if let key = keyID == currentKeyID ? currentKey : previousKey {
            let pad = ClickIDCodec.pad(tag, key: key)
            let fields = ((bits.high ^ pad.high) & 0x3fff, bits.low ^ pad.low)
            if ClickIDCodec.sealTag(fields, key: key) == tag {
                return .valid(ClickID(fieldHigh: fields.0, fieldLow: fields.1, keyID: keyID))
            }
        }
        guard acceptsLegacy, bits.top == 0 else { return .forged }
        return decodeLegacy(UInt128(bits.high) << 64 | UInt128(bits.low))
    }

    /// The two base32 digits of every 10-bit value, two bytes each, first digit first (`writeDigits`).
    nonisolated(unsafe) static let digitPairs = ByteWriter.digitPairs(alphabet)

    /// Writes 26 digits, two at a time; digits 2j and 2j+1 are bits 120-10j ..< 130-10j of the 130-bit
    /// value. Shifting the 64-bit words by constants, rather than a UInt128 by a variable, took encoding
    /// from ~370 to ~110 instructions in callgrind; a pair a step from `digitPairs` halves the steps.
    @inline(__always)
    static func writeDigits(top: UInt64, high: UInt64, low: UInt64, into out: UnsafeMutableRawPointer) {
        let pairs = digitPairs
        @inline(__always) func put(_ j: Int, _ bits: UInt64) {
            out.storeBytes(of: pairs.load(fromByteOffset: Int(bits & 1023) &* 2, as: UInt16.self), toByteOffset: 2 * j, as: UInt16.self)
        }
        put(0, top << 8 | high >> 56)                            // digits 0–1: bits 120–129
        for j in 1..<6 { put(j, high >> UInt64(56 - 10 * j)) }   // digits 2–11: bits 70–119
        put(6, (high & 0x3f) << 4 | low >> 60)                   // digits 12–13: bits 60–69
        for j in 7..<13 { put(j, low >> UInt64(120 - 10 * j)) }  // digits 14–25: bits 0–59
    }

    /// 26 base32 digits → 130 bits as `top` (the two highest), `high` and `low`; nil on any bad
    /// character. Digits come from `crockfordValues` and are gathered in three 64-bit words (12, 12
    /// and 2 digits), so the loop has no branches and no 128-bit shifts by a variable.
    static func parseBase32Wide(_ text: UnsafeRawBufferPointer) -> (top: UInt64, high: UInt64, low: UInt64)? {
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
        guard invalid < 32 else { return nil }
        // value = first << 70 | second << 10 | last (first: 60 bits, second: 60, last: 10).
        return (first >> 58, first << 6 | second >> 54, second << 10 | last)
    }

    /// The low 128 bits of `parseBase32Wide`, or nil when the top two bits are set (never so in a
    /// version-0 ID).
    static func parseBase32(_ text: UnsafeRawBufferPointer) -> UInt128? {
        guard let bits = parseBase32Wide(text), bits.top == 0 else { return nil }
        return UInt128(bits.high) << 64 | UInt128(bits.low)
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
