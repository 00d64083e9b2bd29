// The String-facing text helpers in Core (JSON string literals, ...) against the byte writer they
// are built on, so the String and the hot-path renderings cannot drift apart.
import Foundation
import Testing
@testable import TrackstarCore

@Suite struct TextHelperTests {
    func escapedByWriter(_ text: String) -> String {
        var buffer = [UInt8](repeating: 0, count: text.utf8.count * 6 + 1)
        return buffer.withUnsafeMutableBytes { raw in
            var w = ByteWriter(base: raw.baseAddress!, capacity: raw.count)
            Array(text.utf8).withUnsafeBytes { w.appendJSONEscaped($0) }
            return String(decoding: w.written, as: UTF8.self)
        }
    }

    @Test func jsonQuotedIsTheByteWritersEscapingInQuotes() {
        let every = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        for text in ["", "plain", "a\"b\\c\n\u{1}\u{7F}", every, "é\u{2028}😀", String(repeating: "\"x\n", count: 500)] {
            #expect(JSONText.quoted(text) == "\"" + escapedByWriter(text) + "\"", "\(Array(text.unicodeScalars))")
        }
        #expect(JSONText.quoted("a\"b\\c\n\t\u{1}") == #""a\"b\\c\u000A\u0009\u0001""#)
        #expect(JSONText.quoted("é") == "\"é\"")
    }

    @Test func jsonQuotedParsesBackToTheText() throws {
        let every = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self) + "é\u{2028}😀"
        let parsed = try JSONSerialization.jsonObject(with: Data(("[" + JSONText.quoted(every) + "]").utf8)) as? [String]
        #expect(parsed == [every])
    }
}
