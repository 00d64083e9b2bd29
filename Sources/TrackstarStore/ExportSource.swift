// What the log feeds (exporter, partner dispatcher) read: every shard's click, conversion and refusal tables, and the decoded rows
// it hands to sinks. Rows point into the mapped tables (no copies); they stay valid while the tables live.
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// A click as the sinks write it.
public struct ClickRow {
    /// `shard << 40 | sequence`: the click's id in the reports (conversions point at it).
    public var ref: UInt64
    public var shard: Int
    public var sequence: UInt64
    public var timeMillis: Int64
    public var offerID: UInt32
    public var affID: UInt32
    public var peer: (high: UInt64, low: UInt64)
    /// sub1…sub5, aff_click_id, source, user agent.
    public var fields: ClickFields
    /// Country, device, bot reason, unique flag (`.none` for a click recorded before enrichment).
    public var enrichment: ClickEnrichmentHead = .none
    /// ASN, fingerprint, OS and browser family (empty before enrichment).
    public var enrichmentTail: ClickEnrichmentTail = .empty

    /// A row to read clicks into (`ExportSource.readClick`).
    public static var empty: ClickRow {
        ClickRow(ref: 0, shard: 0, sequence: 0, timeMillis: 0, offerID: 0, affID: 0, peer: (0, 0), fields: .empty)
    }
}

/// The variable fields of a click, in `ClickSlot.Field` order, as views of the arena.
public struct ClickFields {
    public var sub1, sub2, sub3, sub4, sub5, affClickID, source, userAgent: UnsafeRawBufferPointer
    public static var empty: ClickFields { ClickFields(UnsafeRawBufferPointer(start: nil, count: 0)) }

    init(_ none: UnsafeRawBufferPointer) {
        sub1 = none; sub2 = none; sub3 = none; sub4 = none; sub5 = none; affClickID = none; source = none; userAgent = none
    }

    /// Splits a click's arena bytes (2-byte length, then bytes, per field).
    init(parsing bytes: UnsafeRawBufferPointer) {
        var end = 0
        self.init(parsing: bytes, end: &end)
    }

    /// Field `index` in `ClickSlot.Field` order.
    public subscript(index: Int) -> UnsafeRawBufferPointer {
        get {
            switch index {
            case 0: sub1
            case 1: sub2
            case 2: sub3
            case 3: sub4
            case 4: sub5
            case 5: affClickID
            case 6: source
            default: userAgent
            }
        }
        set {
            switch index {
            case 0: sub1 = newValue
            case 1: sub2 = newValue
            case 2: sub3 = newValue
            case 3: sub4 = newValue
            case 4: sub5 = newValue
            case 5: affClickID = newValue
            case 6: source = newValue
            default: userAgent = newValue
            }
        }
    }
}

/// A conversion, with its click's attributes copied in so reports need no join.
public struct ConversionRow {
    /// The public conversion id, `(shard << 40 | sequence) + 1`.
    public var id: UInt64
    /// The click's `shard << 40 | sequence`.
    public var clickRef: UInt64
    public var timeMillis: Int64
    public var offerID: UInt32
    public var affID: UInt32
    /// The event's stable id for its offer (`DATA_DIR/events`; 0 is `conversion`).
    public var eventIndex: Int
    public var status: ConversionStatus
    /// nil when the postback carried no amount.
    public var amount: Int64?
    public var payout: Int64
    public var revenue: Int64
    /// The currency of payout and revenue (the offer's), three letters (zeros if unknown).
    public var currency: (UInt8, UInt8, UInt8)
    /// The currency of `amount` (the sender's, or the offer's when it sent none); zeros without an amount.
    public var amountCurrency: (UInt8, UInt8, UInt8)
    public var txid: UnsafeRawBufferPointer
    /// The parameters the sender's profile did not map, as sent (`a=1&b=2`; empty for none).
    public var extras: UnsafeRawBufferPointer
    /// The click's mint time and variable fields (empty when the click is not in the logs).
    public var clickTimeMillis: Int64
    public var click: ClickFields
    /// For a transition (`previousStatus` set): the changed conversion, whose fields the row
    /// carries with the new status; `id` is then the transition's own log id (what deliveries key
    /// on). For a conversion, equal to `id`.
    public var conversionID: UInt64 = 0
    /// The status before this transition; nil for a conversion as recorded.
    public var previousStatus: ConversionStatus? = nil
    /// The conversion's version after this row (0: as recorded, then 1, 2 per transition).
    public var version: Int = 0
    /// When the transition happened (a conversion: its time).
    public var changedMillis: Int64 = 0
    /// Who made the transition, and the detail (peer address text, or the operator's reason).
    public var actor: TransitionActor? = nil
    public var detail: String = ""
    /// Whether a transition carried a new amount (`amount` is then that amount).
    public var amountChanged = false

