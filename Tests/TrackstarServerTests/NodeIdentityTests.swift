// Live tests of a data dir's identity (issue 20 item 9): the node id it records, the key it keeps,
// what `inspect` shows of them, and the starts that are refused rather than orphaning clicks.
import Foundation
import Testing

@Suite("node identity", .serialized)
struct NodeIdentityTests {
    @Test func aDataDirKeepsItsNodeIDAndKeyAndRefusesAnotherNodeOrALostKey() throws {
        let first = try LiveServer(loops: 1)
        first.ownsDataDir = false
        let dir = first.dataDir, data = first.dataPath
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let location = try #require(try first.connect().get("/click?offer_id=1&aff_id=7").header("Location"))
        let clickID = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
        // A new key is announced once, at warning, with its path and the advice to back it up.
        let created = first.logLines.filter { $0.contains("created a new click ID key") }
        #expect(created.count == 1 && created.allSatisfy { $0.contains(" warning ") && $0.contains(data + "/click.key") && $0.contains("back it up") },
                "\(first.stderrText)")
        first.stop()

        // `inspect` names the node and the key's fingerprint, never the key.
        let keyText = try String(contentsOfFile: data + "/click.key", encoding: .utf8)
        let keyHex = try #require(keyText.split(separator: "\n").first { $0.hasPrefix("key0") }?.split(separator: " ").last)
        let inspected = try LiveServer.run(["inspect", data])
        #expect(inspected.status == 0 && inspected.stdout.contains("node id: 0 (node_id)"), "\(inspected.stdout)")
        let keyLine = try #require(inspected.stdout.split(separator: "\n").first { $0.hasPrefix("click key: ") })
        #expect(keyLine.contains("key0 current, fingerprint ") && !inspected.stdout.lowercased().contains(keyHex.lowercased()))

        // Another node id on this data dir is refused, saying what to do.
        let otherNode = dir + "/node5.toml"
        try LiveServer.defaultConfig.replacingOccurrences(of: "[server]\n", with: "[server]\nnode_id = 5\n")
            .write(toFile: otherNode, atomically: true, encoding: .utf8)
        let refused = try LiveServer.run(["serve", "--config", otherNode, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", data])
        #expect(refused.status == 1 && refused.stderr.contains("belongs to node_id 0") && refused.stderr.contains("Set [server] node_id = 0 again"),
                "\(refused.stderr)")

        // A data dir from before node ids were recorded gets its node id recorded at the next start;
        // the key is kept (no new-key warning) and the click made before still converts.
        try FileManager.default.removeItem(atPath: data + "/node_id")
        #expect(try LiveServer.run(["inspect", data]).stdout.contains("node id: not recorded"))
        let second = try LiveServer(loops: 1, dataDir: dir)
        second.ownsDataDir = false
        #expect(!second.stderrText.contains("created a new click ID key"))
        #expect(try second.connect().get("/postback?click_id=\(clickID)").status == 200)
        #expect(try String(contentsOfFile: data + "/node_id", encoding: .utf8).contains("node_id = 0"))
        second.stop()

        // A lost key is not silently replaced where clicks exist.
        try FileManager.default.removeItem(atPath: data + "/click.key")
        let lost = try LiveServer.run(["serve", "--config", second.configPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", data])
        #expect(lost.status == 1 && lost.stderr.contains("click.key is missing") && lost.stderr.contains("restore click.key from your backup"),
                "\(lost.stderr)")
        #expect(try LiveServer.run(["inspect", data]).stdout.contains("click key: none"))
    }
}
