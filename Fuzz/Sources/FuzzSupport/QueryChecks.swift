// The checks of the query decoder that more than one harness runs: QueryPairs against the reference
// split, and PercentDecoding (out of place, in place, into an exact and a short output, `equals`)
// against the reference decoder.
import TrackstarHTTP

/// QueryPairs over `range` equals the reference split; each name and value decodes as the reference does.
public func checkPairs(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) {
    let expected = Reference.pairs(Array(buffer[range.range]), base: Int(range.start))
    var index = 0
    for pair in QueryPairs(buffer, range: range) {
        require(index < expected.count, "QueryPairs yields more pairs than the reference")
        require(pair.name.range == expected[index].name && pair.value.range == expected[index].value,
                "pair \(index): \(pair.name)=\(pair.value) vs \(expected[index])")
        checkDecoding(UnsafeRawBufferPointer(rebasing: buffer[pair.name.range]))
        checkDecoding(UnsafeRawBufferPointer(rebasing: buffer[pair.value.range]))
        index += 1
    }
    require(index == expected.count, "QueryPairs yields \(index) pairs, reference \(expected.count)")
}

/// PercentDecoding.decode (out of place, in place, into too small an output) and equals vs the reference.
public func checkDecoding(_ raw: UnsafeRawBufferPointer) {
    let reference = Reference.percentDecode(Array(raw))
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: raw.count + 1, alignment: 1)
    defer { output.deallocate() }
    let n = PercentDecoding.decode(raw, into: output)
    if let reference {
        require(n == reference.count && Array(output[0..<reference.count]) == reference, "decode \(show(raw))")
        // Exactly large enough succeeds; one byte short fails.
        let exact = UnsafeMutableRawBufferPointer(rebasing: output[0..<reference.count])
        require(PercentDecoding.decode(raw, into: exact) == reference.count, "decode into exact output")
        if reference.count > 0 {
            let short = UnsafeMutableRawBufferPointer(rebasing: output[0..<(reference.count - 1)])
            require(PercentDecoding.decode(raw, into: short) == nil, "decode into short output")
        }
    } else {
        require(n == nil, "malformed \(show(raw)) decoded")
    }
    // In place (the documented aliasing guarantee).
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(raw.count, 1), alignment: 1)
    defer { copy.deallocate() }
    if let base = raw.baseAddress, raw.count > 0 { copy.baseAddress!.copyMemory(from: base, byteCount: raw.count) }
    let inPlace = UnsafeMutableRawBufferPointer(rebasing: copy[0..<raw.count])
    let m = PercentDecoding.decode(UnsafeRawBufferPointer(inPlace), into: inPlace)
    require(m == reference?.count, "in-place decode length")
    if let reference { require(Array(inPlace[0..<reference.count]) == reference, "in-place decode bytes") }
    // equals(_:_:) against the parameter names the server matches.
    for (literal, text) in literals {
        require(PercentDecoding.equals(raw, literal) == (reference == text), "equals(\(show(raw)), \(literal))")
    }
}

let literals: [(StaticString, [UInt8])] = [
    ("offer_id", Array("offer_id".utf8)), ("aff_id", Array("aff_id".utf8)), ("sub1", Array("sub1".utf8)),
    ("click_id", Array("click_id".utf8)), ("a b", Array("a b".utf8)), ("", []),
]
