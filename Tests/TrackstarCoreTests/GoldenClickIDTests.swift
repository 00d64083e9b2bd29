// Golden click ID vectors: the 26-character IDs partners hold in their URLs, for fixed keys and
// fields, in both formats (version 0, readable, in click_ids.txt; opaque in click_ids_opaque.txt).
// A change to the encoding or the tag makes every outstanding click ID unreadable, so it fails here
// and must be a deliberate version bump (Tests/Fixtures/golden/README.md).
import Testing
import TrackstarCore
import TrackstarTestSupport

@Suite("golden click ID vectors")
struct GoldenClickIDTests {
    static let key0 = SipHashKey(k0: 0x0011_2233_4455_6677, k1: 0x8899_AABB_CCDD_EEFF)
    static let key1 = SipHashKey(k0: 0x0123_4567_89AB_CDEF, k1: 0xFEDC_BA98_7654_3210)
    /// After a rotation: key1 signs, key0 still verifies what it signed.
    static let codec = ClickIDCodec(currentKey: key1, currentKeyID: 1, previousKey: key0, acceptsLegacy: true)
    /// Before the rotation: key0 signs (the last vector, minted then).
    static let codecBeforeRotation = ClickIDCodec(currentKey: key0, currentKeyID: 0)

    static let ids = [
        ClickID(node: 0, shard: 0, sequence: 0, mintMinute: 0, keyID: 1),
        ClickID(node: 3, shard: 1, sequence: 12_345, mintMinute: ClickID.minute(unixMillis: 1_790_000_000_123), keyID: 1),
        ClickID(node: 255, shard: UInt8(ClickID.maxShards - 1), sequence: ClickID.maxSequence, mintMinute: 1_000_000, keyID: 1),
        ClickID(node: 17, shard: 5, sequence: 1 << 32, mintMinute: 77, keyID: 0),
    ]

    /// The text of `id`, signed by the key its `keyID` names (encoding signs with the current key).
    static func encode(_ id: ClickID, opaque: Bool) -> String {
        var text = [UInt8](repeating: 0, count: ClickID.textLength)
        let signer = id.keyID == 1 ? codec : codecBeforeRotation
        text.withUnsafeMutableBytes {
            if opaque { signer.encode(id, into: $0.baseAddress!) } else { signer.encodeLegacy(id, into: $0.baseAddress!) }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Lines of `click_ids.txt` (version 0) and `click_ids_opaque.txt`: `NODE SHARD SEQUENCE MINUTE
    /// KEY_ID TEXT`, decimal and the ID.
    @Test(arguments: [("click_ids.txt", false), ("click_ids_opaque.txt", true)])
    func everyVectorDecodesToItsFieldsAndEncodesBack(file: String, opaque: Bool) throws {
        let text = String(decoding: Golden.bytes(file), as: UTF8.self)
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.count == Self.ids.count)
        for line in lines {
            let parts = line.split(separator: " ")
            try #require(parts.count == 6, "malformed line: \(line)")
            let expected = ClickID(node: try #require(UInt8(parts[0])), shard: try #require(UInt8(parts[1])),
                                   sequence: try #require(UInt64(parts[2])), mintMinute: try #require(UInt32(parts[3])),
                                   keyID: try #require(UInt8(parts[4])))
            let decoded = Array(parts[5].utf8).withUnsafeBytes { Self.codec.decode($0) }
            #expect(decoded == .valid(expected), "\(line)")
            #expect(Self.encode(expected, opaque: opaque) == String(parts[5]), "\(line)")
        }
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenClickIDTests/writeFixtures.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        var text = "# Opaque click ID vectors: NODE SHARD SEQUENCE MINUTE KEY_ID TEXT, sealed by key KEY_ID of data/click.key; all verify under that file (key1 current, key0 previous).\n"
        for id in Self.ids {
            text += "\(id.node) \(id.shard) \(id.sequence) \(id.mintMinute) \(id.keyID) \(Self.encode(id, opaque: true))\n"
        }
        try Golden.write(Array(text.utf8), to: "click_ids_opaque.txt")
        // click_ids.txt (version 0) is no longer minted: kept as written, never regenerated.
    }
}
