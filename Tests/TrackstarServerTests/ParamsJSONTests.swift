// JSON body collection in process, as a postback does it: members are kept by profile name
// (`collectNamedJSON`) after the query's parameters, then the default profile's fields are read from
// them (escapes decoded, numbers as their literal text, null and "" absent) with the same repeat rules
// as the query; malformed bodies or repeated names are reported with the field when it is a known one.
import Testing
import TrackstarHTTP
@testable import TrackstarServer

/// What collecting `query` then the JSON `body` gave: the body's problem, the default profile's
/// mapping problem, every mapped field's value, and the value kept under each name asked for.
private struct Collected {
    var body: BodyError?
    var mapping: MappingProblem?
    var fields: [ParamField: String] = [:]
    var kept: [String: String] = [:]
    var hasExtras = false
}

private func collect(query: String = "", _ body: String, slotSize: Int = 32, kept names: [String] = []) -> Collected {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: Params.storageBytes(slotSize: slotSize), alignment: 8)
    let nameScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    let jsonNames = JSONNameSet()
    defer { storage.deallocate(); nameScratch.deallocate(); jsonNames.deallocate() }
    let profiles = ProfileTable.builtinDefault
    var params = Params(storage: storage, slotSize: slotSize)
    params.reset()
    let bytes = Array(query.utf8) + Array(body.utf8)
    return bytes.withUnsafeBytes { buffer in
        var result = Collected()
        params.collectNamed(buffer, range: ByteRange(0..<query.utf8.count), nameScratch: nameScratch, names: profiles.names)
        result.body = params.collectNamedJSON(buffer, range: ByteRange(query.utf8.count..<buffer.count), names: jsonNames,
                                              profileNames: profiles.names, nameScratch: nameScratch)
        for name in names {
            guard let index = Array(name.utf8).withUnsafeBytes({ profiles.names.index($0) }), params.seen.contains(index),
                  case .success(let value) = params.decoded(index, into: .clickID) else { continue }
            result.kept[name] = String(decoding: value, as: UTF8.self)
        }
        guard result.body == nil else { return result }
        var unfilled: UInt32 = 0
        result.mapping = params.map(profiles.serverDefault, unfilled: &unfilled)
        for field in ParamField.allCases where field != .clickID && params.has(field) {
            result.fields[field] = String(decoding: params.value(field), as: UTF8.self)
        }
        result.hasExtras = params.hasExtras
        return result
    }
}

@Suite("JSON body parameters")
struct ParamsJSONTests {
    @Test func membersAreKeptByNameAndReadIntoTheProfilesFields() {
        let r = collect(#"{"transaction_id":"ID1","goal":"sale","amount":12.50,"currency":"EUR","order_id":"o\"1","utm":"x","n":null}"#,
                        kept: ["transaction_id", "click_id"])
        #expect(r.body == nil && r.mapping == nil)
        #expect(r.fields == [.event: "sale", .amount: "12.50", .currency: "EUR", .txid: "o\"1"])
        #expect(r.kept == ["transaction_id": "ID1"])
        #expect(r.hasExtras)  // `utm` (and the null `n`) are not the profile's
        // An escaped name is matched after decoding; an escaped value decoded when read.
        #expect(collect(#"{"click\u005fid":"\u0041B"}"#, kept: ["click_id"]).kept == ["click_id": "AB"])
        let empty = collect(#"{"click_id":"","amount":null,"txid":""}"#, kept: ["click_id"])
        #expect(empty.fields == [:] && empty.kept == [:] && empty.mapping == nil)
        #expect(!collect(#"{"txid":"a","amount":"1"}"#).hasExtras)
    }

    @Test func sameRulesAsTheQuery() {
        #expect(collect(query: "txid=a", #"{"txid":"a"}"#).mapping == nil)
        #expect(collect(query: "txid=a", #"{"txid":"b"}"#).mapping == .conflicting(.txid))
        #expect(collect(#"{"txid":"a","order_id":"b"}"#).mapping == .conflicting(.txid))
        #expect(collect(#"{"txid":"a","order_id":"\u0061"}"#).mapping == nil)
        #expect(collect(#"{"event":"abcde"}"#, slotSize: 4).mapping == .tooLong(.event))
        #expect(collect(#"{"event":"\u0041bcde"}"#, slotSize: 4).mapping == .tooLong(.event))
        #expect(collect(#"{"event":"\u00e9\u00e9"}"#, slotSize: 4).fields == [.event: "éé"])
        // Two click-ID names with different values are both kept; the route refuses them (PostbackRoute).
        #expect(collect(query: "click_id=A", #"{"cid":"B"}"#, kept: ["click_id", "cid"]).kept == ["click_id": "A", "cid": "B"])
    }

    @Test func malformedBodiesNameTheProblemAndTheField() {
        #expect(collect(#"{"click_id":"A","click_id":"A"}"#).body == .malformedJSON(.duplicateName, offset: 16, field: .clickID))
        #expect(collect(#"{"x":1,"\u0078":1}"#).body == .malformedJSON(.duplicateName, offset: 7, field: nil))
        #expect(collect(query: "a=1", #"{"x":{}}"#).body == .malformedJSON(.nested, offset: 5, field: nil))
        #expect(collect(#"{"#).body == .malformedJSON(.expectedName, offset: 1, field: nil))
        // A long escaped name is not a known field but still counts for repeats.
        let long = String(repeating: "\\u0061", count: 80)
        #expect(collect(#"{"\#(long)":1,"\#(String(repeating: "a", count: 80))":2}"#).body?.isDuplicate == true)
    }
}

extension BodyError {
    var isDuplicate: Bool { if case .malformedJSON(.duplicateName, _, _) = self { true } else { false } }
}
