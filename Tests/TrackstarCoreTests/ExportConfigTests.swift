// Tests for the `[export]` section: defaults, every key, and each problem reported on its line with
// what to write instead.
import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

private func load(_ text: String) -> Result<TrackstarConfig, ConfigProblems> { ConfigLoader.load(text: text) }

@Suite struct ExportConfigTests {
    @Test func defaultsToSQLiteWithFiftyThousandRowsOrOneSecond() throws {
        let config = try load("").get()
        #expect(config.export == ExportConfig())
        #expect(config.export.sink == .sqlite)
        #expect(config.export.batchRows == 50_000)
        #expect(config.export.batchAgeMillis == 1000)
        #expect(config.export.lagWarningMillis == 30_000)
        #expect(config.export.url == nil)
        #expect(config.export.database == "trackstar")
        #expect(config.export.user == nil && config.export.password == nil)
    }

    @Test func readsEveryKey() throws {
        let config = try load("""
            [export]
            sink = "clickhouse"
            batch_rows = 500
            batch_age = "250ms"
            lag_warning = "2m"
            url = "http://127.0.0.1:8123"
            database = "reports_1"
            user = "trackstar"
            password = "s3cret: with spaces"
            ca_file = "/etc/trackstar/clickhouse-ca.pem"
            """).get()
        #expect(config.export.sink == .clickhouse)
        #expect(config.export.batchRows == 500)
        #expect(config.export.batchAgeMillis == 250)
        #expect(config.export.lagWarningMillis == 120_000)
        #expect(config.export.url == "http://127.0.0.1:8123")
        #expect(config.export.database == "reports_1")
        #expect(config.export.user == "trackstar")
        #expect(config.export.password == "s3cret: with spaces")
        #expect(config.export.caFile == "/etc/trackstar/clickhouse-ca.pem")
        #expect(try load("[export]\nsink = \"none\"").get().export.sink == ExportSinkKind.none)
    }

    @Test func unknownSinkIsRefusedWithTheChoices() {
        expectOneProblem("[export]\nsink = \"postgres\"", line: 2, "export.sink", "\"sqlite\", \"clickhouse\" or \"none\"", "postgres")
    }

    @Test func unknownKeyIsRefusedWithASuggestion() {
        expectOneProblem("[export]\nbatch_row = 10", line: 2, "export.batch_row", "unknown key", "did you mean batch_rows")
    }

    @Test func exportKeyOutsideTheTableIsPointedThere() {
        expectOneProblem("batch_rows = 10", line: 1, "must be inside [export]")
    }

    @Test func batchRowsOutOfRange() {
        expectOneProblem("[export]\nbatch_rows = 0", line: 2, "export.batch_rows", "from 1 to 1000000")
        expectOneProblem("[export]\nbatch_rows = \"10\"", line: 2, "export.batch_rows", "whole number")
    }

    @Test func batchAgeNeedsAUnitAndMustBePositive() {
        expectOneProblem("[export]\nbatch_age = 5", line: 2, "export.batch_age", "write it with a unit, e.g. \"5s\"")
        expectOneProblem("[export]\nbatch_age = \"0s\"", line: 2, "export.batch_age", "longer than 0")
    }

    @Test func clickHouseNeedsURL() {
        expectOneProblem("\n[export]\nsink = \"clickhouse\"\n", line: 3, "needs url", "http://127.0.0.1:8123")
    }

    @Test func urlMustBeHTTPOrHTTPSHostAndPort() {
        expectOneProblem("[export]\nurl = \"ftp://ch.example:8443\"", line: 2, "export.url", "not an http:// or https:// URL")
        expectOneProblem("[export]\nurl = \"ch.example:8123\"", line: 2, "export.url", "not an http:// or https:// URL")
        expectOneProblem("[export]\nurl = \"http://127.0.0.1:8123/db\"", line: 2, "export.url", "no path")
        expectOneProblem("[export]\nurl = \"https://me:pw@ch.example\"", line: 2, "export.url", "put the user and password in user and password")
        expectOneProblem("[export]\nurl = \"http://127.0.0.1:99999\"", line: 2, "export.url", "port must be a number")
    }

