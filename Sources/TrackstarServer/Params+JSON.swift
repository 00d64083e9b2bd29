// application/json postback bodies: the members of a flat object are kept by name, with the same
// repeat rules, as query and form parameters; the profile's fields are read from them the same way.
// Scanned in place.
import TrackstarHTTP

/// Why a JSON body could not be collected (its values are checked later, by the profile's fields).
enum BodyError: Equatable {
    /// What is wrong, at which byte of the body, and the field when the member's name is a known one.
    case malformedJSON(JSONProblem, offset: Int, field: ParamField?)
}

extension Params {
    /// Postbacks: the members of the JSON object in `range`, kept by profile name (`PostbackNames`)
    /// as `collectNamed` keeps query parameters. A string's contents (escapes decoded when the
    /// profile's field is read) or a number's literal text (`12.50` stays `12.50`) is the value; null
    /// or "" counts as absent; a name given twice, nesting, true/false or bad syntax is refused.
    /// `names` is the loop's set for telling member names apart; `nameScratch` receives escaped names. Unknown members
    /// are counted: they are extras, kept with the conversion (`ExtrasWriter.addJSON`).
    mutating func collectNamedJSON(_ buffer: UnsafeRawBufferPointer, range: ByteRange, names: JSONNameSet, profileNames: PostbackNames,
                                   nameScratch: UnsafeMutableRawBufferPointer) -> BodyError? {
        collectNamedJSON(buffer, range: range, names: names, profileNames: profileNames.lookup, nameScratch: nameScratch)
    }

    /// `collectNamedJSON` over the name table's plain form (what the postback path holds).
    mutating func collectNamedJSON(_ buffer: UnsafeRawBufferPointer, range: ByteRange, names: JSONNameSet, profileNames: PostbackNames.Lookup,
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
            keep(index, SentValue(bytes: slice(buffer, member.value), encoded: false, jsonEscaped: member.valueEscaped))
        }
    }
}

