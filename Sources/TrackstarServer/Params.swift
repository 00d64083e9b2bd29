// The parameters a click or postback may carry, decoded in place into one per-loop scratch area:
// a fixed slot per field, so extracting them never allocates.
import TrackstarHTTP

/// A known parameter. Aliases (TUNE's `aff_sub`, `transaction_id`, `goal`, …) map onto these.
enum ParamField: Int, CaseIterable {
    case offerID, affID, sub1, sub2, sub3, sub4, sub5, affClickID, source
    case clickID, event, amount, currency, txid, status, token

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
        ("token", .token), ("security_token", .token),
    ]

    /// The field a decoded name spells, if any.
    static func named(_ name: UnsafeRawBufferPointer) -> ParamField? {
        for (spelling, field) in spellings where spelling.utf8CodeUnitCount == name.count {
            if memcmp(spelling.utf8Start, name.baseAddress!, name.count) == 0 { return field }
        }
        return nil
    }
}

/// Why parameter extraction failed; each names the field.
enum ParamError {
    case malformedEncoding(ParamField)
    case tooLong(ParamField)
    case conflicting(ParamField)
}

/// Decoded parameter values for one request, valid until the next request on the same loop.
struct Params {
    let storage: UnsafeMutableRawPointer
    let slotSize: Int
    var lengths: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32,
                  Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var present: UInt32 = 0

    /// `storage` holds `ParamField.allCases.count` slots of `slotSize` bytes each.
    init(storage: UnsafeMutableRawPointer, slotSize: Int) {
        self.storage = storage; self.slotSize = slotSize
    }

    mutating func reset() { present = 0 }

    func has(_ field: ParamField) -> Bool { present & (1 << UInt32(field.rawValue)) != 0 }

    /// The decoded value (empty when absent).
    func value(_ field: ParamField) -> UnsafeRawBufferPointer {
        guard has(field) else { return UnsafeRawBufferPointer(start: storage, count: 0) }
        return UnsafeRawBufferPointer(start: storage + field.rawValue * slotSize, count: Int(length(field)))
    }

    func length(_ field: ParamField) -> Int32 {
        withUnsafeBytes(of: lengths) { $0.load(fromByteOffset: field.rawValue * 4, as: Int32.self) }
    }

    mutating func setLength(_ field: ParamField, _ n: Int32) {
        withUnsafeMutableBytes(of: &lengths) { $0.storeBytes(of: n, toByteOffset: field.rawValue * 4, as: Int32.self) }
    }

    /// Decodes every known parameter in `range` of `buffer` (a query string or form body).
    /// Unknown names are ignored (tracking links carry utm_* and the like); a repeated field must
    /// repeat the same value.
    mutating func collect(_ buffer: UnsafeRawBufferPointer, range: ByteRange, nameScratch: UnsafeMutableRawBufferPointer) -> ParamError? {
        for pair in QueryPairs(buffer, range: range) {
            let rawName = slice(buffer, pair.name)
            guard let nameLength = PercentDecoding.decode(rawName, into: nameScratch),
                  let field = ParamField.named(UnsafeRawBufferPointer(rebasing: nameScratch[0..<nameLength])) else { continue }
            if let error = store(field, raw: slice(buffer, pair.value)) { return error }
        }
        return nil
    }

    /// Decodes one value into its slot, or into the spare slot to compare with an earlier value.
    mutating func store(_ field: ParamField, raw: UnsafeRawBufferPointer) -> ParamError? {
        let repeated = has(field)
        let slot = repeated ? ParamField.allCases.count : field.rawValue  // the spare slot after the last field
        let target = UnsafeMutableRawBufferPointer(start: storage + slot * slotSize, count: slotSize)
        guard let n = PercentDecoding.decode(raw, into: target) else {
            return raw.count > slotSize && Params.validEscapes(raw) ? .tooLong(field) : .malformedEncoding(field)
        }
        if repeated {
            let earlier = value(field)
            guard earlier.count == n, n == 0 || memcmp(earlier.baseAddress!, target.baseAddress!, n) == 0 else {
                return .conflicting(field)
            }
            return nil
        }
        setLength(field, Int32(n))
        present |= 1 << UInt32(field.rawValue)
        return nil
    }

    /// True when every '%' is followed by two hex digits (to tell "too long" from "malformed").
    static func validEscapes(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "%") {
                guard i + 2 < raw.count, raw[i + 1].isHexDigit, raw[i + 2].isHexDigit else { return false }
                i += 3
            } else { i += 1 }
        }
        return true
    }

    func slice(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[Int(range.start)..<Int(range.end)])
    }

    /// Bytes of scratch a loop needs for `slotSize`-byte values: every field plus the spare slot.
    static func storageBytes(slotSize: Int) -> Int { (ParamField.allCases.count + 1) * slotSize }
}

extension UInt8 {
    var isHexDigit: Bool {
        (48...57).contains(self) || (65...70).contains(self) || (97...102).contains(self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
