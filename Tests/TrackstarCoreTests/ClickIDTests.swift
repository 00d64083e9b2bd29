// Click ID codec: round trip, tamper refusal, case-insensitivity, key rotation; and SipHash itself.
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
        bad = good; bad[0] = UInt8(ascii: "Z")  // the top two bits must be zero
        #expect(decode(bad) == .malformed)
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
}

extension String {
    func replacingAll(_ a: Character, with b: Character) -> String { String(map { $0 == a ? b : $0 }) }
}
