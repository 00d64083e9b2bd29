// Parameter collection in process: the length-dispatched name match agrees with the `spellings`
// table, plain values are used in place, escaped ones are decoded, and limits and repeats hold.
import Testing
import TrackstarHTTP
@testable import TrackstarServer

/// The reference lookup: a linear search of `ParamField.spellings`.
private func reference(_ name: [UInt8]) -> ParamField? {
    ParamField.spellings.first { spelling, _ in
        Array(UnsafeRawBufferPointer(start: spelling.utf8Start, count: spelling.utf8CodeUnitCount)) == name
    }?.1
}

private func named(_ name: [UInt8]) -> ParamField? {
    name.withUnsafeBytes { ParamField.named($0) }
}

/// Collects `query` leniently (as /click does); returns the first adjustment and the values' bytes.
private func collectLeniently(_ query: String, slotSize: Int = 8) -> (ParamError?, [ParamField: [UInt8]]) {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: Params.storageBytes(slotSize: slotSize), alignment: 8)
    let nameScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    defer { storage.deallocate(); nameScratch.deallocate() }
    var params = Params(storage: storage, slotSize: slotSize)
    return Array(query.utf8).withUnsafeBytes { buffer in
        let error = params.collect(buffer, range: ByteRange(0..<buffer.count), nameScratch: nameScratch, lenient: true)
        #expect(error == nil)
        var values: [ParamField: [UInt8]] = [:]
        for field in ParamField.allCases where params.has(field) { values[field] = Array(params.value(field)) }
        return (params.adjustment, values)
    }
}

/// Collects `query` with `slotSize`-byte slots; returns the error or every present field's value.
private func collect(_ query: String, slotSize: Int = 32) -> (ParamError?, [ParamField: String]) {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: Params.storageBytes(slotSize: slotSize), alignment: 8)
    let nameScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    defer { storage.deallocate(); nameScratch.deallocate() }
    var params = Params(storage: storage, slotSize: slotSize)
    return Array(query.utf8).withUnsafeBytes { buffer in
        let error = params.collect(buffer, range: ByteRange(0..<buffer.count), nameScratch: nameScratch)
        var values: [ParamField: String] = [:]
        for field in ParamField.allCases where params.has(field) {
            values[field] = String(decoding: params.value(field), as: UTF8.self)
        }
        return (error, values)
    }
}

@Suite("Params")
struct ParamsTests {
    @Test func lenientModeCutsKeepsFirstAndNeverFails() {
        #expect(collectLeniently("sub1=abcdefghij").0 == .tooLong(.sub1))
        #expect(collectLeniently("sub1=abcdefghij").1[.sub1] == Array("abcdefgh".utf8))
        // "aaaaaaa" + "é" (2 bytes) is 9 bytes: cut to 7, never half of the "é".
        #expect(collectLeniently("sub1=aaaaaaa%C3%A9").1[.sub1] == Array("aaaaaaa".utf8))
        #expect(collectLeniently("sub1=aaaaaaa\u{e9}").1[.sub1] == Array("aaaaaaa".utf8))
        #expect(collectLeniently("sub1=aaaaaa%C3%A9").1[.sub1] == Array("aaaaaa\u{e9}".utf8))
        #expect(collectLeniently("sub1=a&aff_sub=b") == (.conflicting(.sub1), [.sub1: Array("a".utf8)]))
        #expect(collectLeniently("sub1=a&sub1=a").0 == nil)
        #expect(collectLeniently("sub2=%zz&sub1=ok") == (.malformedEncoding(.sub2), [.sub2: Array("%zz".utf8), .sub1: Array("ok".utf8)]))
        #expect(collectLeniently("sub1=toolongvalue&sub2=%zz").0 == .tooLong(.sub1))  // the first change is kept
    }

    @Test func fieldCountIsAllCases() {
        #expect(ParamField.count == ParamField.allCases.count)
    }

    @Test func namedAgreesWithSpellings() {
        for (spelling, field) in ParamField.spellings {
            let bytes = Array(UnsafeRawBufferPointer(start: spelling.utf8Start, count: spelling.utf8CodeUnitCount))
            #expect(named(bytes) == field, "\(bytes)")
            // Every one-byte change, cut and extension of a spelling matches what the table says.
            for i in bytes.indices {
                for replacement in [UInt8(ascii: "_"), UInt8(ascii: "x"), UInt8(ascii: "1"), bytes[i] ^ 0x20] {
                    var changed = bytes
                    changed[i] = replacement
                    #expect(named(changed) == reference(changed), "\(changed)")
                }
            }
            #expect(named(Array(bytes.dropLast())) == reference(Array(bytes.dropLast())))
            #expect(named(bytes + [0x31]) == reference(bytes + [0x31]))
        }
        #expect(named([]) == nil)
        #expect(named(Array("utm_source".utf8)) == nil)
    }

    @Test func plainAndEscapedValues() {
        let (error, values) = collect("offer_id=12&s%75b1=a+b%21&aff_click_id=x&utm_source=news&sub1=a%20b!")
        #expect(error == nil)
        #expect(values == [.offerID: "12", .sub1: "a b!", .affClickID: "x"])
    }

    @Test func limitsAndRepeats() {
        #expect(collect("sub1=abcd", slotSize: 4).1 == [.sub1: "abcd"])
        #expect(collect("sub1=abcde", slotSize: 4).0 == .tooLong(.sub1))
        #expect(collect("sub1=%41%42%43%44%45", slotSize: 4).0 == .tooLong(.sub1))
        #expect(collect("sub1=%4", slotSize: 4).0 == .malformedEncoding(.sub1))
        #expect(collect("sub1=a&aff_sub=a&aff_sub1=%61").0 == nil)
        #expect(collect("sub1=a&aff_sub=b").0 == .conflicting(.sub1))
        #expect(collect("sub1=%61&sub1=ab").0 == .conflicting(.sub1))
        // An empty value counts as absent (`click_id=` is missing, not malformed), repeated or not.
        #expect(collect("sub1=&sub1=").1 == [:])
        #expect(collect("click_id=&click_id=X&cid=").1 == [.clickID: "X"])
        #expect(collect("click_id=X&click_id=").0 == nil)
    }
}
