// libFuzzer harness: the query/form decoder and the JSON body reader. The input is a query string and,
// split at its first 0xFF byte, a form body as well; or, split at a 0xFE byte that comes first, a JSON
// body. Checks QueryPairs and PercentDecoding against the reference models, and the server's own
// `Params.collect` / `collectJSON` (via @testable import; debug builds enable testing) against a model
// of their contract: known names (and aliases) are decoded into fixed slots, unknown names are
// ignored, a repeat must carry the same value, a value longer than the slot is `tooLong`, a bad
// escape is `malformedEncoding`, an empty value (or JSON null) is absent, and nothing is written
// outside the slots. For JSON also: `JSONObjectScanner` yields exactly the reference's members (names
// and values decoded) and refuses exactly what the reference refuses; a repeated member name or more
// than `JSONNameSet.maxMembers` members is refused.
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
        checkParams(input, ranges: [query], json: body, slotSize: [4, 16, 256][size % 3])
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

/// QueryPairs over `range` equals the reference split; every name and value decodes as the reference does.
func checkPairs(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) {
    let expected = Reference.pairs(Array(buffer[range.range]), base: Int(range.start))
    var index = 0
    for pair in QueryPairs(buffer, range: range) {
        require(index < expected.count, "QueryPairs yields more pairs than the reference")
        require(pair.name.range == expected[index].name && pair.value.range == expected[index].value,
                "pair \(index): \(pair.name)=\(pair.value) vs \(expected[index])")
        for part in [pair.name, pair.value] {
            let raw = UnsafeRawBufferPointer(rebasing: buffer[part.range])
            let reference = Reference.percentDecode(Array(raw))
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: raw.count, alignment: 1)
            defer { output.deallocate() }
            let n = PercentDecoding.decode(raw, into: output)
            require(n == reference?.count, "decode length of \(show(raw))")
            if let reference { require(Array(output[0..<reference.count]) == reference, "decode of \(show(raw))") }
        }
        index += 1
    }
    require(index == expected.count, "QueryPairs yields \(index) pairs, reference \(expected.count)")
}

/// What `Params.collect` (and `collectJSON`) must produce.
enum Expected: Equatable {
    case values([ParamField: [UInt8]])
    case malformed(ParamField)
    case tooLong(ParamField)
    case conflicting(ParamField)
    case jsonSyntax
    case jsonRepeatedName
    case jsonTooManyMembers
}

/// Every accepted spelling (aliases included) as bytes.
let spellings: [[UInt8]: ParamField] = Dictionary(uniqueKeysWithValues: ParamField.spellings.map {
    (Array(UnsafeRawBufferPointer(start: $0.0.utf8Start, count: $0.0.utf8CodeUnitCount)), $0.1)
})

/// The contract of `Params.collect`, over the query and then the body (and `collectJSON` over a JSON
/// body), with plain arrays.
func model(_ buffer: UnsafeRawBufferPointer, ranges: [ByteRange], json: ByteRange?, slotSize: Int) -> Expected {
    var values: [ParamField: [UInt8]] = [:]
    /// Stores one value as both collectors do.
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
    guard let json else { return .values(values) }
    let object = ReferenceJSON.flatObject(Array(buffer[json.range]))
    var seen = Set<[UInt8]>()
    for member in object.members {
        guard !seen.contains(member.name) else { return .jsonRepeatedName }
        guard seen.count < JSONNameSet.maxMembers else { return .jsonTooManyMembers }
        seen.insert(member.name)
        // Escaped names decode into the 64-byte name scratch; longer ones match nothing (none is that long).
        guard let field = spellings[member.name], member.kind != .null, !member.value.isEmpty else { continue }
        if let problem = store(field, member.value) { return problem }
    }
    return object.valid ? .values(values) : .jsonSyntax
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

func checkParams(_ buffer: UnsafeRawBufferPointer, ranges: [ByteRange], json: ByteRange? = nil, slotSize: Int) {
    // Guard bytes around the slots catch any write outside them.
    let guardBytes = 64
    let bytes = Params.storageBytes(slotSize: slotSize)
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes + 2 * guardBytes, alignment: 8)
    defer { memory.deallocate() }
    memory.initializeMemory(as: UInt8.self, repeating: 0xA5)
    let nameScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    defer { nameScratch.deallocate() }
    let names = JSONNameSet()
    defer { names.deallocate() }

    var params = Params(storage: memory.baseAddress! + guardBytes, slotSize: slotSize)
    params.reset()
    var error: ParamError?
    for range in ranges where error == nil {
        error = params.collect(buffer, range: range, nameScratch: nameScratch)
    }
    var jsonError: BodyError?
    if let json, error == nil {
        jsonError = params.collectJSON(buffer, range: json, names: names, nameScratch: nameScratch)
        if case .parameter(let problem)? = jsonError { error = problem }
    }
    let actual: Expected
    switch (error, jsonError) {
    case (nil, .malformedJSON(let problem, let offset, _)?):
        require(offset >= 0 && offset <= json!.count, "problem offset \(offset) outside the body")
        actual = problem == .duplicateName ? .jsonRepeatedName : problem == .tooManyMembers ? .jsonTooManyMembers : .jsonSyntax
    default: actual = outcome(error, params, slotSize)
    }
    let expected = model(buffer, ranges: ranges, json: json, slotSize: slotSize)
    require(actual == expected, "Params.collect gave \(actual), expected \(expected) for \(show(buffer)) (slot \(slotSize))")
    for i in 0..<guardBytes {
        require(memory[i] == 0xA5 && memory[guardBytes + bytes + i] == 0xA5, "Params wrote outside its slots")
    }
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
