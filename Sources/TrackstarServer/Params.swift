// The parameters a click or postback may carry, decoded in place into one per-loop scratch area:
// a fixed slot per field, so extracting them never allocates.
import TrackstarCore
import TrackstarHTTP
import TrackstarStore

/// Why parameter extraction failed; each names the field.
enum ParamError: Equatable {
    case malformedEncoding(ParamField)
    case tooLong(ParamField)
    case conflicting(ParamField)
}

/// Parameter values for one request, valid until the next request on the same loop. A value without
/// escapes is used in place (it points into the request bytes, which outlive the request's handling);
/// one with escapes is decoded into its field's slot of `storage`.
struct Params {
    let storage: UnsafeMutableRawPointer
    let slotSize: Int
    /// Each present field's value, indexed by `ParamField.rawValue`; lives in `storage` after the slots.
    let values: UnsafeMutablePointer<UnsafeRawBufferPointer>
    var present: UInt32 = 0
    /// Lenient (click) mode: the first value that was cut, kept as sent or dropped as a repeat.
    var adjustment: ParamError?
    /// Postbacks (Params+Profiles.swift): each profile name's value as sent, by `PostbackNames` index;
    /// lives in `storage` after the value table.
    let named: UnsafeMutablePointer<SentValue>
    /// Which names were seen, and which were repeated with another value.
    var seen = NameSet()
    var repeatedDifferently = NameSet()
    /// Every parameter of the request, known or not (more than the mapped ones: some are kept as extras).
    var pairCount = 0
    /// The name index the click ID was read from.
    var clickName = -1
    /// Set by `map`: the request has parameters its profile does not map (kept as extras).
    var hasExtras = false
    /// Where a conversion's unmapped parameters are gathered (`ConversionRecord.maxExtrasBytes`), in `storage`.
    var extrasBuffer: UnsafeMutableRawPointer { storage + Params.extrasOffset(slotSize: slotSize) }

