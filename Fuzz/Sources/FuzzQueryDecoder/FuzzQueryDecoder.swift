// libFuzzer harness: the query/form decoder and the JSON body reader. The input is a query string and,
// split at its first 0xFF byte, a form body as well; or, split at a 0xFE byte that comes first, a JSON
// body. Checks QueryPairs and PercentDecoding against the reference models, and the server's own
// `Params.collect` (via @testable import; debug builds enable testing) against a model of its
// contract: known names (and aliases) are decoded into fixed slots, unknown names are ignored, a
// repeat must carry the same value, a value longer than the slot is `tooLong`, a bad escape is
// `malformedEncoding`, an empty value is absent, and nothing is written outside the slots. For JSON
// (a postback's body): `JSONObjectScanner` yields exactly the reference's members (names and values
// decoded) and refuses exactly what the reference refuses; `collectNamed` over the query then
// `collectNamedJSON` over the body keep, per name of the default profile, the first non-empty value
// (decoding to the reference's bytes, or `tooLong` / `malformedEncoding` when read into a slot) and
// note a later one sent differently; null or "" is absent; a repeated member name or more than
// `JSONNameSet.maxMembers` members is refused.
import FuzzSupport
import TrackstarHTTP
@testable import TrackstarServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let jsonSplit = input.firstIndex(of: 0xFE) ?? size
    let split = input.firstIndex(of: 0xFF) ?? size
    if jsonSplit < split {
        let query = ByteRange(0..<jsonSplit)
        let body = ByteRange((jsonSplit + 1)..<size)
        checkPairs(input, query)
        checkScanner(input, body)
        checkNamedJSON(input, query: query, json: body, slotSize: [4, 16, 256][size % 3])
        return 0
    }
    let query = ByteRange(0..<split)
    let body = ByteRange(min(split + 1, size)..<size)
    checkPairs(input, query)
    checkPairs(input, body)
    // One slot size per input (tiny ones reach `tooLong`; 256 is the server default).
    checkParams(input, ranges: [query, body], slotSize: [4, 16, 256][size % 3])
    return 0
}

/// What `Params.collect` must produce.
enum Expected: Equatable {
    case values([ParamField: [UInt8]])
    case malformed(ParamField)
    case tooLong(ParamField)
    case conflicting(ParamField)
}

/// Every accepted spelling (aliases included) as bytes.
let spellings: [[UInt8]: ParamField] = Dictionary(uniqueKeysWithValues: ParamField.spellings.map {
    (Array(UnsafeRawBufferPointer(start: $0.0.utf8Start, count: $0.0.utf8CodeUnitCount)), $0.1)
})

/// The contract of `Params.collect`, over the query and then the body, with plain arrays.
func model(_ buffer: UnsafeRawBufferPointer, ranges: [ByteRange], slotSize: Int) -> Expected {
    var values: [ParamField: [UInt8]] = [:]
    /// Stores one value as the collector does.
    func store(_ field: ParamField, _ value: [UInt8]) -> Expected? {
        guard value.count <= slotSize else { return .tooLong(field) }
        if let earlier = values[field] {
            guard earlier == value else { return .conflicting(field) }
        } else {
            values[field] = value
        }
        return nil
    }
    for range in ranges {
        for pair in Reference.pairs(Array(buffer[range.range]), base: Int(range.start)) {
            // Names decode into a 64-byte scratch; longer or malformed names match nothing.
            guard let name = Reference.percentDecode(Array(buffer[pair.name])), name.count <= 64,
                  let field = spellings[name] else { continue }
            guard !pair.value.isEmpty else { continue }  // an empty value is absent
            guard let value = Reference.percentDecode(Array(buffer[pair.value])) else { return .malformed(field) }
            if let problem = store(field, value) { return problem }
        }
    }
    return .values(values)
}

