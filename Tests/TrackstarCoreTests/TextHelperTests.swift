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

@Suite struct MoneyTextFormatTests {
    /// The String formatter reports and partner postbacks had before (at least two places).
    func twoPlacesBefore(_ micros: Int64) -> String {
        let magnitude = micros.magnitude
        var fraction = String(magnitude % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.count > 2 && fraction.hasSuffix("0") { fraction.removeLast() }
        return (micros < 0 ? "-" : "") + String(magnitude / 1_000_000) + "." + fraction
    }

    @Test func decimalWithTwoPlacesIsWhatReportsAndPartnersPrinted() {
        var samples: [Int64] = [0, 1, 10, 100_000, 500_000, 2_500_000, 1_234_567, 10_100_000, -1_500_000, -500_000, -1,
                                999_999, 1_000_000, Int64.max, Int64.min, 1_000_000_000_000 * 1_000_000 - 1]
        var state: UInt64 = 42
        for _ in 0..<2000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            samples.append(Int64(bitPattern: state) >> Int64(state % 50))
        }
        for micros in samples {
            #expect(MoneyText.decimal(micros, minimumFractionDigits: 2) == twoPlacesBefore(micros), "\(micros)")
        }
    }

    @Test func decimalWithoutMinimumIsTheResponsesSpelling() {
        #expect(MoneyText.decimal(2_500_000) == "2.5")
        #expect(MoneyText.decimal(4_000_000) == "4")
        #expect(MoneyText.decimal(1) == "0.000001")
        #expect(MoneyText.decimal(-1_250_000) == "-1.25")
        #expect(MoneyText.decimal(4_000_000, minimumFractionDigits: 9) == "4.000000")
    }
}
