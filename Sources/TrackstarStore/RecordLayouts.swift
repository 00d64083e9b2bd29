// Byte layouts of click and conversion records in their shard tables, and where a shard's tables live.
// Each record is written once by the owning loop and read by any thread after the count is published;
// the exporter and `inspect` read the same bytes.
import Atomics
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// A click slot, 64 bytes:
/// `mintMillis:8 | offerID:4 | affID:4 | varOffset:8 | varLength:4 | enrichment:4 | conversions:8 (atomic)
///  | peerHigh:8 | peerLow:8 | checksum:8`. The checksum covers the slot except the conversion
/// counter (it changes later) and the checksum itself, plus the variable bytes; 0 means never written.
/// Variable bytes: for each of sub1…sub5, aff_click_id, source, user agent: a 2-byte length, then bytes;
/// in format 2 (enriched) clicks a ninth such field follows (`ClickEnrichmentTail`), and `enrichment`
/// (formerly reserved, 0 in format 1) holds `ClickEnrichmentHead`. See ClickEnrichment.swift.
public enum ClickSlot {
    public static let stride = 64
    /// Order of the length-prefixed variable fields.
    public enum Field: Int, CaseIterable { case sub1, sub2, sub3, sub4, sub5, affClickID, source, userAgent }

    public static func mintMillis(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 0, as: Int64.self) }
    public static func offerID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 8, as: UInt32.self) }
    public static func affID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 12, as: UInt32.self) }
    public static func varOffset(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 16, as: UInt64.self) }
    public static func varLength(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 24, as: UInt32.self)) }

    /// The click's conversion counter, changed only with atomic operations from any loop.
    public static func conversions(_ p: UnsafeMutableRawPointer) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (p + 32).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    public static func write(_ p: UnsafeMutableRawPointer, mintMillis: Int64, offerID: UInt32, affID: UInt32,
                      varOffset: UInt64, varLength: Int, peerHigh: UInt64, peerLow: UInt64) {
        p.storeBytes(of: mintMillis, toByteOffset: 0, as: Int64.self)
        p.storeBytes(of: offerID, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: affID, toByteOffset: 12, as: UInt32.self)
        p.storeBytes(of: varOffset, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: UInt32(varLength), toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: peerHigh, toByteOffset: 40, as: UInt64.self)
        p.storeBytes(of: peerLow, toByteOffset: 48, as: UInt64.self)
    }

    public static func checksum(_ p: UnsafeRawPointer, variable: UnsafeRawBufferPointer) -> UInt64 {
        var h = Checksum.update(0x636c_6963_6b73, UnsafeRawBufferPointer(start: p, count: 32))
        h = Checksum.update(h, UnsafeRawBufferPointer(start: p + 40, count: 16))
        return Checksum.finish(Checksum.update(h, variable))
    }

    /// Seals a written slot: the checksum is stored last.
    public static func seal(_ p: UnsafeMutableRawPointer, variable: UnsafeRawBufferPointer) {
        p.storeBytes(of: checksum(p, variable: variable), toByteOffset: 56, as: UInt64.self)
    }

    public static func storedChecksum(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 56, as: UInt64.self) }
}

/// A conversion record, 96 bytes:
/// `clickRef:8 | timeMillis:8 | txidHash:8 | amount:8 | payout:8 | revenue:8 | offerID:4 | affID:4
///  | event:1 | status:1 | state:1 | kind:1 | currency:4 | varOffset:8 | varLength:4 | payoutCurrency:4
///  | extrasLength:2 | extrasFlags:1 | reserved:5 | checksum:8`.
/// - `event` is the event's stable id for its offer (`DATA_DIR/events`), not a position in the config;
///   records written before that file existed hold the position, which the file's seeding made the id.
/// - `currency` is the currency of `amount` (the sender's, or the offer's when it sent none);
///   `payoutCurrency` that of `payout` and `revenue` (the offer's). Records written before
///   `payoutCurrency` existed hold 0 there: their payout is in the offer's configured currency.
/// Variable bytes: the raw txid (trimmed); then, when `extrasFlags` bit 0 is set (issue 17), the
/// parameters the sender's profile did not map, as sent (`name=value&…`, still percent-encoded),
/// prefixed with their length (2 bytes, equal to `extrasLength`); bit 1: they were cut at
/// `maxExtrasBytes` (whole pairs kept, then `&trackstar_truncated=1`). Records written before
/// bytes 80..<88 held zeros there: all their variable bytes are the txid. The checksum covers bytes
/// 0..<88 and the variable bytes.
/// Bytes 58..<60 (`state:1 | kind:1`) and the transition records sharing this layout: see
/// `ConversionState.swift`.
public enum ConversionRecord {
    public static let stride = 96
    /// `amount` when the postback carried none.
    public static let noAmount = Int64.min

