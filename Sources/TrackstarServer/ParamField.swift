// The names a click or postback parameter may be sent under (TUNE's aliases included) and the
// allocation-free match of a decoded name against them (`ParamField.named`, by length, then
// whole-word compares with `ShortBytes`).

/// A known parameter. Aliases (TUNE's `aff_sub`, `transaction_id`, `goal`, …) map onto these.
enum ParamField: Int, CaseIterable {
    case offerID, affID, sub1, sub2, sub3, sub4, sub5, affClickID, source
    case clickID, event, amount, currency, txid, status, token
    /// A sender-stated payout or revenue (read only through a sender profile that names them).
    case payout, revenue
    /// `/click?smartlink=ID` (issue 14, SmartLinks.swift).
    case smartlink

    /// `allCases.count` as a constant (the hot path must not build the `allCases` array).
    static var count: Int { 19 }

    /// The canonical name, used in error messages.
    var name: StaticString {
        switch self {
        case .offerID: "offer_id"
        case .affID: "aff_id"
        case .sub1: "sub1"
        case .sub2: "sub2"
        case .sub3: "sub3"
        case .sub4: "sub4"
        case .sub5: "sub5"
        case .affClickID: "aff_click_id"
        case .source: "source"
        case .clickID: "click_id"
        case .event: "event"
        case .amount: "amount"
        case .currency: "currency"
        case .txid: "txid"
        case .status: "status"
        case .token: "token"
        case .payout: "payout"
        case .revenue: "revenue"
        case .smartlink: "smartlink"
        }
    }

    /// Every accepted spelling.
    static let spellings: [(StaticString, ParamField)] = [
        ("offer_id", .offerID), ("aff_id", .affID), ("affiliate_id", .affID),
        ("sub1", .sub1), ("sub2", .sub2), ("sub3", .sub3), ("sub4", .sub4), ("sub5", .sub5),
        ("aff_sub", .sub1), ("aff_sub1", .sub1), ("aff_sub2", .sub2), ("aff_sub3", .sub3),
        ("aff_sub4", .sub4), ("aff_sub5", .sub5),
        ("aff_click_id", .affClickID), ("source", .source),
        ("click_id", .clickID), ("transaction_id", .clickID), ("clickid", .clickID), ("cid", .clickID),
        ("subid", .clickID), ("event", .event), ("goal", .event), ("amount", .amount),
        ("currency", .currency), ("txid", .txid), ("order_id", .txid), ("status", .status),
        ("token", .token), ("security_token", .token), ("smartlink", .smartlink),
    ]

    /// The field a decoded name spells, if any: dispatch on the length, then whole-word compares
    /// (callgrind showed the linear search over `spellings` with `memcmp` at ~1,000 instructions a
    /// postback). `spellings` stays the reference; a test checks that both agree.
    static func named(_ name: UnsafeRawBufferPointer) -> ParamField? {
        guard let p = name.baseAddress else { return nil }
        @inline(__always) func spells(_ literal: StaticString) -> Bool { ShortBytes.equal(p, literal) }
        switch name.count {
        case 3: return spells("cid") ? .clickID : nil
        case 4:
            if spells("sub1") { return .sub1 }
            if spells("sub2") { return .sub2 }
            if spells("sub3") { return .sub3 }
            if spells("sub4") { return .sub4 }
            if spells("sub5") { return .sub5 }
            if spells("txid") { return .txid }
            return spells("goal") ? .event : nil
        case 5:
            if spells("event") { return .event }
            if spells("token") { return .token }
            return spells("subid") ? .clickID : nil
        case 6:
            if spells("aff_id") { return .affID }
            if spells("amount") { return .amount }
            if spells("source") { return .source }
            return spells("status") ? .status : nil
        case 7:
            if spells("aff_sub") { return .sub1 }
            return spells("clickid") ? .clickID : nil
        case 8:
            if spells("offer_id") { return .offerID }
            if spells("click_id") { return .clickID }
            if spells("currency") { return .currency }
            if spells("order_id") { return .txid }
            if spells("aff_sub1") { return .sub1 }
            if spells("aff_sub2") { return .sub2 }
            if spells("aff_sub3") { return .sub3 }
            if spells("aff_sub4") { return .sub4 }
            return spells("aff_sub5") ? .sub5 : nil
        case 9: return spells("smartlink") ? .smartlink : nil
        case 12:
            if spells("aff_click_id") { return .affClickID }
            return spells("affiliate_id") ? .affID : nil
        case 14:
            if spells("transaction_id") { return .clickID }
            return spells("security_token") ? .token : nil
        default: return nil
        }
    }
}

/// Equality of a few bytes with a literal of 1 to 16 bytes using at most two overlapping loads a
/// side; the caller guarantees `p` holds `literal.utf8CodeUnitCount` readable bytes.
enum ShortBytes {
    @inline(__always)
    static func equal(_ p: UnsafeRawPointer, _ literal: StaticString) -> Bool {
        let q = UnsafeRawPointer(literal.utf8Start)
        let n = literal.utf8CodeUnitCount
        @inline(__always) func same<T: FixedWidthInteger>(_ type: T.Type) -> Bool {
            p.loadUnaligned(as: T.self) == q.loadUnaligned(as: T.self)
                && p.loadUnaligned(fromByteOffset: n - MemoryLayout<T>.size, as: T.self)
                    == q.loadUnaligned(fromByteOffset: n - MemoryLayout<T>.size, as: T.self)
        }
        if n >= 8 { return same(UInt64.self) }
        if n >= 4 { return same(UInt32.self) }
        if n >= 2 { return same(UInt16.self) }
        return n == 1 && p.load(as: UInt8.self) == q.load(as: UInt8.self)
    }
}
