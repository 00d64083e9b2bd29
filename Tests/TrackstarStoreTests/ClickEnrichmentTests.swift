// Click format 2 in memory: the enrichment word round-trips, the ninth field encodes and parses,
// and wiping personal data zeroes exactly the address, the agent and the fingerprint — with a
// checksum that is valid after the wipe and already valid halfway through it (crash safety).
import Testing
import TrackstarCore
import TrackstarStore

@Suite struct ClickEnrichmentTests {
    /// A click record with eight fields and the enrichment field, in a buffer of its own.
    struct Record {
        var slot = [UInt8](repeating: 0, count: ClickSlot.stride)
        var variable: [UInt8] = []

        init(agent: String, enriched: Bool) {
            for field in ["s1", "", "", "", "", "ac", "src", agent] {
                variable += withUnsafeBytes(of: UInt16(field.utf8.count)) { Array($0) } + Array(field.utf8)
            }
            if enriched {
                let os = Array("iOS".utf8), browser = Array("Mobile Safari".utf8)
                let tail = os.withUnsafeBytes { o in browser.withUnsafeBytes { b -> [UInt8] in
                    let tail = ClickEnrichmentTail(asn: 15169, fingerprint: 0xABCD_EF01_2345_6789, os: o, browser: b)
                    var out = [UInt8](repeating: 0, count: tail.encodedCount)
                    out.withUnsafeMutableBytes { tail.write(to: $0.baseAddress!) }
                    return out
                } }
                variable += withUnsafeBytes(of: UInt16(tail.count)) { Array($0) } + tail
            }
            let length = variable.count
            slot.withUnsafeMutableBytes { p in
                ClickSlot.write(p.baseAddress!, mintMillis: 1_790_000_000_000, offerID: 4, affID: 7, varOffset: 0, varLength: length,
                                peerHigh: 0, peerLow: 0xFFFF_0808_0808)
                if enriched {
                    ClickSlot.writeEnrichment(p.baseAddress!, ClickEnrichmentHead(country: 0x5355, device: .mobile, botReason: .none, unique: true))
                }
            }
            seal()
        }

        mutating func seal() {
            let v = variable
            slot.withUnsafeMutableBytes { p in v.withUnsafeBytes { ClickSlot.seal(p.baseAddress!, variable: $0) } }
        }

        var valid: Bool {
            slot.withUnsafeBytes { p in variable.withUnsafeBytes { ClickSlot.checksum(p.baseAddress!, variable: $0) == ClickSlot.storedChecksum(p.baseAddress!) } }
        }
        var validAsWiping: Bool {
            slot.withUnsafeBytes { p in variable.withUnsafeBytes { ClickSlot.wipedChecksum(p.baseAddress!, variable: $0) == ClickSlot.storedChecksum(p.baseAddress!) } }
        }

        mutating func wipe() {
            slot.withUnsafeMutableBytes { p in variable.withUnsafeMutableBytes { ClickSlot.wipePersonalData(p.baseAddress!, variable: $0) } }
        }
    }

    @Test func enrichmentWordRoundTrips() {
        for device in ClickDevice.allCases {
            for reason in ClickBotReason.allCases {
                for unique in [false, true] {
                    let head = ClickEnrichmentHead(country: 0x4544, device: device, botReason: reason, unique: unique)
                    #expect(ClickEnrichmentHead(word: head.word) == head)
                }
            }
        }
        #expect(ClickEnrichmentHead(word: 0) == .none)
        #expect(ClickEnrichmentHead(country: 0x4544, device: .tv, botReason: .none, unique: false).countryText == "DE")
    }

    @Test func wipingZeroesAddressAgentAndFingerprintAndKeepsTheRest() {
        for enriched in [false, true] {
            var record = Record(agent: "Mozilla/5.0 (iPhone; secret)", enriched: enriched)
            #expect(record.valid)
            let before = record.variable
            record.wipe()
            #expect(record.valid, "the wiped record's checksum is valid")
            record.slot.withUnsafeBytes { p in
                #expect(ClickSlot.isWiped(p.baseAddress!))
                #expect(ClickSlot.peer(p.baseAddress!) == (0, 0))
                #expect(ClickSlot.offerID(p.baseAddress!) == 4 && ClickSlot.mintMillis(p.baseAddress!) == 1_790_000_000_000)
                let head = ClickSlot.enrichment(p.baseAddress!)
                #expect(head.wiped && head.enriched == enriched)
                if enriched { #expect(head.unique && head.device == .mobile && head.countryText == "US") }
            }
            record.variable.withUnsafeBytes { v in
                let fields = ClickSlot.fields(v)
                #expect(String(decoding: fields[0], as: UTF8.self) == "s1" && String(decoding: fields[6], as: UTF8.self) == "src")
                #expect(fields[7].count == 28 && fields[7].allSatisfy { $0 == 0 }, "the agent's bytes are zeros")
                let tail = ClickSlot.enrichmentTail(v)
                #expect(tail.fingerprint == 0)
                if enriched {
                    #expect(tail.asn == 15169 && String(decoding: tail.os, as: UTF8.self) == "iOS")
                    #expect(String(decoding: tail.browser, as: UTF8.self) == "Mobile Safari")
                }
            }
            #expect(record.variable.count == before.count)
        }
    }

    @Test func aWipeInterruptedAnywhereLeavesARecordRecoveryAccepts() {
        var record = Record(agent: "Mozilla/5.0 (Windows NT 10.0)", enriched: true)
        let wipedChecksum = record.slot.withUnsafeBytes { p in record.variable.withUnsafeBytes { ClickSlot.wipedChecksum(p.baseAddress!, variable: $0) } }
        // The wipe stores the new checksum first: a crash right after it.
        record.slot.withUnsafeMutableBytes { $0.storeBytes(of: wipedChecksum, toByteOffset: 56, as: UInt64.self) }
        #expect(!record.valid && record.validAsWiping)
        // Halfway through the agent's bytes.
        let agentStart = record.variable.count - 2 - (14 + 3 + 13) - 29
        for i in agentStart..<(agentStart + 10) { record.variable[i] = 0 }
        #expect(record.validAsWiping)
        // An unrelated change is still caught.
        record.variable[2] ^= 0x20
        #expect(!record.valid && !record.validAsWiping)
    }
}
