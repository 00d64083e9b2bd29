// Click ID codec: round trip, tamper refusal, case-insensitivity, key rotation, opacity (sequential
// IDs look random), the version-0 format still verifying where accepted; and SipHash itself.
import Testing
@testable import TrackstarCore

@Suite struct ClickIDTests {
    let codec = ClickIDCodec(currentKey: SipHashKey(k0: 0x0123_4567_89ab_cdef, k1: 0xfedc_ba98_7654_3210))

    func encode(_ id: ClickID, with codec: ClickIDCodec? = nil) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ClickID.textLength)
        out.withUnsafeMutableBytes { (codec ?? self.codec).encode(id, into: $0.baseAddress!) }
        return out
    }

    func decode(_ text: [UInt8], with codec: ClickIDCodec? = nil) -> ClickIDDecoding {
        text.withUnsafeBytes { (codec ?? self.codec).decode($0) }
    }

    @Test func sipHashMatchesTheReferenceVector() {
        // Key 00..0f, message 00..0f: the reference implementation's 16-byte vector.
        let key = SipHashKey(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908)
        #expect(sipHash24(key: key, 0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908) == 0x3f2a_cc7f_57c2_9bdb)
    }

    @Test func wideSipHashMatchesTheReferenceVector() {
        // vectors_sip128[16] of github.com/veorq/SipHash (key 00..0f, message 00..0f), as two
        // little-endian words.
        let key = SipHashKey(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908)
        let (first, second) = sipHash24Wide(key: key, 0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908)
        #expect(first == 0xbb54_b067_caa4_e26e)
        #expect(second == 0x7705_2385_bf15_33fd)
    }

    /// 100,000 IDs minted in order (sequence 0, 1, 2, … in one shard and minute, as a busy loop mints
    /// them): every one of the 26 positions must use the 32 digits evenly. Chi-square with 31 degrees
    /// of freedom; 80 is beyond the 0.9999 quantile (about 64), and the readable format scores in the
    /// tens of thousands on its leading positions. Deterministic: fixed key, fixed IDs.
    @Test func sequentialIDsLookUniformlyRandomAtEveryPosition() {
        let count = 100_000
        var tallies = [[Int]](repeating: [Int](repeating: 0, count: 32), count: 26)
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
        var digitOf = [Int](repeating: 0, count: 256)
        for (value, byte) in alphabet.enumerated() { digitOf[Int(byte)] = value }
        var text = [UInt8](repeating: 0, count: 26)
        for sequence in 0..<UInt64(count) {
            text.withUnsafeMutableBytes {
                codec.encode(ClickID(node: 0, shard: 3, sequence: sequence, mintMinute: 1_000_000, keyID: 0), into: $0.baseAddress!)
            }
            for position in 0..<26 { tallies[position][digitOf[Int(text[position])]] += 1 }
        }
        let expected = Double(count) / 32
        for position in 0..<26 {
            let chiSquare = tallies[position].reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
            #expect(chiSquare < 80, "position \(position): chi-square \(chiSquare)")
        }
        // The same check fails for the readable format: it is a check that can fail.
        var legacyTally = [Int](repeating: 0, count: 32)
        for sequence in 0..<UInt64(1000) {
            text.withUnsafeMutableBytes {
                codec.encodeLegacy(ClickID(node: 0, shard: 3, sequence: sequence, mintMinute: 1_000_000, keyID: 0), into: $0.baseAddress!)
            }
            legacyTally[digitOf[Int(text[0])]] += 1
        }
        #expect(legacyTally[0] == 1000)
    }

    @Test func versionZeroIDsVerifyOnlyWhereAccepted() {
        let id = ClickID(node: 2, shard: 9, sequence: 777, mintMinute: 4321, keyID: 0)
        var old = [UInt8](repeating: 0, count: 26)
        old.withUnsafeMutableBytes { codec.encodeLegacy(id, into: $0.baseAddress!) }
        var legacy = codec
        legacy.acceptsLegacy = true
        #expect(decode(old, with: legacy) == .valid(id))
        #expect(decode(old) == .forged)
        // Opaque IDs decode the same either way; a damaged old ID is refused under both.
        #expect(decode(encode(id), with: legacy) == .valid(id))
        var damaged = old
        damaged[20] = damaged[20] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(decode(damaged, with: legacy) == .forged)
    }

    /// Two IDs one sequence apart share no visible structure: they differ in most positions.
    @Test func neighbouringIDsDifferAlmostEverywhere() {
        let a = encode(ClickID(node: 0, shard: 0, sequence: 41, mintMinute: 9, keyID: 0))
        let b = encode(ClickID(node: 0, shard: 0, sequence: 42, mintMinute: 9, keyID: 0))
        #expect(zip(a, b).filter { $0 != $1 }.count >= 18)
    }

    @Test(arguments: [
        ClickID(node: 0, shard: 0, sequence: 0, mintMinute: 0, keyID: 0),
        ClickID(node: 255, shard: 63, sequence: ClickID.maxSequence, mintMinute: 0xff_ffff, keyID: 0),
        ClickID(node: 3, shard: 17, sequence: 123_456_789, mintMinute: 1_000_000, keyID: 0),
    ])
    func roundTrips(id: ClickID) {
        let text = encode(id)
        #expect(text.count == 26)
        #expect(text.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8.contains($0) })
        #expect(decode(text) == .valid(id))
        #expect(decode(Array(String(decoding: text, as: UTF8.self).lowercased().utf8)) == .valid(id))
    }

    @Test func everySingleCharacterChangeIsRefused() {
        let text = encode(ClickID(node: 1, shard: 2, sequence: 99, mintMinute: 5000, keyID: 0))
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
        var refused = 0, tried = 0
        for position in 0..<26 {
            for replacement in alphabet where replacement != text[position] {
                var mangled = text
                mangled[position] = replacement
                tried += 1
                if decode(mangled) != .valid(ClickID(node: 1, shard: 2, sequence: 99, mintMinute: 5000, keyID: 0)) { refused += 1 }
                #expect(decode(mangled) == .forged || decode(mangled) == .malformed)
            }
        }
        #expect(refused == tried)
    }

    @Test func malformedInputs() {
        let good = encode(ClickID(node: 0, shard: 0, sequence: 1, mintMinute: 1, keyID: 0))
        #expect(decode(Array(good.dropLast())) == .malformed)
        #expect(decode(good + [UInt8(ascii: "0")]) == .malformed)
        var bad = good; bad[3] = UInt8(ascii: "U")
        #expect(decode(bad) == .malformed)
        bad = good; bad[0] = bad[0] == UInt8(ascii: "Z") ? UInt8(ascii: "Y") : UInt8(ascii: "Z")
        #expect(decode(bad) == .forged)  // all 130 bits carry the ID: a wrong digit is a forgery
        #expect(decode([]) == .malformed)
    }

    @Test func crockfordAliasesDecode() {
        let id = ClickID(node: 0, shard: 1, sequence: 1, mintMinute: 1, keyID: 0)
        let text = String(decoding: encode(id), as: UTF8.self)
        let aliased = text.replacingAll("0", with: "o").replacingAll("1", with: "l")
        #expect(decode(Array(aliased.utf8)) == .valid(id))
    }

    @Test func anotherKeyRefusesAndRotationKeepsOldIDsValid() {
        let id = ClickID(node: 0, shard: 4, sequence: 42, mintMinute: 77, keyID: 0)
        let old = encode(id)
        let newKey = SipHashKey(k0: 1, k1: 2)
        let stranger = ClickIDCodec(currentKey: newKey)
        #expect(decode(old, with: stranger) == .forged)
        let rotated = ClickIDCodec(currentKey: newKey, currentKeyID: 1, previousKey: codec.currentKey)
        #expect(decode(old, with: rotated) == .valid(id))
        var fresh = id; fresh.keyID = 1
        #expect(decode(encode(id, with: rotated), with: rotated) == .valid(fresh))
        #expect(decode(encode(id, with: rotated), with: codec) == .forged)
    }

    @Test func minuteClampsToTheEpochRange() {
        #expect(ClickID.minute(unixMillis: 0) == 0)
        #expect(ClickID.minute(unixMillis: (ClickID.epochSeconds + 120) * 1000) == 2)
        #expect(ClickID.minute(unixMillis: Int64.max / 2) == 0xff_ffff)
    }

    /// The version-0 text form as first written: a UInt128 shifted by a variable per digit.
    func referenceEncode(_ id: ClickID) -> [UInt8] {
        var signed = id
        signed.keyID = codec.currentKeyID
        let value = signed.payloadBits | UInt128(ClickIDCodec.tag(signed.payloadBits, key: codec.currentKey))
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
        return (0..<26).map { alphabet[Int(truncatingIfNeeded: (value >> UInt128(125 - 5 * $0)) & 31)] }
    }

    /// Base32 parsing as first written: `crockfordDigit` per character.
    func referenceParse(_ text: [UInt8]) -> UInt128? {
        var value: UInt128 = 0
        for (i, byte) in text.enumerated() {
            let digit = ClickIDCodec.crockfordDigit(byte)
            guard digit < 32, i > 0 || digit < 8 else { return nil }
            value = value << 5 | UInt128(digit)
        }
        return value
    }

    @Test func encodingAndParsingMatchTheReference() {
        var seed: UInt64 = 0x243F_6A88_85A3_08D3
        func next() -> UInt64 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return seed ^ (seed >> 29)
        }
        for _ in 0..<2000 {
            let id = ClickID(node: UInt8(truncatingIfNeeded: next()), shard: UInt8(next() % 64),
                             sequence: next() & ClickID.maxSequence, mintMinute: UInt32(next() & 0xff_ffff), keyID: 0)
            var text = [UInt8](repeating: 0, count: 26)
            text.withUnsafeMutableBytes { codec.encodeLegacy(id, into: $0.baseAddress!) }
            #expect(text == referenceEncode(id))
            #expect(text.withUnsafeBytes { ClickIDCodec.parseBase32($0) } == referenceParse(text))
            // Damaged copies: any byte at any position, including non-ASCII and aliases.
            var damaged = text
            damaged[Int(next() % 26)] = UInt8(truncatingIfNeeded: next())
            #expect(damaged.withUnsafeBytes { ClickIDCodec.parseBase32($0) } == referenceParse(damaged))
            // The opaque text: all 130 bits, top included.
            let opaque = encode(id)
            let wide = opaque.withUnsafeBytes { ClickIDCodec.parseBase32Wide($0) }
            let reference = referenceParseWide(opaque)
            #expect(wide?.top == reference.top && wide?.high == reference.high && wide?.low == reference.low)
        }
    }

    /// 26 digits → 130 bits, one digit at a time.
    func referenceParseWide(_ text: [UInt8]) -> (top: UInt64, high: UInt64, low: UInt64) {
        var top: UInt64 = 0, value: UInt128 = 0
        for byte in text {
            top = top << 5 | UInt64(value >> 123)  // bits pushed out of 128
            value = value << 5 | UInt128(ClickIDCodec.crockfordDigit(byte))
        }
        return (top & 3, UInt64(truncatingIfNeeded: value >> 64), UInt64(truncatingIfNeeded: value))
    }

    @Test func digitTableMatchesCrockfordDigit() {
        #expect(ClickIDCodec.crockfordValues.utf8CodeUnitCount == 128)
        let table = UnsafeRawPointer(ClickIDCodec.crockfordValues.utf8Start)
        for byte in 0..<128 {
            let expected = ClickIDCodec.crockfordDigit(UInt8(byte))
            #expect(table.load(fromByteOffset: byte, as: UInt8.self) == (expected == 255 ? 0x7F : expected), "byte \(byte)")
        }
    }
}

extension String {
    func replacingAll(_ a: Character, with b: Character) -> String { String(map { $0 == a ? b : $0 }) }

}
