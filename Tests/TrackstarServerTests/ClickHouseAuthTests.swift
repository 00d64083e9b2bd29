// ClickHouse over the libcurl client: `[export] user` and `password` reach the server as basic
// authentication (a wrong password is refused, named), and statements share one kept-alive connection.
import ClickHouseTestSupport
import Testing
import TrackstarCore
import TrackstarExport
import TrackstarConfiguration

extension ExportClickHouseTests {
    func sinkConfig(_ ch: ClickHouseServer, user: String?, password: String?) -> ExportConfig {
        var config = ExportConfig()
        config.sink = .clickhouse
        config.url = ch.url
        config.database = "t_auth"
        config.user = user
        config.password = password
        return config
    }

    @Test func theConfiguredUserAndPasswordReachClickHouse() throws {
        let ch = try clickhouse()
        let sink = try ClickHouseSink(config: sinkConfig(ch, user: ClickHouseServer.user, password: ClickHouseServer.password))
        #expect(try sink.open().isEmpty)  // the schema is created as that user
        // Only the password-protected user's profile has max_threads = 1.
        #expect(try sink.execute("SELECT value FROM system.settings WHERE name = 'max_threads'").text == "1\n")
        let anonymous = try ClickHouseSink(config: sinkConfig(ch, user: nil, password: nil))
        #expect(try anonymous.execute("SELECT value FROM system.settings WHERE name = 'max_threads'").text == "2\n")
        #expect {
            try ClickHouseSink(config: sinkConfig(ch, user: ClickHouseServer.user, password: "wrong")).open()
        } throws: { error in
            "\(error)".contains("ClickHouse http://127.0.0.1:\(ch.httpPort) database t_auth") && "\(error)".contains("password")
        }
    }

    @Test func statementsShareOneConnection() throws {
        let ch = try clickhouse()
        let sink = try ClickHouseSink(config: sinkConfig(ch, user: nil, password: nil))
        let first = try sink.execute("SELECT 1")
        let second = try sink.execute("SELECT 2")
        let third = try sink.client.request(.get, "/ping")
        #expect(first.openedConnection && !second.openedConnection && !third.openedConnection)
        #expect(second.text == "2\n" && third.text == "Ok.\n")
    }
}
