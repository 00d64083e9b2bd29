// In-process tests of the log line formats: logfmt quoting and escaping, JSON escaping and types,
// the timestamp, and the growth computation behind the refusal summaries.
import Testing
@testable import TrackstarServer
import TrackstarStore

@Suite struct LogLineTests {
    // 2026-11-30T01:02:03.456Z
    let millis: Int64 = 1_796_000_523_456

    @Test func textLineHasTimeLevelLabelMessageAndSortedLogfmtPairs() {
        let line = LogLine.text(millis: millis, level: .warning, label: "trackstar", message: "postbacks refused",
                                metadata: ["reason": "forged_id", "count": .stringConvertible(1532), "interval_s": .stringConvertible(10)])
        #expect(line == "2026-11-30T01:02:03.456Z warning trackstar: postbacks refused count=1532 interval_s=10 reason=forged_id\n")
    }

    @Test func textValuesAreQuotedWhenNeededAndNothingBreaksTheLine() {
        let line = LogLine.text(millis: millis, level: .error, label: "trackstar", message: "two\nlines",
                                metadata: ["file": "/tmp/a b.toml", "empty": "", "q": "say \"hi\"", "eq": "a=b", "plain": "x.y/z"])
        #expect(line == ##"2026-11-30T01:02:03.456Z error trackstar: two\u000Alines empty="" eq="a=b" file="/tmp/a b.toml" plain=x.y/z q="say \"hi\"""## + "\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test func jsonLineKeepsNumbersAndEscapesStrings() {
        let line = LogLine.json(millis: millis, level: .info, message: "a \"quoted\"\tmessage\u{1}",
                                metadata: ["count": .stringConvertible(7), "ratio": .stringConvertible(0.5), "msg": "clash",
                                           "list": ["a", "b"], "reason": "forged_id"])
        #expect(line == #"{"ts":"2026-11-30T01:02:03.456Z","level":"info","msg":"a \"quoted\"\u0009message\u0001","_msg":"clash","count":7,"list":["a","b"],"ratio":0.5,"reason":"forged_id"}"# + "\n")
    }

    @Test func summaryGrowthListsOnlyWhatGrewInAStableOrder() {
        let before: [LogSummary.Kind: UInt64] = [.clicksRefused: 5, .postbacksRefused(.forgedID): 10, .badRequests: 2]
        let after: [LogSummary.Kind: UInt64] = [.clicksRefused: 5, .postbacksRefused(.forgedID): 1542, .badRequests: 3,
                                                .postbacksRefused(.malformedID): 1]
        let grown = LogSummary.growth(from: before, to: after)
        #expect(grown.map(\.0) == [.badRequests, .postbacksRefused(.malformedID), .postbacksRefused(.forgedID)])
        #expect(grown.map(\.1) == [1, 1, 1532])
        #expect(LogSummary.seconds(10_000).description == "10")
        #expect(LogSummary.seconds(2_340).description == "2.3")
    }
}
