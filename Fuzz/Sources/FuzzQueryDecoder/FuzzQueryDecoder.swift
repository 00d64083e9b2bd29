// libFuzzer harness: the query/form decoder. The input is a query string (and, split at its first
// 0xFF byte, a form body as well). Checks QueryPairs and PercentDecoding against the reference models,
// and the server's own `Params.collect` (via @testable import; debug builds enable testing) against a
// model of its contract: known names (and aliases) are decoded into fixed slots, unknown names are
// ignored, a repeat must carry the same value, a value longer than the slot is `tooLong`, a bad
// escape is `malformedEncoding`, and nothing is written outside the slots.
import FuzzSupport
import TrackstarHTTP
@testable import TrackstarServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let split = input.firstIndex(of: 0xFF) ?? size
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
    for range in ranges {
        for pair in Reference.pairs(Array(buffer[range.range]), base: Int(range.start)) {
            // Names decode into a 64-byte scratch; longer or malformed names match nothing.
            guard let name = Reference.percentDecode(Array(buffer[pair.name])), name.count <= 64,
                  let field = spellings[name] else { continue }
            guard let value = Reference.percentDecode(Array(buffer[pair.value])) else { return .malformed(field) }
            guard value.count <= slotSize else { return .tooLong(field) }
            if let earlier = values[field] {
                guard earlier == value else { return .conflicting(field) }
            } else {
                values[field] = value
            }
        }
    }
    return .values(values)
}

func checkParams(_ buffer: UnsafeRawBufferPointer, ranges: [ByteRange], slotSize: Int) {
    // Guard bytes around the slots catch any write outside them.
    let guardBytes = 64
    let bytes = Params.storageBytes(slotSize: slotSize)
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes + 2 * guardBytes, alignment: 8)
    defer { memory.deallocate() }
    memory.initializeMemory(as: UInt8.self, repeating: 0xA5)
    let nameScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    defer { nameScratch.deallocate() }

    var params = Params(storage: memory.baseAddress! + guardBytes, slotSize: slotSize)
    params.reset()
    var error: ParamError?
    for range in ranges where error == nil {
        error = params.collect(buffer, range: range, nameScratch: nameScratch)
    }
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
    let expected = model(buffer, ranges: ranges, slotSize: slotSize)
    require(actual == expected, "Params.collect gave \(actual), expected \(expected) for \(show(buffer)) (slot \(slotSize))")
    for i in 0..<guardBytes {
        require(memory[i] == 0xA5 && memory[guardBytes + bytes + i] == 0xA5, "Params wrote outside its slots")
    }
}
