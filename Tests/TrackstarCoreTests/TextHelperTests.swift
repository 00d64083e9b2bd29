// The String-facing text helpers in Core: JSON string literals against the byte writer they are
// built on (so the String and the hot-path renderings cannot drift apart), and the Prometheus text
// writer's escaping checked by a strict reader of the exposition format.
import Foundation
import Testing
@testable import TrackstarCore
import TrackstarTestSupport

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

@Suite struct PrometheusTextTests {
    @Test func labelValuesAndHelpAreEscapedAndTheOutputParses() throws {
        let nasty = "a\"b\\c\nd"
        var out = PrometheusText()
        out.metric("m_total", type: "counter", help: "Help with a \\ and a\nline break.",
                   [(PrometheusText.labels(["endpoint": nasty, "log": "clicks"]), 3), ("", 4)])
        out.header("d", type: "gauge", help: "A float.")
        let text = out.text + PrometheusText.sample("d", labels: PrometheusText.label("le", "+Inf"), 0.25)
            + PrometheusText.sample("d", .infinity)
        #expect(out.text.contains(#"m_total{endpoint="a\"b\\c\nd",log="clicks"} 3"#), "\(out.text)")
        #expect(out.text.contains("# HELP m_total Help with a \\\\ and a\\nline break.\n"), "\(out.text)")
        let samples = try PrometheusExposition.parse(text)
        #expect(samples.map(\.name) == ["m_total", "m_total", "d", "d"])
        #expect(samples[0].labels == ["endpoint": nasty, "log": "clicks"] && samples[0].value == 3)
        #expect(samples[1].labels.isEmpty && samples[1].value == 4)
        #expect(samples[2].value == 0.25 && samples[3].value == .infinity)
    }

    @Test func theReaderRejectsWhatTheOldUnescapedRenderingProduced() {
        let broken = "m{endpoint=\"a\"b\\c\nd\"} 1\n"
        #expect(throws: PrometheusParseError.self) { try PrometheusExposition.parse(broken) }
    }
}
