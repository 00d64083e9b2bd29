// URL templates and the byte writer: compilation errors, rendering, encoding, overflow.
import Testing
@testable import TrackstarCore

struct FixedValues: MacroValues {
    var values: [Macro: [UInt8]]
    func write(_ macro: Macro, into writer: inout ByteWriter) {
        (values[macro] ?? []).withUnsafeBytes { writer.appendPercentEncoded($0) }
    }
}

func render(_ template: URLTemplate, _ values: [Macro: String], capacity: Int = 1024) -> (String, Bool) {
    var buffer = [UInt8](repeating: 0, count: capacity)
    return buffer.withUnsafeMutableBytes { raw in
        var writer = ByteWriter(base: raw.baseAddress!, capacity: capacity)
        template.render(into: &writer, values: FixedValues(values: values.mapValues { Array($0.utf8) }))
        return (String(decoding: writer.written, as: UTF8.self), writer.overflowed)
    }
}

@Suite struct TemplateTests {
    @Test func rendersLiteralsAndMacros() throws {
        let t = try URLTemplate("https://a.example/p?cid={click_id}&s={sub1}&x=1")
        #expect(render(t, [.clickID: "ABC", .sub1: "v"]).0 == "https://a.example/p?cid=ABC&s=v&x=1")
    }

    @Test func encodesEveryReservedByte() throws {
        let t = try URLTemplate("https://a.example/?s={sub1}")
        let (text, _) = render(t, [.sub1: "a b&c=d/e?f#g\r\nh%é~._-"])
        #expect(text == "https://a.example/?s=a%20b%26c%3Dd%2Fe%3Ff%23g%0D%0Ah%25%C3%A9~._-")
    }

