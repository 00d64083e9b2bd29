// Golden fixtures of the store's on-disk formats, read by the current code: a shard's click,
// conversion and refusal segment pairs (records and arena) and a snapshot manifest. A change to a
// layout, a checksum seed, the arena encoding or the manifest fails here and must come with a
// version bump and regenerated fixtures (Tests/Fixtures/golden/README.md).
import Atomics
import Foundation
import Testing
import TrackstarCore
import TrackstarStore
import TrackstarTestSupport

/// What the fixtures hold; the generator writes these values and the readers expect them.
enum GoldenStore {
    struct Click {
        var mintMillis: Int64, offerID: UInt32, affID: UInt32
        /// sub1…sub5, aff_click_id, source, user agent.
        var fields: [String]
        var peerHigh: UInt64, peerLow: UInt64
        var conversions: UInt64
        /// Click format 2 (enriched): the enrichment word and the ninth field; nil for format 1.
        var enrichment: Enrichment? = nil
    }
    struct Enrichment {
        var head: ClickEnrichmentHead
        var asn: UInt32, fingerprint: UInt64, os: String, browser: String
    }
    struct Refusal {
        var timeMillis: Int64, reason: RefusalReason, httpStatus: Int, offerID: UInt32, affID: UInt32, params: String
    }

    static let clicks = [
        Click(mintMillis: 1_790_000_000_123, offerID: 10, affID: 7, fields: ["s1", "", "s3", "", "", "ac-1", "src", "curl/8.0"],
              peerHigh: 0, peerLow: 0x0000_FFFF_7F00_0001, conversions: 1),
        Click(mintMillis: 1_790_000_060_000, offerID: 11, affID: 8, fields: ["", "", "", "", "", "", "", ""],
              peerHigh: 0x2001_0DB8_0000_0000, peerLow: 1, conversions: 0),
        Click(mintMillis: 1_790_000_120_999, offerID: 4_000_000_000, affID: UInt32.max - 1,
              fields: ["a", "b", "c", "d", "ü€ sub5", "x=y&z", "newsletter", "Mozilla/5.0 (X11; Linux x86_64)"],
              peerHigh: 0xFD00_0000_0000_0000, peerLow: 0xABCD, conversions: 2),
        Click(mintMillis: 1_790_000_180_000, offerID: 12, affID: 9, fields: ["", "", "", "", "", "", "", "Mozilla/5.0 (iPhone)"],
              peerHigh: 0, peerLow: 0x0000_FFFF_0808_0800, conversions: 0,
              enrichment: Enrichment(head: ClickEnrichmentHead(country: 0x5355 /* "US" */, device: .mobile,
                                                               botReason: .listedASN, unique: true),
                                     asn: 15169, fingerprint: 0x1234_5678_9ABC_DEF1, os: "iOS", browser: "Mobile Safari")),
    ]

    /// Currency codes as the conversion record stores them: three ASCII bytes, little-endian, then 0.
    static func currency(_ code: String) -> UInt32 {
        code.utf8.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }

    static var conversions: [(ConversionRecord.Fields, txid: String)] { [
        (.init(clickRef: 0, timeMillis: 1_790_000_100_000, txidHash: 0x1111_2222_3333_4444, amount: 12_345_000,
               payout: 2_500_000, revenue: 4_000_000, offerID: 10, affID: 7, event: 0, status: .approved,
               currency: currency("USD"), varOffset: 0, varLength: 0, payoutCurrency: currency("EUR")), "order-1"),
        (.init(clickRef: 2, timeMillis: 1_790_000_200_000, txidHash: 0xFEDC_BA98_7654_3210, amount: ConversionRecord.noAmount,
               payout: 0, revenue: 0, offerID: 4_000_000_000, affID: UInt32.max - 1, event: 2, status: .rejected,
               currency: 0, varOffset: 0, varLength: 0, payoutCurrency: currency("USD")), ""),
        (.init(clickRef: 2, timeMillis: 1_790_000_300_000, txidHash: 0x0123_4567_89AB_CDEF, amount: -5_000,
               payout: 1, revenue: Int64.max, offerID: 4_000_000_000, affID: UInt32.max - 1, event: 1, status: .pending,
               currency: currency("EUR"), varOffset: 0, varLength: 0, payoutCurrency: 0), "tx/ü"),  // 0: as before the field
    ] }

    static let refusals = [
        Refusal(timeMillis: 1_790_000_400_000, reason: .unknownClick, httpStatus: 404, offerID: 0, affID: 0,
                params: "click_id=AAAA&txid=1"),
        Refusal(timeMillis: 1_790_000_400_001, reason: .duplicateTxid, httpStatus: 409, offerID: 10, affID: 7,
                params: "click_id=B&txid=order-1&status=approved"),
        Refusal(timeMillis: 1_790_000_400_002, reason: .clickUnknownAffiliate, httpStatus: 302, offerID: 11, affID: 99, params: ""),
    ]

