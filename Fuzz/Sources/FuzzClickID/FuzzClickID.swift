// libFuzzer harness: click IDs.
// 1. `ClickIDCodec.decode` over the raw input: never crashes; `.malformed` exactly when the text is not
//    26 Crockford base32 characters (opaque IDs use all 130 bits, so any first digit is well formed;
//    the first-digit-below-8 rule was version 0's); a `.valid` ID re-encodes to the same digits.
// 2. Round trip: an ID built from the input bytes survives decode(encode(x)) == x, in lower case and
//    with Crockford's I/L/O aliases, and under a rotated codec (previous key); a codec without the
//    signing key calls it forged; changing any one digit makes it forged (or malformed), never valid.
import FuzzSupport
import TrackstarCore

let keyA = SipHashKey(k0: 0x0706_0504_0302_0100, k1: 0x0F0E_0D0C_0B0A_0908)
let keyB = SipHashKey(k0: 0xDEAD_BEEF_0BAD_F00D, k1: 0x1234_5678_9ABC_DEF0)
let codec = ClickIDCodec(currentKey: keyA)
/// After a rotation: signs with B (key id 1), still accepts A's IDs.
let rotated = ClickIDCodec(currentKey: keyB, currentKeyID: 1, previousKey: keyA)
/// Knows only B.
let stranger = ClickIDCodec(currentKey: keyB, currentKeyID: 0)
let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    checkDecode(input)
    checkRoundTrip(Array(input))
    return 0
}

func decode(_ codec: ClickIDCodec, _ text: [UInt8]) -> ClickIDDecoding {
    text.withUnsafeBytes { codec.decode($0) }
}

func encode(_ codec: ClickIDCodec, _ id: ClickID) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: ClickID.textLength)
    out.withUnsafeMutableBytes { codec.encode(id, into: $0.baseAddress!) }
    return out
}

func checkDecode(_ input: UnsafeRawBufferPointer) {
    let digits = input.map(Reference.crockford)
    let wellFormed = input.count == ClickID.textLength && digits.allSatisfy { $0 != nil }
    for c in [codec, rotated, stranger] {
        let result = c.decode(input)
        if !wellFormed {
            require(result == .malformed, "\(show(input)) decoded as \(result)")
            continue
        }
        require(result != .malformed, "well-formed \(show(input)) called malformed")
        if case .valid(let id) = result {
            require(id.shard < 64 && id.sequence <= ClickID.maxSequence && id.mintMinute < 1 << 24, "fields out of range")
            let signer = id.keyID == c.currentKeyID ? c : ClickIDCodec(currentKey: keyA, currentKeyID: id.keyID)
            let again = encode(signer, id)
            require(again.map(Reference.crockford) == digits, "valid \(show(input)) re-encodes as \(show(again))")
        }
    }
}

func checkRoundTrip(_ bytes: [UInt8]) {
    let b = bytes + [UInt8](repeating: 0, count: max(0, 16 - bytes.count))
    func field(_ range: Range<Int>) -> UInt64 { b[range].reduce(0) { $0 << 8 | UInt64($1) } }
    let id = ClickID(node: b[0], shard: b[1] & 63, sequence: field(2..<7) & ClickID.maxSequence,
                     mintMinute: UInt32(field(7..<10) & 0xFF_FFFF), keyID: 0)
    let text = encode(codec, id)
    require(text.allSatisfy { alphabet.contains($0) }, "encoded \(show(text))")
    require(decode(codec, text) == .valid(id), "decode(encode(\(id))) = \(decode(codec, text))")
    // Case and Crockford aliases.
    let lower = text.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }
    require(decode(codec, lower) == .valid(id), "lower-case \(show(lower))")
    let aliased = text.enumerated().map { i, c -> UInt8 in
        switch c {
        case UInt8(ascii: "1"): return Array("IiLl".utf8)[(Int(b[11]) + i) % 4]
        case UInt8(ascii: "0"): return Array("Oo".utf8)[(Int(b[11]) + i) % 2]
        default: return c
        }
    }
    require(decode(codec, aliased) == .valid(id), "aliased \(show(aliased))")
    // Key rotation: old IDs still verify; new ones carry key id 1; a codec without the key says forged.
    require(decode(rotated, text) == .valid(id), "rotated codec refuses an ID of its previous key")
    let newText = encode(rotated, id)
    var newID = id
    newID.keyID = 1
    require(decode(rotated, newText) == .valid(newID), "rotated round trip")
    require(decode(codec, newText) == .forged, "an ID of an unknown key id verifies")
    require(decode(stranger, text) == .forged, "an ID verifies under the wrong key")
    // One changed digit is never valid.
    let position = Int(b[12]) % ClickID.textLength
    var mutated = text
    let old = Int(Reference.crockford(text[position])!)
    let new = (old + 1 + Int(b[13]) % 31) % 32
    mutated[position] = alphabet[new]
    let result = decode(codec, mutated)
    require(result == .forged || (position == 0 && new >= 8 && result == .malformed),
            "\(show(text)) with digit \(position) changed to \(show([alphabet[new]])) gives \(result)")
    // Out-of-range fields are masked, never smeared into neighbours.
    let wide = ClickID(node: b[0], shard: b[1], sequence: field(2..<10), mintMinute: UInt32(truncatingIfNeeded: field(10..<14)), keyID: b[14])
    var masked = wide
    masked.shard &= 63; masked.sequence &= ClickID.maxSequence; masked.mintMinute &= 0xFF_FFFF; masked.keyID = 0
    require(decode(codec, encode(codec, wide)) == .valid(masked), "wide fields \(wide)")
}
