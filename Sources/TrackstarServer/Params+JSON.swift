// application/json postback bodies: the members of a flat object land in the same fields, by the same
// names and with the same repeat rules, as query and form parameters. Scanned and decoded in place.
import TrackstarHTTP

/// Why a body could not be collected: a parameter problem (as for a query), or a malformed JSON body.
enum BodyError: Equatable {
    case parameter(ParamError)
    /// What is wrong, at which byte of the body, and the field when the member's name is a known one.
    case malformedJSON(JSONProblem, offset: Int, field: ParamField?)
}

extension Params {
    /// Collects the members of the JSON object in `range` of `buffer`. A string's contents (escapes
    /// decoded) or a number's literal text (`12.50` stays `12.50`) is the value; null or "" counts as
    /// absent; a name given twice, nesting, true/false or bad syntax is refused. `names` is the loop's
    /// set for telling member names apart; `nameScratch` receives escaped names.
    mutating func collectJSON(_ buffer: UnsafeRawBufferPointer, range: ByteRange, names: JSONNameSet,
                              nameScratch: UnsafeMutableRawBufferPointer) -> BodyError? {
        names.removeAll()
        var scanner = JSONObjectScanner(buffer, range: range)
        while true {
            let member: JSONMember
            do throws(JSONProblem) {
                guard let next = try scanner.next() else { return nil }
                member = next
            } catch {
                return .malformedJSON(error, offset: scanner.offset, field: nil)
            }
            let name = slice(buffer, member.name)
            let field: ParamField?
            if member.nameEscaped {
                let length = JSONString.decode(name, into: nameScratch)  // nil: longer than any known name
                field = length.flatMap { ParamField.named(UnsafeRawBufferPointer(rebasing: nameScratch[0..<$0])) }
            } else {
                field = ParamField.named(name)
            }
            if let problem = names.insert(JSONString.fingerprint(name, escaped: member.nameEscaped)) {
                return .malformedJSON(problem, offset: Int(member.name.start) - 1 - Int(range.start), field: field)
            }
            guard let field, member.kind != .null, !member.value.isEmpty else { continue }
            let raw = slice(buffer, member.value)
            let error = member.valueEscaped ? store(field, escapedJSON: raw) : store(field, plain: raw)
            if let error { return .parameter(error) }
        }
    }

    /// Decodes a JSON string with escapes into its slot, or into the spare slot to compare with an earlier value.
    mutating func store(_ field: ParamField, escapedJSON raw: UnsafeRawBufferPointer) -> ParamError? {
        let repeated = has(field)
        let slot = repeated ? ParamField.count : field.rawValue  // the spare slot after the last field
        let target = UnsafeMutableRawBufferPointer(start: storage + slot * slotSize, count: slotSize)
        guard let n = JSONString.decode(raw, into: target) else { return .tooLong(field) }
        let decoded = UnsafeRawBufferPointer(start: target.baseAddress, count: n)
        if repeated { return Params.same(value(field), decoded) ? nil : .conflicting(field) }
        values[field.rawValue] = decoded
        present |= 1 << UInt32(field.rawValue)
        return nil
    }
}

extension Params {
    /// Postbacks: the members of the JSON object in `range`, kept by profile name (`PostbackNames`)
    /// as `collectNamed` keeps query parameters; same syntax rules as `collectJSON`. Unknown members
    /// are counted (they are extras, though only query and form parameters are stored as extras).
    mutating func collectNamedJSON(_ buffer: UnsafeRawBufferPointer, range: ByteRange, names: JSONNameSet, profileNames: PostbackNames,
                                   nameScratch: UnsafeMutableRawBufferPointer) -> BodyError? {
        names.removeAll()
        var scanner = JSONObjectScanner(buffer, range: range)
        while true {
            let member: JSONMember
            do throws(JSONProblem) {
                guard let next = try scanner.next() else { return nil }
                member = next
            } catch {
                return .malformedJSON(error, offset: scanner.offset, field: nil)
            }
            var name = slice(buffer, member.name)
            if member.nameEscaped {
                let length = JSONString.decode(name, into: nameScratch)  // nil: longer than any profile name
                name = length.map { UnsafeRawBufferPointer(rebasing: nameScratch[0..<$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
            }
            if let problem = names.insert(JSONString.fingerprint(slice(buffer, member.name), escaped: member.nameEscaped)) {
                // The message names the member by Trackstar's own spelling when it has one.
                return .malformedJSON(problem, offset: Int(member.name.start) - 1 - Int(range.start),
                                      field: name.isEmpty ? nil : ParamField.named(name))
            }
            pairCount += 1
            guard !name.isEmpty, let index = profileNames.index(name), member.kind != .null, !member.value.isEmpty else { continue }
            let value = SentValue(bytes: slice(buffer, member.value), encoded: false, jsonEscaped: member.valueEscaped)
            if seen.contains(index) {
                if !Params.same(named[index].bytes, value.bytes) { repeatedDifferently.insert(index) }
                continue
            }
            named[index] = value
            seen.insert(index)
        }
    }
}