    /// Whether the row is a transition of an earlier conversion.
    public var isTransition: Bool { previousStatus != nil }
    /// The click's country, device and the rest (`.none`/`.empty` when the click is not in the logs).
    public var clickEnrichment: ClickEnrichmentHead = .none
    public var clickEnrichmentTail: ClickEnrichmentTail = .empty
}

/// A refused postback.
public struct RefusalRow {
    /// `shard << 40 | sequence`.
    public var ref: UInt64
    public var timeMillis: Int64
    public var reason: RefusalReason
    public var httpStatus: Int
    public var offerID: UInt32
    public var affID: UInt32
    /// The raw query string and form body, joined with '&'.
    public var params: UnsafeRawBufferPointer
}

/// The tables of every shard and the functions that name clicks and events.
public final class ExportSource: @unchecked Sendable {  // tables synchronise themselves; closures are Sendable
    let tables: [[RecordTable]]  // [kind][shard]
    let clickIDText: @Sendable (Int, UInt64, Int64) -> String
    let eventName: @Sendable (UInt32, Int) -> String
    let offerCurrency: @Sendable (UInt32) -> UInt32
    let clickIDWriter: (@Sendable (Int, UInt64, Int64, UnsafeMutablePointer<UInt8>) -> Void)?

    /// - Parameters:
    ///   - clickIDText: the click ID text of (shard, sequence, mint time in ms), as the click's 302 carried it.
    ///   - eventName: the name of an offer's event id (0 is "conversion").
    ///   - offerCurrency: an offer's configured currency (packed as records store it, 0 if unknown), for
    ///     records written before they carried the currency of their payout.
    ///   - clickIDWriter: the same text written in place (`ClickID.textLength` bytes), so a sink that
    ///     copies it anyway makes no String per row; nil falls back to `clickIDText`.
    public init(clicks: [RecordTable], conversions: [RecordTable], refusals: [RecordTable],
                clickIDText: @escaping @Sendable (_ shard: Int, _ sequence: UInt64, _ mintMillis: Int64) -> String,
                eventName: @escaping @Sendable (_ offerID: UInt32, _ eventIndex: Int) -> String,
                offerCurrency: @escaping @Sendable (_ offerID: UInt32) -> UInt32 = { _ in 0 },
                clickIDWriter: (@Sendable (_ shard: Int, _ sequence: UInt64, _ mintMillis: Int64, _ into: UnsafeMutablePointer<UInt8>) -> Void)? = nil) {
        tables = [clicks, conversions, refusals]
        self.clickIDText = clickIDText
        self.eventName = eventName
        self.offerCurrency = offerCurrency
        self.clickIDWriter = clickIDWriter
    }

    /// Shards present (the longest of the three table arrays).
    public var shardCount: Int { tables.map(\.count).max() ?? 0 }

    /// The table of `kind` for `shard`, if there is one.
    public func table(_ kind: LogKind, shard: Int) -> RecordTable? {
        let list = tables[kind.rawValue]
        return shard < list.count ? list[shard] : nil
    }

    /// Records published in a log (acquire).
    public func published(_ kind: LogKind, shard: Int) -> UInt64 { table(kind, shard: shard)?.publishedCount ?? 0 }

    /// Where a record's arena bytes end (nil for a record that is not available, e.g. quarantined).
    public func byteEnd(_ kind: LogKind, shard: Int, sequence: UInt64) -> UInt64? {
        guard let p = table(kind, shard: shard)?.record(sequence) else { return nil }
        switch kind {
        case .clicks: return ClickSlot.varOffset(p) + UInt64(ClickSlot.varLength(p))
        case .conversions: return ConversionRecord.varOffset(p) + UInt64(ConversionRecord.varLength(p))
        case .refusals: return RefusalRecord.varOffset(p) + UInt64(RefusalRecord.varLength(p))
        }
    }

    /// When a published record happened (a click's mint time; nil when not available).
    public func timeMillis(_ kind: LogKind, shard: Int, sequence: UInt64) -> Int64? {
        guard let p = table(kind, shard: shard)?.record(sequence) else { return nil }
        switch kind {
        case .clicks: return ClickSlot.mintMillis(p)
        case .conversions: return ConversionRecord.timeMillis(p)
        case .refusals: return RefusalRecord.timeMillis(p)
        }
    }

    /// The published click at (shard, sequence).
    public func click(shard: Int, sequence: UInt64) -> ClickRow? {
        var row = ClickRow.empty
        return readClick(shard: shard, sequence: sequence, into: &row) ? row : nil
    }

