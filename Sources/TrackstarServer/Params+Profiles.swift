// Postback parameters through sender profiles. One pass keeps each value as sent under its name's
// index in the catalog's name table (the offer, so the profile, is not known yet); `clickID` reads the
// click ID from the candidate names; once the offer is known `map` decodes the fields its profile
// names into the usual per-field slots. Nothing here allocates.
import TrackstarCore
import TrackstarHTTP

/// A value as the request carried it: bytes in the request, and which escapes remain to be decoded.
struct SentValue {
    var bytes: UnsafeRawBufferPointer
    /// Percent-escapes (query, form body).
    var encoded: Bool
    /// JSON string escapes (a JSON body's member).
    var jsonEscaped = false
}

/// Why a profile's fields could not be read; each names the field.
enum MappingProblem: Error, Equatable {
    case malformedEncoding(ParamField)
    case tooLong(ParamField)
    case conflicting(ParamField)
    /// A required field is an unfilled template.
    case unfilled(ParamField)
    /// A required field is absent.
    case missing(ParamField)
}

extension Params {
    /// Keeps every parameter of `range` in `buffer` whose name a profile in use lists (the rest are
    /// only counted: they are the extras a conversion keeps). A name repeated with another value is noted.
    mutating func collectNamed(_ buffer: UnsafeRawBufferPointer, range: ByteRange, nameScratch: UnsafeMutableRawBufferPointer,
                               names: PostbackNames) {
        collectNamed(buffer, range: range, nameScratch: nameScratch, names: names.lookup)
    }

    /// `collectNamed` over the table's plain form (what the postback path holds).
    mutating func collectNamed(_ buffer: UnsafeRawBufferPointer, range: ByteRange, nameScratch: UnsafeMutableRawBufferPointer,
                               names: PostbackNames.Lookup) {
        var scanner = QueryScanner(buffer, range: range)
        while let pair = scanner.next() {
            pairCount += 1
            var name = slice(buffer, pair.name)
            if pair.nameEncoded {
                guard let n = PercentDecoding.decode(name, into: nameScratch) else { continue }
                name = UnsafeRawBufferPointer(rebasing: nameScratch[0..<n])
            }
            // An empty value (`click_id=`) counts as absent (decoding never empties a value).
            guard let index = names.index(name), !pair.value.isEmpty else { continue }
            // `keep`, written out: callgrind showed the call at ~35 instructions a parameter.
            let value = slice(buffer, pair.value)
            if seen.contains(index) {
                if !Params.same(named[index].bytes, value) { repeatedDifferently.insert(index) }
                continue
            }
            named[index] = SentValue(bytes: value, encoded: pair.valueEncoded)
            seen.insert(index)
        }
    }

    /// Keeps `value` under name `index` (the first of repeated names; a different repeat is noted).
    /// Body decoders (form, JSON) call this for each pair whose name `PostbackNames.index` knows.
    @inline(__always)
    mutating func keep(_ index: Int, _ value: SentValue) {
        if seen.contains(index) {
            if !Params.same(named[index].bytes, value.bytes) { repeatedDifferently.insert(index) }
            return
        }
        named[index] = value
        seen.insert(index)
    }

    /// The value of name `index` decoded into `field`'s slot, or the spare slot once the field is set
    /// (or used in place when it has no escapes).
    @inline(__always)
    func decoded(_ index: Int, into field: ParamField) -> Result<UnsafeRawBufferPointer, MappingProblem> {
        let sent = named[index]
        if !sent.encoded && !sent.jsonEscaped {
            return sent.bytes.count <= slotSize ? .success(sent.bytes) : .failure(.tooLong(field))
        }
        let slot = has(field) ? ParamField.count : field.rawValue  // the spare slot after the last field
        let target = UnsafeMutableRawBufferPointer(start: storage + slot * slotSize, count: slotSize)
        if sent.jsonEscaped {
            guard let n = JSONString.decode(sent.bytes, into: target) else { return .failure(.tooLong(field)) }
            return .success(UnsafeRawBufferPointer(start: target.baseAddress, count: n))
        }
        guard let n = PercentDecoding.decode(sent.bytes, into: target) else {
            return .failure(sent.bytes.count > slotSize && Params.validEscapes(sent.bytes) ? .tooLong(field) : .malformedEncoding(field))
        }
        return .success(UnsafeRawBufferPointer(start: target.baseAddress, count: n))
    }

    /// Sets `field` (the value is a view into the request or the field's slot).
    @inline(__always)
    mutating func set(_ field: ParamField, _ value: UnsafeRawBufferPointer) {
        values[field.rawValue] = value
        present |= 1 << UInt32(field.rawValue)
    }

    @inline(__always)
    mutating func clear(_ field: ParamField) { present &= ~(1 << UInt32(field.rawValue)) }

    /// Decodes the fields `profile` names from the kept values. An unfilled template as the order id
    /// leaves it absent and is counted in `unfilled` (one bit per field; other optional fields are
    /// checked when they do not parse); in a required field it is a problem, as is a required field
    /// that is absent or a field given twice differently.
    mutating func map(_ profile: PostbackProfile, unfilled: inout UInt32) -> MappingProblem? {
        present &= 1 << UInt32(ParamField.clickID.rawValue)  // postback fields only ever come from here
        var words = seen.intersection(profile.mapped)
        while !words.isEmpty {
            let index = words.low != 0 ? words.low.trailingZeroBitCount : 64 + words.high.trailingZeroBitCount
            if index < 64 { words.low &= words.low - 1 } else { words.high &= words.high - 1 }
            let field = profile.fieldOf[index]
            if field == .clickID { continue }  // read already, by `clickID`
            if repeatedDifferently.contains(index) { return .conflicting(field) }
            let value: UnsafeRawBufferPointer
            switch decoded(index, into: field) {
            case .success(let v): value = v
            case .failure(let problem):
                // `%ORDER_ID%` is no valid escape, but it is an unfilled template: treat it as one.
                if case .malformedEncoding = problem, Placeholder.isUnfilled(named[index].bytes, words: profile.placeholders) {
                    if profile.required & (1 << UInt32(field.rawValue)) != 0 { return .unfilled(field) }
                    unfilled |= 1 << UInt32(field.rawValue)
                    continue
                }
                return problem
            }
            if has(field) {
                if !Params.same(self.value(field), value) { return .conflicting(field) }
                continue
            }
            // Only the order id can hold any text, so only it (and a required field) is looked at
            // here; the other fields look only when their value does not parse (`conversionRequest`),
            // which keeps the check off the common path.
            if (field == .txid || profile.required & (1 << UInt32(field.rawValue)) != 0)
                && Placeholder.isUnfilled(value, words: profile.placeholders) {
                if profile.required & (1 << UInt32(field.rawValue)) != 0 { return .unfilled(field) }
                unfilled |= 1 << UInt32(field.rawValue)
                continue
            }
            set(field, value)
        }
        let missing = profile.required & ~present
        if missing != 0 { return .missing(ParamField(rawValue: missing.trailingZeroBitCount)!) }
        hasExtras = pairCount > seen.intersection(profile.mapped).count
        return nil
    }
}
