// JSON body collection in process: members land in the same fields as query parameters (aliases,
// escapes decoded, numbers as their literal text, null and "" absent), with the same repeat rules,
// and malformed bodies or repeated names are reported with the field when it is a known one.
import Testing
import TrackstarHTTP
@testable import TrackstarServer

/// Collects `query` then the JSON `body` (as a POST does); returns the error or every present field's value.
private func collect(query: String = "", _ body: String, slotSize: Int = 32) -> (BodyError?, [ParamField: String]) {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: Params.storageBytes(slotSize: slotSize), alignment: 8)
    let nameScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    let names = JSONNameSet()
    defer { storage.deallocate(); nameScratch.deallocate(); names.deallocate() }
    var params = Params(storage: storage, slotSize: slotSize)
    let bytes = Array(query.utf8) + Array(body.utf8)
    return bytes.withUnsafeBytes { buffer in
        var error: BodyError? = params.collect(buffer, range: ByteRange(0..<query.utf8.count), nameScratch: nameScratch).map { .parameter($0) }
        if error == nil {
            error = params.collectJSON(buffer, range: ByteRange(query.utf8.count..<buffer.count), names: names, nameScratch: nameScratch)
        }
        var values: [ParamField: String] = [:]
        for field in ParamField.allCases where params.has(field) { values[field] = String(decoding: params.value(field), as: UTF8.self) }
        return (error, values)
    }
}

@Suite("JSON body parameters")
struct ParamsJSONTests {
    @Test func membersLandInTheirFields() {
        let r = collect(#"{"transaction_id":"ID1","goal":"sale","amount":12.50,"currency":"EUR","order_id":"o\"1","utm":"x","n":null}"#)
        #expect(r.0 == nil)
        #expect(r.1 == [.clickID: "ID1", .event: "sale", .amount: "12.50", .currency: "EUR", .txid: "o\"1"])
        // An escaped name is matched after decoding; an escaped value decoded into its slot.
        #expect(collect(#"{"click\u005fid":"\u0041B"}"#).1 == [.clickID: "AB"])
        #expect(collect(#"{"click_id":"","amount":null,"txid":""}"#).1 == [:])
    }

    @Test func sameRulesAsTheQuery() {
        #expect(collect(query: "click_id=A", #"{"cid":"A"}"#).0 == nil)
        #expect(collect(query: "click_id=A", #"{"cid":"B"}"#).0 == .parameter(.conflicting(.clickID)))
        #expect(collect(#"{"txid":"a","order_id":"b"}"#).0 == .parameter(.conflicting(.txid)))
        #expect(collect(#"{"txid":"a","order_id":"\u0061"}"#).0 == nil)
        #expect(collect(#"{"sub1":"abcde"}"#, slotSize: 4).0 == .parameter(.tooLong(.sub1)))
        #expect(collect(#"{"sub1":"\u0041bcde"}"#, slotSize: 4).0 == .parameter(.tooLong(.sub1)))
        #expect(collect(#"{"sub1":"\u00e9\u00e9"}"#, slotSize: 4).1 == [.sub1: "éé"])
    }

    @Test func malformedBodiesNameTheProblemAndTheField() {
        #expect(collect(#"{"click_id":"A","click_id":"A"}"#).0 == .malformedJSON(.duplicateName, offset: 16, field: .clickID))
        #expect(collect(#"{"x":1,"\u0078":1}"#).0 == .malformedJSON(.duplicateName, offset: 7, field: nil))
        #expect(collect(query: "a=1", #"{"x":{}}"#).0 == .malformedJSON(.nested, offset: 5, field: nil))
        #expect(collect(#"{"#).0 == .malformedJSON(.expectedName, offset: 1, field: nil))
        // A long escaped name is not a known field but still counts for repeats.
        let long = String(repeating: "\\u0061", count: 80)
        #expect(collect(#"{"\#(long)":1,"\#(String(repeating: "a", count: 80))":2}"#).0?.isDuplicate == true)
    }
}

extension BodyError {
    var isDuplicate: Bool { if case .malformedJSON(.duplicateName, _, _) = self { true } else { false } }
}