    @Test func parsesURLForms() throws {
        #expect(try ExportURL.parse("http://127.0.0.1:8123").get() == ExportURL(host: "127.0.0.1", port: 8123))
        #expect(try ExportURL.parse("http://localhost/").get() == ExportURL(host: "localhost", port: 8123))
        #expect(try ExportURL.parse("http://[::1]:9123").get() == ExportURL(host: "::1", port: 9123))
        #expect(try ExportURL.parse("http://[::1]").get() == ExportURL(host: "::1", port: 8123))
        #expect(try ExportURL.parse("https://ch.example").get() == ExportURL(host: "ch.example", port: 8443, tls: true))
        #expect(try ExportURL.parse("https://[::1]:9440/").get() == ExportURL(host: "::1", port: 9440, tls: true))
    }

    @Test func baseURLKeepsTheSchemeAndBracketsIPv6() throws {
        #expect(try ExportURL.parse("http://localhost/").get().base == "http://localhost:8123")
        #expect(try ExportURL.parse("https://[::1]").get().base == "https://[::1]:8443")
    }

    @Test func userMustBeSendableAndPasswordNeedsAUser() {
        expectOneProblem("[export]\nuser = \"\"", line: 2, "export.user", "must not be empty")
        expectOneProblem("[export]\nuser = \"a:b\"", line: 2, "export.user", "no ':'")
        expectOneProblem("[export]\nuser = 7", line: 2, "export.user", "a string in quotes")
        expectOneProblem("[export]\nca_file = \"\"", line: 2, "export.ca_file", "must not be empty")
        expectOneProblem("[export]\nsink = \"clickhouse\"\nurl = \"http://127.0.0.1:8123\"\n\npassword = \"pw\"", line: 5,
                  "export.password", "without user", "add user")
    }

    @Test func databaseMustBeAPlainName() {
        expectOneProblem("[export]\ndatabase = \"x; DROP\"", line: 2, "export.database", "letters, digits and _")
        expectOneProblem("[export]\ndatabase = \"1st\"", line: 2, "export.database")
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = configProblems("""
            [export]
            sink = "kafka"
            batch_rows = -1
            batch_age = "soon"
            colour = "blue"
            """)
        #expect(found.map(\.line) == [2, 3, 4, 5], "\(found.map(\.description))")
    }

    /// ClickHouse at line rate: inserts cut by bytes, several exporter threads, and its own
    /// batch_rows default (few large inserts) unless the config gives one.
    @Test func batchBytesAndExportersForClickHouse() throws {
        let defaults = try load("").get().export
        #expect(defaults.batchBytes == 16 << 20 && defaults.exporters == 1)
        #expect(defaults.exporterCount(shards: 16) == 1)
        let clickhouse = try load("[export]\nsink = \"clickhouse\"\nurl = \"http://127.0.0.1:8123\"\nexporters = 3\nbatch_bytes = 1048576").get().export
        #expect(clickhouse.batchRows == ExportConfig.clickHouseBatchRows)
        #expect(clickhouse.batchBytes == 1 << 20 && clickhouse.exporters == 3)
        #expect(clickhouse.exporterCount(shards: 16) == 3)
        #expect(clickhouse.exporterCount(shards: 2) == 2, "never more threads than shards")
        let auto = try load("[export]\nsink = \"clickhouse\"\nurl = \"http://127.0.0.1:8123\"\nexporters = \"auto\"\nbatch_rows = 5000").get().export
        #expect(auto.batchRows == 5000, "a given batch_rows stays")
        #expect(auto.exporterCount(shards: 16) == 4 && auto.exporterCount(shards: 5) == 2 && auto.exporterCount(shards: 1) == 1)
        var sqlite = ExportConfig()
        sqlite.exporters = 0
        #expect(sqlite.exporterCount(shards: 16) == 1, "SQLite has one writer")
        #expect(try load("[export]\nexporters = 1").get().export.exporters == 1)
    }

    @Test func badExportersAndBatchBytesAreNamed() {
        expectOneProblem("[export]\nexporters = 4", line: 2, "export.exporters", "SQLite takes one writer", "sink = \"clickhouse\"")
        expectOneProblem("[export]\nsink = \"clickhouse\"\nurl = \"http://127.0.0.1:8123\"\nexporters = \"many\"", line: 4,
                  "export.exporters", "\"auto\"")
        expectOneProblem("[export]\nsink = \"clickhouse\"\nurl = \"http://127.0.0.1:8123\"\nexporters = 0", line: 4, "export.exporters", "from 1 to 64")
        expectOneProblem("[export]\nbatch_bytes = 100", line: 2, "export.batch_bytes", "from 65536")
    }
}