    public static func clickRef(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 0, as: UInt64.self) }
    public static func txidHash(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 16, as: UInt64.self) }
    public static func payout(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 32, as: Int64.self) }
    public static func revenue(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 40, as: Int64.self) }
    public static func event(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 56, as: UInt8.self)) }
    public static func status(_ p: UnsafeRawPointer) -> ConversionStatus {
        ConversionStatus(rawValue: p.load(fromByteOffset: 57, as: UInt8.self)) ?? .approved
    }

    public struct Fields {
        public var clickRef: UInt64
        public var timeMillis: Int64
        public var txidHash: UInt64
        public var amount: Int64
        public var payout: Int64
        public var revenue: Int64
        public var offerID: UInt32
        public var affID: UInt32
        public var event: UInt8
        public var status: ConversionStatus
        public var currency: UInt32
        public var varOffset: UInt64
        public var varLength: Int
        /// The currency of payout and revenue (0 writes a record as earlier releases did).
        public var payoutCurrency: UInt32
        public init(clickRef: UInt64, timeMillis: Int64, txidHash: UInt64, amount: Int64, payout: Int64, revenue: Int64,
                    offerID: UInt32, affID: UInt32, event: UInt8, status: ConversionStatus, currency: UInt32,
                    varOffset: UInt64, varLength: Int, payoutCurrency: UInt32 = 0) {
            self.clickRef = clickRef; self.timeMillis = timeMillis; self.txidHash = txidHash; self.amount = amount
            self.payout = payout; self.revenue = revenue; self.offerID = offerID; self.affID = affID; self.event = event
            self.status = status; self.currency = currency; self.varOffset = varOffset; self.varLength = varLength
            self.payoutCurrency = payoutCurrency
        }
    }

    public static func write(_ p: UnsafeMutableRawPointer, _ f: Fields) {
        p.storeBytes(of: f.clickRef, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: f.timeMillis, toByteOffset: 8, as: Int64.self)
        p.storeBytes(of: f.txidHash, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: f.amount, toByteOffset: 24, as: Int64.self)
        p.storeBytes(of: f.payout, toByteOffset: 32, as: Int64.self)
        p.storeBytes(of: f.revenue, toByteOffset: 40, as: Int64.self)
        p.storeBytes(of: f.offerID, toByteOffset: 48, as: UInt32.self)
        p.storeBytes(of: f.affID, toByteOffset: 52, as: UInt32.self)
        p.storeBytes(of: f.event, toByteOffset: 56, as: UInt8.self)
        p.storeBytes(of: f.status.rawValue, toByteOffset: 57, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 58, as: UInt16.self)  // a conversion, state as recorded
        p.storeBytes(of: f.currency, toByteOffset: 60, as: UInt32.self)
        p.storeBytes(of: f.varOffset, toByteOffset: 64, as: UInt64.self)
        p.storeBytes(of: UInt32(f.varLength), toByteOffset: 72, as: UInt32.self)
        p.storeBytes(of: f.payoutCurrency, toByteOffset: 76, as: UInt32.self)
        p.storeBytes(of: UInt64(0), toByteOffset: 80, as: UInt64.self)  // no extras unless `writeExtras` says so
    }

    public static func varOffset(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 64, as: UInt64.self) }
    public static func varLength(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 72, as: UInt32.self)) }
    public static func offerID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 48, as: UInt32.self) }

    /// The record's checksum. A conversion's state byte (58) changes after sealing, so it reads as 0
    /// here, as it was when sealed (and in records written before it existed); a transition's byte 58
    /// never changes and counts (`ConversionState`).
    public static func checksum(_ p: UnsafeRawPointer, variable: UnsafeRawBufferPointer) -> UInt64 {
        let h = withHeaderWords(p) { Checksum.update(0x636f_6e76_6572_7473, $0) }
        return Checksum.finish(Checksum.update(h, variable))
    }

    public static func seal(_ p: UnsafeMutableRawPointer, variable: UnsafeRawBufferPointer) {
        p.storeBytes(of: checksum(p, variable: variable), toByteOffset: 88, as: UInt64.self)
    }

    public static func storedChecksum(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 88, as: UInt64.self) }
}