/// `JSONObjectScanner` over `range` yields the reference's members, then stops where the reference
/// finds the text invalid (or ends); escaped strings decode to the reference's bytes.
func checkScanner(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) {
    let reference = ReferenceJSON.flatObject(Array(buffer[range.range]))
    var scanner = JSONObjectScanner(buffer, range: range)
    var index = 0
    func decoded(_ part: ByteRange, _ escaped: Bool) -> [UInt8] {
        let raw = UnsafeRawBufferPointer(rebasing: buffer[part.range])
        guard escaped else { return Array(raw) }
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * raw.count, alignment: 1)  // \u0800 (6) gives 3 bytes
        defer { output.deallocate() }
        let n = JSONString.decode(raw, into: output)
        require(n != nil, "decode of \(show(raw)) does not fit \(2 * raw.count) bytes")
        if let n, n > 0 {  // one byte short of the decoded length is reported as too small
            let short = UnsafeMutableRawBufferPointer.allocate(byteCount: n - 1, alignment: 1)
            defer { short.deallocate() }
            require(JSONString.decode(raw, into: short) == nil, "decode into \(n - 1) bytes of \(n) succeeded")
        }
        return Array(output[0..<(n ?? 0)])
    }
    var valid = true
    do throws(JSONProblem) {
        while let member = try scanner.next() {
            require(index < reference.members.count, "scanner yields more members than the reference: \(show(buffer[range.range]))")
            let expected = reference.members[index]
            let kind: ReferenceJSON.Kind = member.kind == .string ? .string : member.kind == .number ? .number : .null
            require(kind == expected.kind && decoded(member.name, member.nameEscaped) == expected.name
                    && decoded(member.value, member.valueEscaped) == expected.value,
                    "member \(index) differs from the reference in \(show(buffer[range.range]))")
            require(JSONString.fingerprint(UnsafeRawBufferPointer(rebasing: buffer[member.name.range]), escaped: member.nameEscaped)
                    == expected.name.withUnsafeBytes { JSONString.fingerprint($0, escaped: false) },
                    "the fingerprint of a name differs from its decoded bytes'")
            index += 1
        }
        require(scanner.offset <= range.count, "offset past the body")
    } catch {
        valid = false
        require(scanner.offset >= 0 && scanner.offset <= range.count, "problem offset \(scanner.offset) outside the body")
    }
    require(valid == reference.valid, "scanner \(valid ? "accepts" : "refuses"), reference \(reference.valid ? "accepts" : "refuses") \(show(buffer[range.range]))")
    require(index == reference.members.count, "scanner yields \(index) members, reference \(reference.members.count) for \(show(buffer[range.range]))")
}

/// `Params` storage for one check, between guard bytes that catch any write outside the slots, with
/// the 64-byte name scratch the collectors take.
final class GuardedParams {
    static let guardBytes = 64
    let bytes: Int
    let memory: UnsafeMutableRawBufferPointer
    let nameScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    var params: Params

    init(slotSize: Int) {
        bytes = Params.storageBytes(slotSize: slotSize)
        memory = .allocate(byteCount: bytes + 2 * Self.guardBytes, alignment: 8)
        memory.initializeMemory(as: UInt8.self, repeating: 0xA5)
        params = Params(storage: memory.baseAddress! + Self.guardBytes, slotSize: slotSize)
        params.reset()
    }

    deinit {
        memory.deallocate()
        nameScratch.deallocate()
    }

    /// Stops the run when a guard byte changed.
    func requireGuardsIntact() {
        for i in 0..<Self.guardBytes {
            require(memory[i] == 0xA5 && memory[Self.guardBytes + bytes + i] == 0xA5, "Params wrote outside its slots")
        }
    }
}

func checkParams(_ buffer: UnsafeRawBufferPointer, ranges: [ByteRange], slotSize: Int) {
    let storage = GuardedParams(slotSize: slotSize)
    var error: ParamError?
    for range in ranges where error == nil {
        error = storage.params.collect(buffer, range: range, nameScratch: storage.nameScratch)
    }
    let actual = outcome(error, storage.params, slotSize)
    let expected = model(buffer, ranges: ranges, slotSize: slotSize)
    require(actual == expected, "Params.collect gave \(actual), expected \(expected) for \(show(buffer)) (slot \(slotSize))")
    storage.requireGuardsIntact()
}

/// What a postback keeps of a query and a JSON body, by name (`Params.collectNamed`, `collectNamedJSON`).
enum NamedOutcome: Equatable {
    /// Per name index of the default profile's table: the value read into a slot (or why it could
    /// not be), and whether a later value was sent differently.
    case kept([Int: KeptValue])
    case jsonSyntax
    case jsonRepeatedName
    case jsonTooManyMembers
}

enum KeptValue: Equatable {
    case value([UInt8], repeatedDifferently: Bool)
    case tooLong(repeatedDifferently: Bool)
    case malformed(repeatedDifferently: Bool)
}