    static let manifest = Manifest(sequence: 42, createdMillis: 1_790_000_500_000, shards: [
        ShardPosition(clicks: 3, clickBytes: 127, conversions: 3, conversionBytes: 12),
        ShardPosition(clicks: 1 << 40, clickBytes: 1 << 50, conversions: 0, conversionBytes: 0),
    ])
}

@Suite("golden store fixtures", .serialized)
struct GoldenStoreTests {
    /// The production geometry the fixtures were written with: a change moves every record.
    @Test func segmentGeometryIsUnchanged() {
        let clicks = ShardLayout.clickTable(dataDir: "/nonexistent", shard: 0)
        let conversions = ShardLayout.conversionTable(dataDir: "/nonexistent", shard: 0)
        let refusals = ShardLayout.refusalTable(dataDir: "/nonexistent", shard: 0)
        #expect([clicks.stride, clicks.recordsPerSegment, clicks.byteSegmentSize] == [64, 262_144, 16_777_216] as [Int])
        #expect([conversions.stride, conversions.recordsPerSegment, conversions.byteSegmentSize] == [96, 65_536, 4_194_304] as [Int])
        #expect([refusals.stride, refusals.recordsPerSegment, refusals.byteSegmentSize] == [48, 65_536, 8_388_608] as [Int])
        #expect(clicks.path(segment: 0, bytes: false) == "/nonexistent/shard-0/clicks-000000.rec")
        #expect(refusals.path(segment: 12, bytes: true) == "/nonexistent/shard-0/refusals-000012.bytes")
    }

    @Test func clickSegmentsReadBackEveryField() throws {
        let data = try Golden.copyToTemporary("data")
        defer { Golden.remove(data) }
        let table = ShardLayout.clickTable(dataDir: data, shard: 0)
        _ = try table.mapExisting()
        for (sequence, expected) in GoldenStore.clicks.enumerated() {
            let p = try #require(table.slot(UInt64(sequence)), "click \(sequence) not mapped")
            let variable = try #require(table.checkedBytes(at: ClickSlot.varOffset(p), count: ClickSlot.varLength(p)))
            #expect(ClickSlot.storedChecksum(p) == ClickSlot.checksum(p, variable: variable), "click \(sequence) checksum")
            #expect(ClickSlot.mintMillis(p) == expected.mintMillis)
            #expect(ClickSlot.offerID(p) == expected.offerID)
            #expect(ClickSlot.affID(p) == expected.affID)
            #expect(ClickSlot.peer(p).high == expected.peerHigh)
            #expect(ClickSlot.peer(p).low == expected.peerLow)
            #expect(ClickSlot.conversions(p).load(ordering: .relaxed) == expected.conversions)
            let fields = ClickSlot.fields(variable).map { String(decoding: $0, as: UTF8.self) }
            #expect(fields == expected.fields, "click \(sequence) variable fields")
            let head = ClickSlot.enrichment(p), tail = ClickSlot.enrichmentTail(variable)
            if let enrichment = expected.enrichment {
                #expect(head == enrichment.head, "click \(sequence) enrichment word")
                #expect(head.countryText == "US")
                #expect(tail.asn == enrichment.asn && tail.fingerprint == enrichment.fingerprint)
                #expect(String(decoding: tail.os, as: UTF8.self) == enrichment.os)
                #expect(String(decoding: tail.browser, as: UTF8.self) == enrichment.browser)
            } else {
                #expect(!head.enriched && head == .none, "format 1 click \(sequence) reads as not enriched")
                #expect(tail.asn == 0 && tail.fingerprint == 0 && tail.os.isEmpty && tail.browser.isEmpty)
                #expect(ClickSlot.varLength(p) == expected.fields.reduce(0) { $0 + 2 + $1.utf8.count })
            }
        }
        #expect(ClickSlot.storedChecksum(try #require(table.slot(4))) == 0, "a fifth click where the fixture has four")
        #expect(SegmentDirectory.size(Golden.path("data/shard-0/clicks-000000.rec")) == 4 * ClickSlot.stride)
    }

