// Tests for the JSON body scanner: members of a flat object with their kinds and raw ranges, escapes
// decoded to UTF-8, fingerprints of equal names equal, every problem at its byte, and the name set.
import Testing
@testable import TrackstarHTTP

/// Scans `text`; returns each member as (name, value, kind) decoded to strings, or the problem and its offset.
private func scan(_ text: String) -> (members: [(String, String, JSONMember.Kind)], problem: JSONProblem?, offset: Int) {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { buffer in
        var scanner = JSONObjectScanner(buffer, range: ByteRange(0..<buffer.count))
        var members: [(String, String, JSONMember.Kind)] = []
        func decoded(_ range: ByteRange, _ escaped: Bool) -> String {
            let raw = range.bytes(in: buffer)
            guard escaped else { return String(decoding: raw, as: UTF8.self) }
            var out = [UInt8](repeating: 0, count: 4 * raw.count)
            let n = out.withUnsafeMutableBytes { JSONString.decode(raw, into: $0) }!
            return String(decoding: out[0..<n], as: UTF8.self)
        }
        do throws(JSONProblem) {
            while let m = try scanner.next() {
                members.append((decoded(m.name, m.nameEscaped), decoded(m.value, m.valueEscaped), m.kind))
            }
            return (members, nil, scanner.offset)
        } catch {
            return (members, error, scanner.offset)
        }
    }
}

@Suite("JSON body")
struct JSONBodyTests {
    @Test func flatObject() {
        let r = scan(" {\"click_id\" : \"ABC\",\"amount\":-12.50e+1,\t\"n\":null ,\"z\":0, \"s\":\"\"}\r\n")
        #expect(r.problem == nil)
        #expect(r.members.map(\.0) == ["click_id", "amount", "n", "z", "s"])
        #expect(r.members.map(\.1) == ["ABC", "-12.50e+1", "", "0", ""])
        #expect(r.members.map(\.2) == [.string, .number, .null, .number, .string])
        #expect(scan("{}").members.isEmpty && scan("{}").problem == nil)
        #expect(scan(" { } ").problem == nil)
    }

    @Test func escapesDecodeToUTF8() {
        let r = scan(#"{"a\u0062":"\"\\\/\b\f\n\r\t","e":"caf\u00e9 \u20ac \ud83d\ude00","raw":"café"}"#)
        #expect(r.problem == nil)
        #expect(r.members.map(\.0) == ["ab", "e", "raw"])
        #expect(r.members[0].1 == "\"\\/\u{8}\u{C}\n\r\t")
        #expect(r.members[1].1 == "café € 😀")
        #expect(r.members[2].1 == "café")
    }

    @Test func decodeReportsAShortOutput() {
        let raw = Array(#"\u00e9x"#.utf8)
        var out = [UInt8](repeating: 0, count: 2)
        #expect(raw.withUnsafeBytes { r in out.withUnsafeMutableBytes { JSONString.decode(r, into: $0) } } == nil)
        out = [UInt8](repeating: 0, count: 3)
        #expect(raw.withUnsafeBytes { r in out.withUnsafeMutableBytes { JSONString.decode(r, into: $0) } } == 3)
    }

    @Test func problemsAndWhereTheyAre() {
        let cases: [(String, JSONProblem, Int)] = [
            ("", .notAnObject, 0), ("  [1]", .notAnObject, 2), ("null", .notAnObject, 0), ("{", .expectedName, 1),
            ("{\"a\"", .expectedColon, 4), ("{\"a\":", .expectedValue, 5), ("{\"a\":}", .expectedValue, 5),
            ("{\"a\":1", .expectedCommaOrEnd, 6), ("{\"a\":1 \"b\":2}", .expectedCommaOrEnd, 7), ("{\"a\":1,}", .expectedName, 7),
            ("{\"a\":{}}", .nested, 5), ("{\"a\":[]}", .nested, 5), ("{\"a\":true}", .notStringOrNumber, 5),
            ("{\"a\":nul}", .notStringOrNumber, 5), ("{\"a\":nullx}", .notStringOrNumber, 5), ("{\"a\":-}", .badNumber, 6),
            ("{\"a\":1.}", .badNumber, 7), ("{\"a\":1e}", .badNumber, 7), ("{\"a\":01}", .badNumber, 6), ("{\"a\":+1}", .expectedValue, 5),
            ("{\"a\":\"\\q\"}", .badEscape, 6), ("{\"a\":\"\\u12\"}", .badEscape, 6), ("{\"a\":\"\\udc00\"}", .badEscape, 12),
            ("{\"a\":\"\\ud800\\u0041\"}", .badEscape, 12), ("{\"a\":\"x\ty\"}", .controlCharacter, 7), ("{\"a\":\"x", .unterminatedString, 7),
            ("{\"a\":\"x\\", .unterminatedString, 7), ("{\"a\":1}x", .trailingText, 7), ("{}}", .trailingText, 2), ("{a:1}", .expectedName, 1),
        ]
        for (text, problem, offset) in cases {
            let r = scan(text)
            #expect(r.problem == problem, "\(text)")
            #expect(r.offset == offset, "\(text)")
        }
    }

    @Test func fingerprintsFollowTheDecodedName() {
        func fp(_ text: String, _ escaped: Bool) -> UInt64 { Array(text.utf8).withUnsafeBytes { JSONString.fingerprint($0, escaped: escaped) } }
        #expect(fp("abc", false) == fp(#"a\u0062c"#, true))
        #expect(fp("abc", false) == fp("abc", true))
        #expect(fp("abc", false) != fp("abd", false))
        #expect(fp("", false) != fp("a", false))
    }

    @Test func nameSet() {
        let names = JSONNameSet()
        defer { names.deallocate() }
        #expect(names.insert(1) == nil)
        #expect(names.insert(1) == .duplicateName)
        #expect(names.insert(1 << 42) == nil)  // the same first slot, another name
        names.removeAll()
        #expect(names.insert(1) == nil)
        names.removeAll()
        for i in 0..<UInt64(JSONNameSet.maxMembers) { #expect(names.insert(i &* 0x9E37_79B9_7F4A_7C15) == nil) }
        #expect(names.insert(12345) == .tooManyMembers)
        #expect(names.insert(0) == .duplicateName)
        names.removeAll()
        #expect(names.insert(12345) == nil)
    }
}