/// A conversion's status as the advertiser reported it.
public enum ConversionStatus: UInt8, Sendable {
    case approved = 0, pending = 1, rejected = 2

    public var name: StaticString {
        switch self {
        case .approved: "approved"
        case .pending: "pending"
        case .rejected: "rejected"
        }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ConversionStatus? {
        for raw in UInt8(0)...2 {
            let status = ConversionStatus(rawValue: raw)!
            let name = status.name
            if name.utf8CodeUnitCount == bytes.count && memcmp(name.utf8Start, bytes.baseAddress!, bytes.count) == 0 {
                return status
            }
        }
        return nil
    }
}

extension ClickSlot {
    public static func peer(_ p: UnsafeRawPointer) -> (high: UInt64, low: UInt64) {
        (p.load(fromByteOffset: 40, as: UInt64.self), p.load(fromByteOffset: 48, as: UInt64.self))
    }

    /// The variable fields of a click, in `Field` order, from its arena bytes.
    public static func fields(_ bytes: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        var result: [UnsafeRawBufferPointer] = []
        var offset = 0
        while offset + 2 <= bytes.count && result.count < Field.allCases.count {
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let end = min(bytes.count, offset + 2 + length)
            result.append(UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<end]))
            offset = end
        }
        return result
    }
}

extension ConversionRecord {
    /// At most this many bytes of unmapped parameters are kept with a conversion (the marker included).
    public static let maxExtrasBytes = 512
    /// What ends a cut extras block.
    public static let truncationMarker: StaticString = "&trackstar_truncated=1"

    /// After `write`, before `seal`: the variable bytes end with a `length`-byte extras block.
    public static func writeExtras(_ p: UnsafeMutableRawPointer, length: Int, truncated: Bool) {
        p.storeBytes(of: UInt16(length), toByteOffset: 80, as: UInt16.self)
        p.storeBytes(of: UInt8(1 | (truncated ? 2 : 0)), toByteOffset: 82, as: UInt8.self)
    }

    /// Why the conversion was recorded `rejected` by Trackstar itself (byte 83, formerly reserved
    /// and 0: none): 1 = `cap_reached` (issue 14). Written before `seal` (the checksum covers it).
    public static func rejectReason(_ p: UnsafeRawPointer) -> UInt8 { p.load(fromByteOffset: 83, as: UInt8.self) }
    public static func writeRejectReason(_ p: UnsafeMutableRawPointer, _ reason: UInt8) {
        p.storeBytes(of: reason, toByteOffset: 83, as: UInt8.self)
    }
    /// `rejectReason` of a conversion past a conversion cap.
    public static let capReached: UInt8 = 1

    public static func hasExtras(_ p: UnsafeRawPointer) -> Bool { p.load(fromByteOffset: 82, as: UInt8.self) & 1 != 0 }
    public static func extrasTruncated(_ p: UnsafeRawPointer) -> Bool { p.load(fromByteOffset: 82, as: UInt8.self) & 2 != 0 }
    /// Bytes of unmapped parameters (0 for none, and for records written before they were kept).
    public static func extrasLength(_ p: UnsafeRawPointer) -> Int {
        hasExtras(p) ? Int(p.load(fromByteOffset: 80, as: UInt16.self)) : 0
    }
    /// Bytes of the txid at the start of the variable bytes.
    public static func txidLength(_ p: UnsafeRawPointer) -> Int {
        max(0, varLength(p) - (hasExtras(p) ? 2 + extrasLength(p) : 0))
    }

    public static func timeMillis(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 8, as: Int64.self) }
    public static func amount(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 24, as: Int64.self) }
    public static func affID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 52, as: UInt32.self) }
    /// The currency of `amount`.
    public static func currency(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 60, as: UInt32.self) }
    /// The currency of payout and revenue; 0 in records written before the field existed.
    public static func payoutCurrency(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 76, as: UInt32.self) }
}