    /// `storage` holds `Params.storageBytes(slotSize:)` bytes, 8-aligned.
    init(storage: UnsafeMutableRawPointer, slotSize: Int) {
        self.storage = storage; self.slotSize = slotSize
        let table = storage + Params.tableOffset(slotSize: slotSize)
        values = table.bindMemory(to: UnsafeRawBufferPointer.self, capacity: ParamField.count)
        values.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: ParamField.count)
        named = (storage + Params.namedOffset(slotSize: slotSize)).bindMemory(to: SentValue.self, capacity: PostbackNames.maxNames)
        named.initialize(repeating: SentValue(bytes: UnsafeRawBufferPointer(start: nil, count: 0), encoded: false),
                         count: PostbackNames.maxNames)
    }

    mutating func reset() {
        present = 0; adjustment = nil
        seen = NameSet(); repeatedDifferently = NameSet(); pairCount = 0; clickName = -1; hasExtras = false
    }

    @inline(__always)
    func has(_ field: ParamField) -> Bool { present & (1 << UInt32(field.rawValue)) != 0 }

    /// The decoded value (empty when absent).
    @inline(__always)
    func value(_ field: ParamField) -> UnsafeRawBufferPointer {
        guard has(field) else { return UnsafeRawBufferPointer(start: storage, count: 0) }
        return values[field.rawValue]
    }

    /// Narrows the order id to `OrderID.trimmed` (no white space or invisible characters at its
    /// ends), before it becomes an index key or is stored. Values are views, so nothing is copied.
    func trimOrderID() {
        guard has(.txid) else { return }
        values[ParamField.txid.rawValue] = OrderID.trimmed(values[ParamField.txid.rawValue])
    }

    /// Collects every known parameter in `range` of `buffer` (a query string or form body).
    /// Unknown names are ignored (tracking links carry utm_* and the like); a repeated field must
    /// repeat the same value; an empty value (`click_id=`) counts as absent. `lenient` (clicks: a
    /// shopper's browser must never get an error for a value) never fails: see `storeLenient`.
    mutating func collect(_ buffer: UnsafeRawBufferPointer, range: ByteRange, nameScratch: UnsafeMutableRawBufferPointer,
                          lenient: Bool = false) -> ParamError? {
        var scanner = QueryScanner(buffer, range: range)
        while let pair = scanner.next() {
            let name = slice(buffer, pair.name)
            let field: ParamField?
            if pair.nameEncoded {
                guard let nameLength = PercentDecoding.decode(name, into: nameScratch) else { continue }
                field = ParamField.named(UnsafeRawBufferPointer(rebasing: nameScratch[0..<nameLength]))
            } else {
                field = ParamField.named(name)
            }
            guard let field, !pair.value.isEmpty else { continue }  // empty: absent (decoding never empties a value)
            let raw = slice(buffer, pair.value)
            if lenient { storeLenient(field, raw: raw, encoded: pair.valueEncoded); continue }
            if let error = pair.valueEncoded ? store(field, encoded: raw) : store(field, plain: raw) { return error }
        }
        return nil
    }

    /// Keeps a value without escapes in place, or compares it with an earlier one.
    @inline(__always)
    mutating func store(_ field: ParamField, plain raw: UnsafeRawBufferPointer) -> ParamError? {
        guard raw.count <= slotSize else { return .tooLong(field) }
        if has(field) { return Params.same(value(field), raw) ? nil : .conflicting(field) }
        values[field.rawValue] = raw
        present |= 1 << UInt32(field.rawValue)
        return nil
    }

    /// Decodes a value with escapes into its slot, or into the spare slot to compare with an earlier value.
    mutating func store(_ field: ParamField, encoded raw: UnsafeRawBufferPointer) -> ParamError? {
        let repeated = has(field)
        let slot = repeated ? ParamField.count : field.rawValue  // the spare slot after the last field
        let target = UnsafeMutableRawBufferPointer(start: storage + slot * slotSize, count: slotSize)
        guard let n = PercentDecoding.decode(raw, into: target) else {
            return raw.count > slotSize && Params.validEscapes(raw) ? .tooLong(field) : .malformedEncoding(field)
        }
        let decoded = UnsafeRawBufferPointer(start: target.baseAddress, count: n)
        if repeated { return Params.same(value(field), decoded) ? nil : .conflicting(field) }
        values[field.rawValue] = decoded
        present |= 1 << UInt32(field.rawValue)
        return nil
    }

    /// Lenient mode: an over-long value is cut at `slotSize` (without splitting a UTF-8 sequence), a
    /// value with a broken escape is kept as sent (cut likewise), and a repeated field keeps its first
    /// value. The first such change is noted in `adjustment`; nothing fails.
    mutating func storeLenient(_ field: ParamField, raw: UnsafeRawBufferPointer, encoded: Bool) {
        let repeated = has(field)
        let slot = repeated ? ParamField.count : field.rawValue  // the spare slot after the last field
        var value = raw
        if encoded {
            let target = UnsafeMutableRawBufferPointer(start: storage + slot * slotSize, count: slotSize)
            if let (n, complete) = PercentDecoding.decodePrefix(raw, into: target) {
                value = UnsafeRawBufferPointer(start: target.baseAddress, count: n)
                if !complete {
                    value = Params.wholeUTF8Prefix(value)
                    note(.tooLong(field))
                }
            } else {
                note(.malformedEncoding(field))
            }
        }
        if value.count > slotSize {
            value = Params.wholeUTF8Prefix(UnsafeRawBufferPointer(rebasing: value[0..<slotSize]))
            note(.tooLong(field))
        }
        if repeated {
            if !Params.same(self.value(field), value) { note(.conflicting(field)) }
            return
        }
        values[field.rawValue] = value
        present |= 1 << UInt32(field.rawValue)
    }

    @inline(__always)
    mutating func note(_ change: ParamError) { if adjustment == nil { adjustment = change } }

    /// `value` without a UTF-8 sequence cut off at its end (a cut value stays valid text).
    static func wholeUTF8Prefix(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = value.count  // where the last sequence starts
        while start > 0 && value.count - start < 4 {
            start -= 1
            if value[start] & 0xC0 != 0x80 { break }
        }
        guard start < value.count else { return value }
        let lead = value[start]
        let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return value.count - start >= length ? value : UnsafeRawBufferPointer(rebasing: value[0..<start])
    }

    /// Byte equality of two values.
    @inline(__always)
    static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
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

    /// Where the value table starts in `storage`: after every field's slot and the spare slot, 8-aligned.
    static func tableOffset(slotSize: Int) -> Int { ((ParamField.count + 1) * slotSize + 7) & ~7 }

    /// Bytes of scratch a loop needs for `slotSize`-byte values: every field plus the spare slot, and
    /// the table of values.
    static func storageBytes(slotSize: Int) -> Int {
        extrasOffset(slotSize: slotSize) + ConversionRecord.maxExtrasBytes
    }

    /// Where the extras buffer starts in `storage`, after the postback names' values.
    static func extrasOffset(slotSize: Int) -> Int {
        namedOffset(slotSize: slotSize) + PostbackNames.maxNames * MemoryLayout<SentValue>.stride
    }

    /// Where the postback names' values start in `storage`, after the value table.
    static func namedOffset(slotSize: Int) -> Int {
        tableOffset(slotSize: slotSize) + ParamField.count * MemoryLayout<UnsafeRawBufferPointer>.stride
    }
}

extension UInt8 {
    var isHexDigit: Bool {
        (48...57).contains(self) || (65...70).contains(self) || (97...102).contains(self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