    @Test func conversionSegmentsReadBackEveryField() throws {
        let data = try Golden.copyToTemporary("data")
        defer { Golden.remove(data) }
        let table = ShardLayout.conversionTable(dataDir: data, shard: 0)
        _ = try table.mapExisting()
        for (sequence, (expected, txid)) in GoldenStore.conversions.enumerated() {
            let p = try #require(table.slot(UInt64(sequence)), "conversion \(sequence) not mapped")
            let variable = try #require(table.checkedBytes(at: ConversionRecord.varOffset(p), count: ConversionRecord.varLength(p)))
            #expect(ConversionRecord.storedChecksum(p) == ConversionRecord.checksum(p, variable: variable), "conversion \(sequence) checksum")
            #expect(ConversionRecord.clickRef(p) == expected.clickRef)
            #expect(ConversionRecord.timeMillis(p) == expected.timeMillis)
            #expect(ConversionRecord.txidHash(p) == expected.txidHash)
            #expect(ConversionRecord.amount(p) == expected.amount)
            #expect(ConversionRecord.payout(p) == expected.payout)
            #expect(ConversionRecord.revenue(p) == expected.revenue)
            #expect(ConversionRecord.offerID(p) == expected.offerID)
            #expect(ConversionRecord.affID(p) == expected.affID)
            #expect(ConversionRecord.event(p) == Int(expected.event))
            #expect(ConversionRecord.status(p) == expected.status)
            #expect(ConversionRecord.currency(p) == expected.currency)
            #expect(ConversionRecord.payoutCurrency(p) == expected.payoutCurrency)
            #expect(String(decoding: variable, as: UTF8.self) == txid)
            // Written before issue 17's extras: bytes 80..<88 are zero, all variable bytes are the txid.
            #expect(!ConversionRecord.hasExtras(p) && ConversionRecord.extrasLength(p) == 0)
            #expect(ConversionRecord.txidLength(p) == txid.utf8.count)
        }
        #expect(ConversionRecord.storedChecksum(try #require(table.slot(3))) == 0)
        #expect(SegmentDirectory.size(Golden.path("data/shard-0/conversions-000000.rec")) == 3 * ConversionRecord.stride)
    }

    @Test func refusalSegmentsReadBackEveryField() throws {
        let data = try Golden.copyToTemporary("data")
        defer { Golden.remove(data) }
        let table = ShardLayout.refusalTable(dataDir: data, shard: 0)
        _ = try table.mapExisting()
        for (sequence, expected) in GoldenStore.refusals.enumerated() {
            let p = try #require(table.slot(UInt64(sequence)), "refusal \(sequence) not mapped")
            let variable = try #require(table.checkedBytes(at: RefusalRecord.varOffset(p), count: RefusalRecord.varLength(p)))
            #expect(RefusalRecord.storedChecksum(p) == RefusalRecord.checksum(p, variable: variable), "refusal \(sequence) checksum")
            #expect(RefusalRecord.timeMillis(p) == expected.timeMillis)
            #expect(RefusalRecord.reason(p) == expected.reason)
            #expect(RefusalRecord.httpStatus(p) == expected.httpStatus)
            #expect(RefusalRecord.offerID(p) == expected.offerID)
            #expect(RefusalRecord.affID(p) == expected.affID)
            #expect(String(decoding: variable, as: UTF8.self) == expected.params)
        }
        #expect(RefusalRecord.storedChecksum(try #require(table.slot(3))) == 0)
    }