/// Where a shard's tables live under the data dir, and their segment sizes. The engine, recovery,
/// `inspect` and the exporter all open tables through here.
public enum ShardLayout {
    public static func directory(dataDir: String, shard: Int) -> String { "\(dataDir)/shard-\(shard)" }

    public static func clickTable(dataDir: String, shard: Int) -> RecordTable {
        RecordTable(stride: ClickSlot.stride, recordsPerSegment: 1 << 18, byteSegmentSize: 16 << 20,
                    directory: directory(dataDir: dataDir, shard: shard), name: "clicks")
    }

    public static func conversionTable(dataDir: String, shard: Int) -> RecordTable {
        RecordTable(stride: ConversionRecord.stride, recordsPerSegment: 1 << 16, byteSegmentSize: 4 << 20,
                    directory: directory(dataDir: dataDir, shard: shard), name: "conversions")
    }

    /// Shards found in `dataDir` (directories `shard-N`).
    public static func existingShards(dataDir: String) -> Int {
        let numbers = SegmentDirectory.entries(dataDir).compactMap { entry -> Int? in
            entry.hasPrefix("shard-") ? Int(entry.dropFirst(6)) : nil
        }
        return (numbers.max() ?? -1) + 1
    }
}

/// A refused postback, 48 bytes:
/// `timeMillis:8 | reason:2 | httpStatus:2 | reserved:4 | offerID:4 | affID:4 | varOffset:8 | varLength:4
///  | reserved:4 | checksum:8`. Variable bytes: the raw query string and form body, joined by '&'
/// (cut at `maxParamBytes`). The checksum covers bytes 0..<40 and the variable bytes.
public enum RefusalRecord {
    public static let stride = 48
    public static let maxParamBytes = 1024

    public static func timeMillis(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 0, as: Int64.self) }
    public static func reason(_ p: UnsafeRawPointer) -> RefusalReason {
        RefusalReason(rawValue: p.load(fromByteOffset: 8, as: UInt16.self)) ?? .other
    }
    public static func httpStatus(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 10, as: UInt16.self)) }
    public static func offerID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 16, as: UInt32.self) }
    public static func affID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 20, as: UInt32.self) }
    public static func varOffset(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 24, as: UInt64.self) }
    public static func varLength(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 32, as: UInt32.self)) }

    public static func write(_ p: UnsafeMutableRawPointer, timeMillis: Int64, reason: RefusalReason, httpStatus: Int,
                             offerID: UInt32, affID: UInt32, varOffset: UInt64, varLength: Int) {
        p.storeBytes(of: timeMillis, toByteOffset: 0, as: Int64.self)
        p.storeBytes(of: reason.rawValue, toByteOffset: 8, as: UInt16.self)
        p.storeBytes(of: UInt16(httpStatus), toByteOffset: 10, as: UInt16.self)
        p.storeBytes(of: offerID, toByteOffset: 16, as: UInt32.self)
        p.storeBytes(of: affID, toByteOffset: 20, as: UInt32.self)
        p.storeBytes(of: varOffset, toByteOffset: 24, as: UInt64.self)
        p.storeBytes(of: UInt32(varLength), toByteOffset: 32, as: UInt32.self)
    }

    public static func checksum(_ p: UnsafeRawPointer, variable: UnsafeRawBufferPointer) -> UInt64 {
        let h = Checksum.update(0x7265_6675_7365_64, UnsafeRawBufferPointer(start: p, count: 40))
        return Checksum.finish(Checksum.update(h, variable))
    }

    public static func seal(_ p: UnsafeMutableRawPointer, variable: UnsafeRawBufferPointer) {
        p.storeBytes(of: checksum(p, variable: variable), toByteOffset: 40, as: UInt64.self)
    }

    public static func storedChecksum(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 40, as: UInt64.self) }
}

extension ShardLayout {
    public static func refusalTable(dataDir: String, shard: Int) -> RecordTable {
        RecordTable(stride: RefusalRecord.stride, recordsPerSegment: 1 << 16, byteSegmentSize: 8 << 20,
                    directory: directory(dataDir: dataDir, shard: shard), name: "refusals")
    }
}