    /// Reads the published click at (shard, sequence) into `row`, field by field (no copy of a whole
    /// row: a sink reading a span's clicks reuses one); false, leaving `row` as it was, when the click
    /// is not available.
    public func readClick(shard: Int, sequence: UInt64, into row: inout ClickRow) -> Bool {
        guard let table = table(.clicks, shard: shard), let p = table.record(sequence) else { return false }
        let bytes = table.bytes(at: ClickSlot.varOffset(p), count: ClickSlot.varLength(p))
        let head = ClickSlot.enrichment(p)
        var end = 0
        row.fields = ClickFields(parsing: bytes, end: &end)
        if head.wiped { row.fields.userAgent = UnsafeRawBufferPointer(start: nil, count: 0) }  // zeros, not an agent
        row.ref = UInt64(shard) << 40 | sequence
        row.shard = shard
        row.sequence = sequence
        row.timeMillis = ClickSlot.mintMillis(p)
        row.offerID = ClickSlot.offerID(p)
        row.affID = ClickSlot.affID(p)
        row.peer = ClickSlot.peer(p)
        row.enrichment = head
        row.enrichmentTail = head.enriched ? ExportSource.tail(bytes, from: end) : .empty
        return true
    }

    /// An enriched click's ninth field, which starts at `offset` of its arena bytes (`.empty` when malformed).
    static func tail(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> ClickEnrichmentTail {
        guard offset + 2 <= bytes.count else { return .empty }
        let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        guard offset + 2 + length <= bytes.count else { return .empty }
        return ClickEnrichmentTail(parsing: UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + length)])) ?? .empty
    }

    /// The published conversion at (shard, sequence), with its click's attributes.
    public func conversion(shard: Int, sequence: UInt64) -> ConversionRow? {
        guard let table = table(.conversions, shard: shard), let p = table.record(sequence) else { return nil }
        if ConversionRecord.kind(p) == .transition { return transition(shard: shard, sequence: sequence, p, table) }
        let clickRef = ConversionRecord.clickRef(p)
        let click = self.click(shard: Int(clickRef >> 40), sequence: clickRef & ClickID.maxSequence)
        let amount = ConversionRecord.amount(p)
        let currency = payoutCurrency(p)
        let amountCurrency = amount == ConversionRecord.noAmount ? 0 : ConversionRecord.currency(p)
        return ConversionRow(
            id: (UInt64(shard) << 40 | sequence) + 1, clickRef: clickRef, timeMillis: ConversionRecord.timeMillis(p),
            offerID: ConversionRecord.offerID(p), affID: ConversionRecord.affID(p), eventIndex: ConversionRecord.event(p),
            status: ConversionRecord.status(p), amount: amount == ConversionRecord.noAmount ? nil : amount,
            payout: ConversionRecord.payout(p), revenue: ConversionRecord.revenue(p),
            currency: ExportSource.letters(currency), amountCurrency: ExportSource.letters(amountCurrency),
            txid: table.bytes(at: ConversionRecord.varOffset(p), count: ConversionRecord.txidLength(p)),
            extras: ConversionRecord.hasExtras(p)
                ? table.bytes(at: ConversionRecord.varOffset(p) + UInt64(ConversionRecord.txidLength(p) + 2), count: ConversionRecord.extrasLength(p))
                : UnsafeRawBufferPointer(start: nil, count: 0),
            clickTimeMillis: click?.timeMillis ?? 0, click: click?.fields ?? .empty,
            conversionID: (UInt64(shard) << 40 | sequence) + 1, changedMillis: ConversionRecord.timeMillis(p),
            clickEnrichment: click?.enrichment ?? .none, clickEnrichmentTail: click?.enrichmentTail ?? .empty)
    }

    /// Whether the conversion-log record at (shard, sequence) is a transition (a cheap look at one byte).
    public func isTransition(shard: Int, sequence: UInt64) -> Bool {
        guard let p = table(.conversions, shard: shard)?.record(sequence) else { return false }
        return ConversionRecord.kind(p) == .transition
    }

    /// A transition as its conversion's row with the new status, version, actor and (if it carried
    /// one) amount; nil when the conversion is not available.
    func transition(shard: Int, sequence: UInt64, _ p: UnsafeRawPointer, _ table: RecordTable) -> ConversionRow? {
        let conversionID = TransitionRecord.conversionID(p)
        guard conversionID != 0, var row = conversion(shard: Int((conversionID - 1) >> 40), sequence: (conversionID - 1) & ClickID.maxSequence),
              !row.isTransition else { return nil }
        row.id = (UInt64(shard) << 40 | sequence) + 1
        row.status = ConversionRecord.status(p)
        row.previousStatus = TransitionRecord.previousStatus(p)
        row.version = TransitionRecord.version(p)
        row.changedMillis = ConversionRecord.timeMillis(p)
        let amount = ConversionRecord.amount(p)
        if amount != ConversionRecord.noAmount {
            row.amount = amount
            row.amountCurrency = ExportSource.letters(ConversionRecord.currency(p))
            row.amountChanged = true
        }
        let bytes = table.bytes(at: ConversionRecord.varOffset(p), count: ConversionRecord.varLength(p))
        row.actor = bytes.count > 0 ? TransitionActor(rawValue: bytes[0]) : nil
        let detail = bytes.count > 1 ? UnsafeRawBufferPointer(rebasing: bytes[1...]) : UnsafeRawBufferPointer(start: nil, count: 0)
        if row.actor == .postback && detail.count == 16 {
            row.detail = RowText.ip((detail.loadUnaligned(fromByteOffset: 0, as: UInt64.self), detail.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        } else {
            row.detail = String(decoding: detail, as: UTF8.self)
        }
        return row
    }

    /// The currency of a record's payout: stored in it, or for a record written before it was, the
    /// offer's configured currency (falling back to the stored currency when the offer is unknown).
    func payoutCurrency(_ p: UnsafeRawPointer) -> UInt32 {
        let stored = ConversionRecord.payoutCurrency(p)
        if stored != 0 { return stored }
        let configured = offerCurrency(ConversionRecord.offerID(p))
        return configured != 0 ? configured : ConversionRecord.currency(p)
    }

    static func letters(_ code: UInt32) -> (UInt8, UInt8, UInt8) {
        (UInt8(truncatingIfNeeded: code), UInt8(truncatingIfNeeded: code >> 8), UInt8(truncatingIfNeeded: code >> 16))
    }

    /// The published refusal at (shard, sequence).
    public func refusal(shard: Int, sequence: UInt64) -> RefusalRow? {
        guard let table = table(.refusals, shard: shard), let p = table.record(sequence) else { return nil }
        return RefusalRow(ref: UInt64(shard) << 40 | sequence, timeMillis: RefusalRecord.timeMillis(p),
                          reason: RefusalRecord.reason(p), httpStatus: RefusalRecord.httpStatus(p),
                          offerID: RefusalRecord.offerID(p), affID: RefusalRecord.affID(p),
                          params: table.bytes(at: RefusalRecord.varOffset(p), count: RefusalRecord.varLength(p)))
    }

    /// The click ID text of a click (what its 302 carried).
    public func clickID(shard: Int, sequence: UInt64, mintMillis: Int64) -> String { clickIDText(shard, sequence, mintMillis) }

    /// Calls `body` with the click ID text in a temporary buffer (no allocation with a `clickIDWriter`).
    public func withClickID<T>(shard: Int, sequence: UInt64, mintMillis: Int64, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        guard let clickIDWriter else {
            var text = clickIDText(shard, sequence, mintMillis)
            return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        }
        return withUnsafeTemporaryAllocation(byteCount: ClickID.textLength, alignment: 1) { buffer in
            clickIDWriter(shard, sequence, mintMillis, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// An offer's event name (by stable id).
    public func event(offerID: UInt32, index: Int) -> String { eventName(offerID, index) }
}

/// Text forms of values the rows hold as numbers.
public enum RowText {
    /// An address as text (dotted quad for IPv4-mapped, RFC 5952 for IPv6); empty for the unknown address.
    public static func ip(_ peer: (high: UInt64, low: UInt64)) -> String {
        withIP(peer) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with the address's text in a temporary buffer (no allocation for IPv4).
    public static func withIP<T>(_ peer: (high: UInt64, low: UInt64), _ body: (UnsafeRawBufferPointer) -> T) -> T {
        withUnsafeTemporaryAllocation(byteCount: 48, alignment: 1) { buffer in
            let count = format(peer, into: buffer)
            return body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// Writes the address's text into `out` (at least 46 bytes); returns its length.
    public static func format(_ peer: (high: UInt64, low: UInt64), into out: UnsafeMutableRawBufferPointer) -> Int {
        if peer.high == 0 && peer.low == 0 { return 0 }
        if peer.high == 0 && peer.low >> 32 == 0xffff {
            var at = 0
            for shift in stride(from: 24, through: 0, by: -8) {
                var octet = Int(peer.low >> UInt64(shift) & 0xff)
                if octet >= 100 { out[at] = UInt8(48 + octet / 100); at += 1; octet %= 100; out[at] = UInt8(48 + octet / 10); at += 1 }
                else if octet >= 10 { out[at] = UInt8(48 + octet / 10); at += 1 }
                out[at] = UInt8(48 + octet % 10); at += 1
                if shift > 0 { out[at] = UInt8(ascii: "."); at += 1 }
            }
            return at
        }
        var raw = (peer.high.bigEndian, peer.low.bigEndian)
        return withUnsafeBytes(of: &raw) { bytes in
            guard inet_ntop(AF_INET6, bytes.baseAddress, out.baseAddress!.assumingMemoryBound(to: CChar.self), socklen_t(out.count)) != nil else { return 0 }
            return strlen(out.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
    }
}
