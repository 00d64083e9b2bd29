// Tests for the `[log]` and `[admin]` sections: defaults, every key, and each bad value reported on
// its line with what to write instead.
import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

@Suite struct OperationsConfigTests {
    @Test func defaultsToTextAtInfoWithTenSecondSummariesAndALoopbackAdminListener() throws {
        let config = try ConfigLoader.load(text: "").get()
        #expect(config.log == LogConfig())
        #expect(config.log.level == .info)
        #expect(config.log.format == .text)
        #expect(config.log.summaryIntervalMillis == 10_000)
        #expect(config.admin.host == "127.0.0.1" && config.admin.port == 9091)
        #expect(config.admin.isEnabled && !config.admin.publicMetrics && config.admin.tokens.isEmpty)
        let off = try ConfigLoader.load(text: "[admin]\nlisten = \"off\"\n").get()
        #expect(off.admin.host == nil && !off.admin.isEnabled)
    }

    @Test func readsTokensAndPublicMetrics() throws {
        let digest = String(repeating: "AB", count: 32)
        let config = try ConfigLoader.load(text: """
            [admin]
            public_metrics = true

            [[admin.tokens]]
            name = "ops"
            sha256 = "\(digest)"
            role = "editor"
            """).get()
        #expect(config.admin.publicMetrics)
        #expect(config.admin.tokens == [AdminToken(name: "ops", sha256: digest.lowercased(), role: .editor)])
    }

    @Test func badTokensAreReportedOnTheirLine() {
        let digest = String(repeating: "0", count: 64)
        expectOneProblem("[[admin.tokens]]\nname = \"a\"\nsha256 = \"secret\"\nrole = \"admin\"\n", line: 3, "admin.tokens[1].sha256", "64 hex digits")
        expectOneProblem("[[admin.tokens]]\nname = \"a\"\nsha256 = \"\(digest)\"\nrole = \"root\"\n", line: 4, "admin.tokens[1].role", "\"viewer\"")
        expectOneProblem("[[admin.tokens]]\nname = \"a\"\nrole = \"admin\"\n", line: 1, "admin.tokens[1]", "missing required key sha256")
        expectOneProblem("[[admin.tokens]]\nname = \"a\"\nsha256 = \"\(digest)\"\nrole = \"admin\"\n[[admin.tokens]]\nname = \"a\"\nsha256 = \"\(digest)\"\nrole = \"viewer\"\n",
                  line: 6, "admin.tokens[2].name", "already the name")
    }

    @Test func readsEveryKey() throws {
        let config = try ConfigLoader.load(text: """
            [log]
            level = "warning"
            format = "json"
            summary_interval = "1500ms"

            [admin]
            listen = "[::1]:9091"
            """).get()
        #expect(config.log.level == .warning)
        #expect(config.log.format == .json)
        #expect(config.log.summaryIntervalMillis == 1500)
        #expect(config.admin.host == "::1")
        #expect(config.admin.port == 9091)
        #expect(config.admin.isEnabled)
        let v4 = try ConfigLoader.load(text: "[admin]\nlisten = \"127.0.0.1:9091\"\n").get()
        #expect(v4.admin.host == "127.0.0.1" && v4.admin.port == 9091)
    }

    @Test func levelsAreOrderedLikeSwiftLogs() {
        #expect(LogLevel.allCases.map(\.rawValue) == ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        #expect(LogLevel.debug < LogLevel.warning)
    }

    @Test func badLogValuesAreReportedOnTheirLine() {
        expectOneProblem("[log]\nlevel = \"verbose\"\n", line: 2, "log.level", "\"verbose\"", "\"trace\"", "\"critical\"")
        expectOneProblem("[log]\nlevel = 3\n", line: 2, "log.level", "one of")
        expectOneProblem("[log]\n\nformat = \"xml\"\n", line: 3, "log.format", "\"text\"", "\"json\"")
        expectOneProblem("[log]\nsummary_interval = 10\n", line: 2, "log.summary_interval", "\"10s\"")
        expectOneProblem("[log]\nsummary_interval = \"0s\"\n", line: 2, "log.summary_interval", "longer than 0")
        expectOneProblem("[log]\nsummary_interval = \"soon\"\n", line: 2, "log.summary_interval")
        expectOneProblem("[log]\nlevle = \"info\"\n", line: 2, "log.levle", "did you mean level")
        expectOneProblem("level = \"info\"\n", line: 1, "inside [log]")
        expectOneProblem("[logs]\nlevel = \"info\"\n", line: 1, "unknown table [logs]", "[log]")
    }

    @Test func badAdminValuesAreReportedOnTheirLine() {
        expectOneProblem("[admin]\nlisten = \"localhost:9091\"\n", line: 2, "admin.listen", "numeric")
        expectOneProblem("[admin]\nlisten = \"127.0.0.1\"\n", line: 2, "admin.listen", "no port")
        expectOneProblem("[admin]\nlisten = \"::1:9091\"\n", line: 2, "admin.listen", "brackets")
        expectOneProblem("[admin]\nlisten = 9091\n", line: 2, "admin.listen", "string")
        expectOneProblem("[admin]\nport = 9091\n", line: 2, "admin.port", "listen")
        expectOneProblem("[server]\nlisten = \"0.0.0.0:8080\"\n\n[admin]\nlisten = \"127.0.0.1:8080\"\n", line: 5,
                  "admin.listen", "port 8080", "server.listen")
        #expect(configProblems("[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n").isEmpty)
    }
}
