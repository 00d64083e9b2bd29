// A failed fsync is never acknowledged: with the documented test hook (TRACKSTAR_TEST_FAIL_FSYNC)
// making every sync fail with EIO while a flag file exists, the group commit answers its held
// requests 503, writes stay stopped after the disk "recovers", and /metrics and /readyz say so.
import Foundation
import Testing
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("fsync failures")
struct SyncFailureTests {
    /// A server whose syncs fail while `flag` exists.
    func server(fsync: String) throws -> (LiveServer, flag: String) {
        let flag = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-failsync-\(UUID().uuidString)").path
        let config = LiveServer.defaultConfig.replacingOccurrences(
            of: "[server]\n", with: "[storage]\nfsync = \"\(fsync)\"\nfsync_interval = \"100ms\"\n\n[server]\n")
        return (try LiveServer(config: config, loops: 1, environment: ["TRACKSTAR_TEST_FAIL_FSYNC": flag]), flag)
    }

    func metric(_ server: LiveServer, _ line: String) throws -> Bool {
        let body = try server.admin().get("/metrics").body
        return body.split(separator: "\n").contains { $0 == line }
    }

    @Test func groupCommitAnswersHeldRequests503AfterAFailedSync() throws {
        let (server, flag) = try server(fsync: "always")
        defer { unlink(flag) }
        let c = try server.connect()
        let acknowledged = try c.get("/click?offer_id=1&aff_id=7")
        #expect(acknowledged.status == 302)

        // The disk fails: three pipelined clicks are held for one barrier, whose sync fails.
        FileManager.default.createFile(atPath: flag, contents: nil)
        let failing = try server.connect()
        failing.send(String(repeating: "GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n", count: 3))
        for i in 0..<3 {
            let r = try failing.read()
            #expect(r.status == 503, "held answer \(i): \(r.status) \(r.body)")
            #expect(r.header("Location") == nil)
            #expect(r.json["reason"] as? String == "storage_sync_failed")
        }
        #expect(failing.isClosedByServer())

        // The disk "recovers" (a later fsync would succeed), but the failed pages are not trusted:
        // writes stay stopped until a restart.
        unlink(flag)
        let after = try server.connect()
        let click = try after.get("/click?offer_id=1&aff_id=7")
        #expect(click.status == 503 && click.json["reason"] as? String == "storage_sync_failed", "\(click.status) \(click.body)")
        let id = try #require(clickID(acknowledged))
        let postback = try after.get("/postback?click_id=\(id)&txid=o1")
        #expect(postback.status == 503 && postback.json["reason"] as? String == "storage_sync_failed", "\(postback.status) \(postback.body)")
        #expect(try c.get("/healthz").status == 200)  // reads still work

        #expect(try metric(server, "trackstar_fsync_failures_total{site=\"commit\"} 1"))
        #expect(try metric(server, "trackstar_sync_failed_answers_total 3"))
        #expect(try metric(server, "trackstar_writes_stopped 1"))
        #expect(server.stderrText.contains("writes are stopped"), "\(server.stderrText)")
    }

    @Test func intervalSyncFailureIsCountedLoggedAndStopsWrites() throws {
        let (server, flag) = try server(fsync: "interval")
        defer { unlink(flag) }
        let c = try server.connect()
        #expect(try c.get("/click?offer_id=1&aff_id=7").status == 302)
        FileManager.default.createFile(atPath: flag, contents: nil)
        // The snapshot thread syncs every 100 ms: wait (up to 20 s) for it to meet the failure.
        #expect(try eventually(within: 20, every: 0.05) {
            try metric(server, "trackstar_fsync_failures_total{site=\"interval\"} 1")
                || metric(server, "trackstar_fsync_failures_total{site=\"interval\"} 2")
        })
        let r = try c.get("/click?offer_id=1&aff_id=7")
        #expect(r.status == 503 && r.json["reason"] as? String == "storage_sync_failed", "\(r.status) \(r.body)")
        #expect(server.stderrText.contains("could not be synced"))
    }
}