/// `collectNamed` over `query` then `collectNamedJSON` over `json`, against a model built from the
/// reference decoders and a plain search of the name table.
func checkNamedJSON(_ buffer: UnsafeRawBufferPointer, query: ByteRange, json: ByteRange, slotSize: Int) {
    let names = ProfileTable.builtinDefault.names
    // The model. Raw values are compared as sent (a repeat is noted when its bytes differ).
    var first: [Int: (raw: [UInt8], decoded: [UInt8]?)] = [:]
    var differs = Set<Int>()
    func note(_ index: Int, raw: [UInt8], decoded: [UInt8]?) {
        if let earlier = first[index] {
            if earlier.raw != raw { differs.insert(index) }
        } else {
            first[index] = (raw, decoded)
        }
    }
    for pair in Reference.pairs(Array(buffer[query.range]), base: Int(query.start)) {
        // Names decode into a 64-byte scratch; longer or malformed names match nothing.
        guard let name = Reference.percentDecode(Array(buffer[pair.name])), name.count <= 64,
              let index = names.names.firstIndex(of: name), !pair.value.isEmpty else { continue }
        note(index, raw: Array(buffer[pair.value]), decoded: Reference.percentDecode(Array(buffer[pair.value])))
    }
    let object = ReferenceJSON.flatObject(Array(buffer[json.range]))
    var scanner = JSONObjectScanner(buffer, range: json)  // its members equal the reference's (`checkScanner`)
    var memberNames = Set<[UInt8]>()
    var expected: NamedOutcome?
    for member in object.members {
        guard let raw = try? scanner.next() else { break }
        guard !memberNames.contains(member.name) else { expected = .jsonRepeatedName; break }
        guard memberNames.count < JSONNameSet.maxMembers else { expected = .jsonTooManyMembers; break }
        memberNames.insert(member.name)
        guard member.name.count <= 64 || !raw.nameEscaped, let index = names.names.firstIndex(of: member.name),
              member.kind != .null, !member.value.isEmpty else { continue }
        note(index, raw: Array(buffer[raw.value.range]), decoded: member.value)
    }
    if expected == nil && !object.valid { expected = .jsonSyntax }
    if expected == nil {
        var kept: [Int: KeptValue] = [:]
        for (index, value) in first {
            let repeated = differs.contains(index)
            guard let decoded = value.decoded else { kept[index] = .malformed(repeatedDifferently: repeated); continue }
            kept[index] = decoded.count > slotSize ? .tooLong(repeatedDifferently: repeated) : .value(decoded, repeatedDifferently: repeated)
        }
        expected = .kept(kept)
    }

    // The real thing, between guard bytes.
    let storage = GuardedParams(slotSize: slotSize)
    let nameScratch = storage.nameScratch
    let jsonNames = JSONNameSet()
    defer { jsonNames.deallocate() }
    storage.params.collectNamed(buffer, range: query, nameScratch: nameScratch, names: names)
    let jsonResult = storage.params.collectNamedJSON(buffer, range: json, names: jsonNames, profileNames: names, nameScratch: nameScratch)
    let params = storage.params
    let actual: NamedOutcome
    switch jsonResult {
    case .malformedJSON(let problem, let offset, _)?:
        require(offset >= 0 && offset <= json.count, "problem offset \(offset) outside the body")
        actual = problem == .duplicateName ? .jsonRepeatedName : problem == .tooManyMembers ? .jsonTooManyMembers : .jsonSyntax
    case nil:
        var kept: [Int: KeptValue] = [:]
        for index in 0..<names.names.count where params.seen.contains(index) {
            let repeated = params.repeatedDifferently.contains(index)
            switch params.decoded(index, into: .clickID) {
            case .success(let value):
                require(value.count <= slotSize, "name \(index) read \(value.count) bytes into a \(slotSize)-byte slot")
                kept[index] = .value(Array(value), repeatedDifferently: repeated)
            case .failure(.tooLong): kept[index] = .tooLong(repeatedDifferently: repeated)
            case .failure: kept[index] = .malformed(repeatedDifferently: repeated)
            }
        }
        actual = .kept(kept)
    }
    require(actual == expected, "collectNamed + collectNamedJSON gave \(actual), expected \(expected!) for \(show(buffer)) (slot \(slotSize))")
    storage.requireGuardsIntact()
}

/// What a collection gave, as an `Expected`.
func outcome(_ error: ParamError?, _ params: Params, _ slotSize: Int) -> Expected {
    let actual: Expected
    switch error {
    case .malformedEncoding(let field)?: actual = .malformed(field)
    case .tooLong(let field)?: actual = .tooLong(field)
    case .conflicting(let field)?: actual = .conflicting(field)
    case nil:
        var values: [ParamField: [UInt8]] = [:]
        for field in ParamField.allCases where params.has(field) {
            let value = params.value(field)
            require(value.count <= slotSize, "\(field) holds \(value.count) bytes in a \(slotSize)-byte slot")
            values[field] = Array(value)
        }
        actual = .values(values)
    }
    return actual
}
