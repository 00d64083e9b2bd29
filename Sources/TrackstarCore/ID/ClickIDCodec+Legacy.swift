// Version-0 click IDs: the readable format minted before opaque IDs (node, shard, sequence and mint
// minute in the clear, then a 49-bit tag). Still verified for data dirs that may hold them, so links
// already in affiliates' hands keep converting.

extension ClickIDCodec {
    /// The 49-bit version-0 tag of a payload under `key`.
    @inlinable @inline(__always)
    static func tag(_ payload: UInt128, key: SipHashKey) -> UInt64 {
        let h = sipHash24(key: key, UInt64(truncatingIfNeeded: payload >> 64), UInt64(truncatingIfNeeded: payload))
        return h >> 15
    }

    /// Writes the version-0 text of `id`, signed with the current key: what nodes minted before opaque
    /// IDs (tests and the golden vectors use it to stand for IDs already in the field).
    public func encodeLegacy(_ id: ClickID, into out: UnsafeMutableRawPointer) {
        var signed = id
        signed.keyID = currentKeyID
        let payload = signed.payloadBits
        let value = payload | UInt128(ClickIDCodec.tag(payload, key: currentKey))
        ClickIDCodec.writeDigits(top: 0, high: UInt64(truncatingIfNeeded: value >> 64), low: UInt64(truncatingIfNeeded: value), into: out)
    }

    /// Verifies a version-0 value: `node:8 | shard:6 | sequence:40 | mintMinute:24 | keyID:1 | tag:49`.
    func decodeLegacy(_ value: UInt128) -> ClickIDDecoding {
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
}
