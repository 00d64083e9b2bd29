// User agents of report.sqlite's click blocks as ids in `user_agents` (issue 19 item 1): the `clicks`
// view gives back every agent as the text it was, each plain agent is stored once across batches and
// reopenings, a rolled-back batch's new agents are forgotten, and a full dictionary leaves agents in
// the block as text.
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport

@Suite struct UserAgentTests {
    static let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    static let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"

    static func clicks(_ logs: TestLogs, _ agents: [String]) {
        for (i, agent) in agents.enumerated() {
            logs.click(shard: 0, time: 1_767_225_600_000 + Int64(i) * 1_000, subs: ["s\(i)", "", "", "", "", "", "", agent])
        }
    }

    /// Plain agents (a digits-only one too) come back as text through the view and are in
    /// `user_agents` once; agents that are not plain (a quote, a control byte, a byte past ASCII,
    /// longer than 512 bytes) and the empty one stay text in the block. A second sink on the same store
    /// (a restart) reuses the ids and adds only the new agent.
    @Test func everyAgentComesBackAndPlainOnesAreStoredOnce() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let long = String(repeating: "Bot/1.0 ", count: 80)
        let first = [UserAgentTests.chrome, UserAgentTests.iphone, UserAgentTests.chrome, "", "12345", "quote\"d agent",
                     "tab\tagent", "caf\u{e9}/1.0", long, UserAgentTests.chrome, "x"]
        let logs = TestLogs(shards: 1)
        UserAgentTests.clicks(logs, first)
        ClickBlockTests.export(logs, SQLiteSink(path: SQLiteSink.path(dataDir: dir)))
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT user_agent FROM clicks ORDER BY click_ref").map { $0[0] ?? "NULL" } == first)
        #expect(try db.rows("SELECT DISTINCT typeof(user_agent) FROM clicks") == [["text"]])
        #expect(try db.rows("SELECT agent FROM user_agents ORDER BY id").map { $0[0] ?? "NULL" }
                == [UserAgentTests.chrome, UserAgentTests.iphone, "12345", "x"])
        // The blocks hold the plain agents as numbers, the others as text.
        let blocks = try db.rows("SELECT rows FROM click_blocks").map { $0[0] ?? "" }.joined()
        #expect(!blocks.contains("Chrome/131") && !blocks.contains("iPhone") && blocks.contains("quote\\\"d agent") && blocks.contains("Bot/1.0"))

        let more = [UserAgentTests.iphone, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", UserAgentTests.chrome]
        UserAgentTests.clicks(logs, more)
        ClickBlockTests.export(logs, SQLiteSink(path: SQLiteSink.path(dataDir: dir)))
        #expect(try db.rows("SELECT user_agent FROM clicks ORDER BY click_ref").map { $0[0] ?? "NULL" } == first + more)
        #expect(try db.rows("SELECT id, agent FROM user_agents ORDER BY id").map { $0.map { $0 ?? "NULL" } }
                == [["1", UserAgentTests.chrome], ["2", UserAgentTests.iphone], ["3", "12345"], ["4", "x"], ["5", more[1]]])
    }

    /// The entries a rolled-back transaction added are forgotten (their ids given again), the
    /// committed ones kept; the table then matches the dictionary.
    @Test func aRolledBackTransactionsAgentsAreForgotten() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let db = try SQLiteDatabase(path: dir + "/agents.sqlite")
        try db.execute(UserAgentDictionary.schema)
        let insert = try db.prepare("INSERT INTO user_agents VALUES (?,?)")
        let agents = UserAgentDictionary(maxAgents: 8)
        func id(_ agent: String) throws -> Int64 {
            let bytes = Array(agent.utf8)
            return try bytes.withUnsafeBytes { b throws(ExportError) in try agents.id(b, insert: insert) }
        }
        try db.execute("BEGIN")
        #expect(try id("a/1") == 1 && id("b/1") == 2 && id("a/1") == 1)
        try db.execute("COMMIT")
        agents.commit()
        try db.execute("BEGIN")
        #expect(try id("c/1") == 3 && id("d/1") == 4)
        try db.execute("ROLLBACK")
        agents.rollBack()
        try db.execute("BEGIN")
        #expect(try id("d/1") == 3 && id("b/1") == 2 && id("c/1") == 4)
        try db.execute("COMMIT")
        agents.commit()
        #expect(try db.rows("SELECT id, agent FROM user_agents ORDER BY id") == [["1", "a/1"], ["2", "b/1"], ["3", "d/1"], ["4", "c/1"]])
        // Read back by another dictionary (the next open): the same ids.
        let reopened = UserAgentDictionary(maxAgents: 8)
        try reopened.load(db)
        let bytes = Array("c/1".utf8)
        #expect(try bytes.withUnsafeBytes { b throws(ExportError) in try reopened.id(b, insert: insert) } == 4)
        #expect(reopened.count == 4)
    }

    /// Once the dictionary holds its most agents, new ones stay in the block as text; the view gives
    /// every one back.
    @Test func aFullDictionaryLeavesNewAgentsAsText() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let agents = (0..<6).map { "agent-\($0)/1.0" } + ["agent-0/1.0", "agent-5/1.0"]
        let logs = TestLogs(shards: 1)
        UserAgentTests.clicks(logs, agents)
        let sink = SQLiteSink(path: SQLiteSink.path(dataDir: dir))
        sink.agents = UserAgentDictionary(maxAgents: 2)
        ClickBlockTests.export(logs, sink)
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dir))
        #expect(try db.rows("SELECT user_agent FROM clicks ORDER BY click_ref").map { $0[0] ?? "NULL" } == agents)
        #expect(try db.rows("SELECT agent FROM user_agents ORDER BY id") == [["agent-0/1.0"], ["agent-1/1.0"]])
    }
}