    /// Click templates have no `{raw:…}` form: every shopper value is fully percent-encoded, so a
    /// sub cannot add parameters to the landing URL (issue 20 item 11, the click side).
    @Test func clickTemplatesHaveNoRawFormAndEncodeStructureBytes() throws {
        #expect(throws: URLTemplate.CompileError.unknownMacro("raw:sub2")) {
            try URLTemplate("https://a.example/?s={raw:sub2}", allowed: Macro.clickMacros)
        }
        let t = try URLTemplate("https://a.example/?s2={sub2}&p=1", allowed: Macro.clickMacros)
        #expect(render(t, [.sub2: "x&payout=999&status=approved#f?+ "]).0
            == "https://a.example/?s2=x%26payout%3D999%26status%3Dapproved%23f%3F%2B%20&p=1")
    }

    /// The raw form keeps printable ASCII but encodes what splits or ends a query parameter.
    @Test func rawURLValuesEncodeOnlyStructureBytes() {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let all = (0...255).map { UInt8($0) }
        let text = buffer.withUnsafeMutableBytes { raw in
            var w = ByteWriter(base: raw.baseAddress!, capacity: raw.count)
            all.withUnsafeBytes { w.appendRawURLValue($0) }
            return String(decoding: w.written, as: UTF8.self)
        }
        var expected = ""
        for byte in all {
            let structural = "&=#?+ ".utf8.contains(byte)
            expected += byte > 0x20 && byte < 0x7F && !structural
                ? String(UnicodeScalar(byte)) : "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        }
        #expect(text == expected)
    }

    @Test func compileErrors() {
        #expect(throws: URLTemplate.CompileError.unknownMacro("nope")) { try URLTemplate("https://a/{nope}") }
        #expect(throws: URLTemplate.CompileError.unbalancedBrace) { try URLTemplate("https://a/{sub1") }
        #expect(throws: URLTemplate.CompileError.unbalancedBrace) { try URLTemplate("https://a/sub1}") }
        #expect(throws: URLTemplate.CompileError.notAllowed("payout")) {
            try URLTemplate("https://a/{payout}", allowed: Macro.clickMacros)
        }
    }

    @Test func overflowStopsAndIsReported() throws {
        let t = try URLTemplate("https://a.example/?s={sub1}")
        let (_, overflowed) = render(t, [.sub1: String(repeating: "é", count: 100)], capacity: 64)
        #expect(overflowed)
    }

    @Test func microsFormatting() {
        var buffer = [UInt8](repeating: 0, count: 64)
        func format(_ m: Int64) -> String {
            buffer.withUnsafeMutableBytes { raw in
                var w = ByteWriter(base: raw.baseAddress!, capacity: raw.count)
                w.appendMicros(m)
                return String(decoding: w.written, as: UTF8.self)
            }
        }
        #expect(format(2_500_000) == "2.5")
        #expect(format(4_000_000) == "4")
        #expect(format(1) == "0.000001")
        #expect(format(0) == "0")
        #expect(format(-1_250_000) == "-1.25")
        #expect(format(19_990_000) == "19.99")
    }

    @Test func jsonEscaping() {
        var buffer = [UInt8](repeating: 0, count: 64)
        let text = buffer.withUnsafeMutableBytes { raw in
            var w = ByteWriter(base: raw.baseAddress!, capacity: raw.count)
            Array("a\"b\\c\n\u{1}".utf8).withUnsafeBytes { w.appendJSONEscaped($0) }
            return String(decoding: w.written, as: UTF8.self)
        }
        #expect(text == #"a\"b\\c\u000A\u0001"#)
    }

    /// The one-pointer fast paths write what the byte-by-byte ones do, and a writer without room
    /// for the worst case stops at the same place as before.
    @Test func escapingFastPathsMatchTheSlowOnes() {
        let all = (0...255).map { UInt8($0) }
        for capacity in [0, 1, 5, 64, 300, 800, 1600] {
            var fast = [UInt8](repeating: 0, count: capacity + 1), slow = fast
            for mode in 0..<2 {
                let results: [(Int, Bool)] = [fast, slow].indices.map { which in
                    var buffer = which == 0 ? fast : slow
                    let result = buffer.withUnsafeMutableBytes { raw in
                        var w = ByteWriter(base: raw.baseAddress!, capacity: capacity)
                        all.withUnsafeBytes { bytes in
                            switch (mode, which) {
                            case (0, 0): w.appendPercentEncoded(bytes)
                            case (0, _): w.appendPercentEncodedSlowly(bytes)
                            case (_, 0): w.appendJSONEscaped(bytes)
                            default: w.appendJSONEscapedSlowly(bytes)
                            }
                        }
                        return (w.count, w.overflowed)
                    }
                    if which == 0 { fast = buffer } else { slow = buffer }
                    return result
                }
                #expect(results[0] == results[1] && fast == slow, "mode \(mode) capacity \(capacity)")
            }
        }
    }

    /// The eight-bytes-a-step check agrees with a byte-by-byte one at every length and position.
    @Test func jsonEscapeCheckMatchesBytewise() {
        for special in [UInt8(0), 0x1F, 0x20, 0x21, 0x22, 0x5C, 0x5B, 0x7E, 0x7F, 0x80, 0x9F, 0xA2, 0xDC, 0xFF] {
            for length in 1...19 {
                for position in 0..<length {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = special
                    let expected = bytes.contains { $0 < 0x20 || $0 == 0x7F || $0 == 0x22 || $0 == 0x5C }
                    #expect(bytes.withUnsafeBytes { ByteWriter.needsJSONEscape($0) } == expected, "\(bytes)")
                }
            }
        }
    }

    @Test func decimals() {
        for value: UInt64 in [0, 1, 9, 10, 11, 99, 100, 12_345, 999_999_999, 1_000_000_000, UInt64.max, UInt64.max / 10,
                              10_000_000_000_000_000_000, 9_999_999_999_999_999_999] {
            var buffer = [UInt8](repeating: 0, count: 32)
            let text = buffer.withUnsafeMutableBytes { raw in
                var w = ByteWriter(base: raw.baseAddress!, capacity: raw.count)
                w.appendDecimal(value)
                return String(decoding: w.written, as: UTF8.self)
            }
            #expect(text == String(value))
        }
    }
}