    /// The refusal reasons' stored numbers are part of the format.
    @Test func enrichmentNumbersAreUnchanged() {
        #expect(ClickDevice.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6])
        #expect(ClickDevice.mobile.rawValue == 2 && ClickDevice.bot.rawValue == 5)
        #expect(ClickBotReason.allCases.map { "\($0.name)" } == ["", "empty_user_agent", "spider", "user_agent_substring",
                                                                 "listed_network", "listed_asn", "anonymous_proxy"])
        #expect(ClickEnrichmentHead(country: 0x5355, device: .tv, botReason: .spider, unique: true).word == 0x5355_2403)
    }

    @Test func refusalReasonNumbersAreUnchanged() {
        #expect(RefusalReason.malformedID.rawValue == 1)
        #expect(RefusalReason.other.rawValue == 18)
        #expect(RefusalReason.clickValueCut.rawValue == 19)
        #expect(RefusalReason.clickRedirectTooLong.rawValue == 28)
        #expect(ConversionStatus.approved.rawValue == 0 && ConversionStatus.pending.rawValue == 1 && ConversionStatus.rejected.rawValue == 2)
    }

    @Test func manifestReadsBackEveryField() throws {
        let decoded = try Manifest.decode(Golden.bytes("data/manifest")).get()
        #expect(decoded == GoldenStore.manifest)
        #expect(decoded.sequence == 42)
        #expect(decoded.createdMillis == 1_790_000_500_000)
        #expect(decoded.shards.count == 2)
        #expect(decoded.shards[1].clicks == 1 << 40 && decoded.shards[1].clickBytes == 1 << 50)
        #expect(Manifest.load(from: Golden.path("data")).manifest == GoldenStore.manifest)
        #expect(Golden.bytes("data/manifest").prefix(8) == Array("TSMANIF1".utf8)[...])
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenStoreTests/writeFixtures
    /// (skipped otherwise). Writes through the same primitives the request loops use.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        let scratch = try Golden.scratchDirectory()
        defer { Golden.remove(scratch) }
        let clicks = ShardLayout.clickTable(dataDir: scratch, shard: 0)
        try SegmentDirectory.create(ShardLayout.directory(dataDir: scratch, shard: 0))
        for click in GoldenStore.clicks {
            var values = click.fields.map { Array($0.utf8) }
            if let e = click.enrichment {  // the ninth field, written by the production encoder
                let os = Array(e.os.utf8), browser = Array(e.browser.utf8)
                let encoded = os.withUnsafeBytes { o in browser.withUnsafeBytes { b -> [UInt8] in
                    let tail = ClickEnrichmentTail(asn: e.asn, fingerprint: e.fingerprint, os: o, browser: b)
                    var out = [UInt8](repeating: 0, count: tail.encodedCount)
                    out.withUnsafeMutableBytes { tail.write(to: $0.baseAddress!) }
                    return out
                } }
                values.append(encoded)
            }
            let length = values.reduce(0) { $0 + 2 + $1.count }
            let (sequence, slot) = try #require(clicks.reserveRecord())
            let (offset, bytes) = try #require(clicks.reserveBytes(length))
            var cursor = bytes
            for value in values {
                cursor.storeBytes(of: UInt16(value.count), as: UInt16.self)
                value.withUnsafeBytes { if $0.count > 0 { (cursor + 2).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                cursor += 2 + value.count
            }
            ClickSlot.write(slot, mintMillis: click.mintMillis, offerID: click.offerID, affID: click.affID,
                            varOffset: offset, varLength: length, peerHigh: click.peerHigh, peerLow: click.peerLow)
            if let e = click.enrichment { ClickSlot.writeEnrichment(slot, e.head) }
            ClickSlot.seal(slot, variable: UnsafeRawBufferPointer(start: bytes, count: length))
            ClickSlot.conversions(slot).store(click.conversions, ordering: .relaxed)
            clicks.publish(count: sequence + 1)
        }
        try copyUsed(clicks, count: GoldenStore.clicks.count)

        let conversions = ShardLayout.conversionTable(dataDir: scratch, shard: 0)
        for (fields, txid) in GoldenStore.conversions {
            let text = Array(txid.utf8)
            let (sequence, record) = try #require(conversions.reserveRecord())
            let (offset, bytes) = try #require(conversions.reserveBytes(text.count))
            text.withUnsafeBytes { if $0.count > 0 { bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            var placed = fields
            placed.varOffset = offset
            placed.varLength = text.count
            ConversionRecord.write(record, placed)
            ConversionRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: text.count))
            conversions.publish(count: sequence + 1)
        }
        try copyUsed(conversions, count: 3)

        let refusals = ShardLayout.refusalTable(dataDir: scratch, shard: 0)
        for refusal in GoldenStore.refusals {
            let text = Array(refusal.params.utf8)
            let (sequence, record) = try #require(refusals.reserveRecord())
            let (offset, bytes) = try #require(refusals.reserveBytes(text.count))
            text.withUnsafeBytes { if $0.count > 0 { bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            RefusalRecord.write(record, timeMillis: refusal.timeMillis, reason: refusal.reason, httpStatus: refusal.httpStatus,
                                offerID: refusal.offerID, affID: refusal.affID, varOffset: offset, varLength: text.count)
            RefusalRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: text.count))
            refusals.publish(count: sequence + 1)
        }
        try copyUsed(refusals, count: 3)

        try GoldenStore.manifest.write(to: scratch)
        try Golden.copyPrefix(of: scratch + "/manifest", count: Int.max, to: "data/manifest")
    }

    /// Copies the used part of a table's first segment pair into the fixtures (the reader extends
    /// short files with zeros, as recovery does after a crash cut a file).
    func copyUsed(_ table: RecordTable, count: Int) throws {
        let relative = "data/shard-0/"
        try Golden.copyPrefix(of: table.path(segment: 0, bytes: false), count: count * table.stride,
                              to: relative + "\(table.name)-000000.rec")
        try Golden.copyPrefix(of: table.path(segment: 0, bytes: true), count: Int(table.byteEnd),
                              to: relative + "\(table.name)-000000.bytes")
    }
}
