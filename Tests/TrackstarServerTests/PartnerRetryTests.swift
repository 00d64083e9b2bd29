// Live tests of the operator's side of partner postbacks: failed postbacks sent again on request
// (admin route and CLI, running and stopped server), and conversions of a removed affiliate.
import Foundation
import Testing
import TrackstarTestSupport

@Suite("partner postback retries and removed affiliates", .serialized)
struct PartnerRetryTests {
    typealias P = PartnerPostbackTests

    static func failed(_ server: LiveServer, _ endpoint: String) throws -> Int? {
        P.endpoint(try P.deliveries(server), endpoint)?["failed"] as? Int
    }

    static func delivered(_ server: LiveServer, _ endpoint: String) throws -> Int? {
        P.endpoint(try P.deliveries(server), endpoint)?["delivered"] as? Int
    }

    static func sent(_ receiver: PartnerReceiver, _ path: String) -> Int {
        receiver.requests.filter { $0.path == path }.count
    }

    /// Issue 20 item 10: a 404 ends a postback as failed; after the partner is fixed, a retry request
    /// sends it again — once per request — with the stored URL, or re-rendered after a reload.
    @Test func failedPostbacksAreSentAgainOncePerRequestThroughTheAdminListenerAndTheCLI() throws {
        let receiver = try PartnerReceiver(["--always-status", "404"])
        let config = "[admin]\nlisten = \"127.0.0.1:0\"\n" + P.config(url: "\(receiver.endpoint)/gone?c={conversion_id}")
        let server = try LiveServer(config: config)
        let adminPort = try server.adminPort()
        let first = try P.convert(server, try P.click(server))
        let second = try P.convert(server, try P.click(server))
        #expect(try eventually(within: 20) { try Self.failed(server, receiver.endpoint) == 2 })
        receiver.recover()

        func retry(_ query: String) throws -> TestResponse {
            try TestConnection(port: adminPort).request("POST /deliveries/retry?\(query)&format=json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        }
        // One conversion, with its stored URL.
        let once = try retry("conversion=\(first)&request=once")
        #expect(once.status == 200 && once.json["requeued"] as? Int == 1, "\(once.body)")
        #expect(eventually(within: 20) { Self.sent(receiver, "/gone?c=\(first)") == 2 })
        // The same request again queues nothing; a request selecting nothing is refused.
        let repeated = try retry("conversion=\(first)&request=once")
        #expect(repeated.status == 200 && repeated.json["repeated"] as? Bool == true && repeated.json["requeued"] as? Int == 1)
        #expect(try retry("request=empty").status == 400)

        // The partner's URL is fixed by a reload; the CLI finds the log locked and asks the admin
        // listener to send the other one again, rendered with the new URL.
        try config.replacingOccurrences(of: "/gone?c=", with: "/fixed?c=").write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(eventually(within: 15) { server.stderrText.contains("reloaded ") })
        let cliConfig = server.dataDir + "/cli.toml"
        try config.replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(adminPort)").write(toFile: cliConfig, atomically: true, encoding: .utf8)
        let cli = ["deliveries", "--config", cliConfig, "--data-dir", server.dataPath, "--retry-failed", "--affiliate", "7", "--rerender"]
        let rerendered = try LiveServer.run(cli)
        #expect(rerendered.status == 0 && rerendered.stdout.contains("queued 1 failed postbacks again"), "\(rerendered.stdout) \(rerendered.stderr)")
        #expect(try eventually(within: 20) { try Self.delivered(server, receiver.endpoint) == 2 })
        // Run again (a new request): nothing has failed any more, so nothing is sent twice.
        let again = try LiveServer.run(cli)
        #expect(again.status == 0 && again.stdout.contains("queued 0 failed postbacks again"), "\(again.stdout) \(again.stderr)")
        // An admin listener that cannot be reached is named with curl's reason and the request to repeat.
        let closedConfig = server.dataDir + "/closed.toml"
        let closedPort = freePort()
        try config.replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(closedPort)").write(toFile: closedConfig, atomically: true, encoding: .utf8)
        let unreachable = try LiveServer.run(["deliveries", "--config", closedConfig, "--data-dir", server.dataPath,
                                              "--retry-failed", "--affiliate", "7", "--request", "r-closed"])
        #expect(unreachable.status != 0, "\(unreachable.stdout)")
        #expect(unreachable.stderr.contains("cannot reach the admin listener: http://127.0.0.1:\(closedPort)/deliveries/retry: "
            + "curl_easy_perform: Couldn't connect to server") && unreachable.stderr.contains("--request r-closed"), "\(unreachable.stderr)")
        #expect(Self.sent(receiver, "/gone?c=\(first)") == 2)
        #expect(Self.sent(receiver, "/gone?c=\(second)") == 1 && Self.sent(receiver, "/fixed?c=\(second)") == 1)
        #expect(receiver.requests.count == 4, "\(receiver.requests)")
        #expect(try TestConnection(port: adminPort).get("/metrics").body.contains("trackstar_partner_requeued_total 2"))
        #expect(server.stderrText.contains("retry request once (conversion=\(first)) queued 1 failed postbacks again"))
    }

    /// With the server stopped the CLI takes the log's lock and queues them itself (stored URLs);
    /// the next start sends them.
    @Test func aStoppedServersFailedPostbacksAreQueuedByTheCLIAndSentAtTheNextStart() throws {
        let receiver = try PartnerReceiver(["--always-status", "403"])
        let config = P.config(url: "\(receiver.endpoint)/denied?c={conversion_id}")
        let server = try LiveServer(config: config)
        server.ownsDataDir = false
        let dataDir = server.dataDir, configPath = server.configPath, dataPath = server.dataPath
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let conversion = try P.convert(server, try P.click(server))
        #expect(try eventually(within: 20) { try Self.failed(server, receiver.endpoint) == 1 })
        #expect(try P.deliveries(server)["failed_now"] as? Int == 1)
        server.stop()
        receiver.recover()

        let cli = ["deliveries", "--config", configPath, "--data-dir", dataPath, "--retry-failed", "--endpoint", receiver.endpoint]
        let withoutFlag = try LiveServer.run(["deliveries", "--config", configPath, "--data-dir", dataPath, "--endpoint", receiver.endpoint])
        #expect(withoutFlag.status != 0 && withoutFlag.stderr.contains("--retry-failed"), "\(withoutFlag.stderr)")
        let rerender = try LiveServer.run(cli + ["--rerender"])
        #expect(rerender.status == 1 && rerender.stderr.contains("running server"), "\(rerender.stderr)")
        let done = try LiveServer.run(cli + ["--request", "offline-1"])
        #expect(done.status == 0 && done.stdout.contains("queued 1 failed postbacks again"), "\(done.stdout) \(done.stderr)")
        let repeated = try LiveServer.run(cli + ["--request", "offline-1"])
        #expect(repeated.status == 0 && repeated.stdout.contains("already carried out"), "\(repeated.stdout) \(repeated.stderr)")

        let restarted = try LiveServer(config: config, dataDir: dataDir)
        restarted.ownsDataDir = false
        #expect(try eventually(within: 20) { try Self.delivered(restarted, receiver.endpoint) == 1 })
        #expect(Self.sent(receiver, "/denied?c=\(conversion)") == 2)
    }

    /// Issue 20 item 12: a conversion of an affiliate removed by a reload is recorded and reported,
    /// sends no postback, and is logged once (warning, naming both ids) and counted in /metrics.
    @Test func aRemovedAffiliatesConversionSendsNoPostbackAndIsLoggedAndCounted() throws {
        let receiver = try PartnerReceiver()
        let config = P.config(url: "\(receiver.endpoint)/pb7?c={conversion_id}", extra: "postback_url = \"\(receiver.endpoint)/pb8?c={conversion_id}\"")
            .replacingOccurrences(of: "sink = \"none\"", with: "batch_rows = 1\nbatch_age = \"20ms\"")
        let server = try LiveServer(config: config)
        let click8 = try server.connect().get("/click?offer_id=1&aff_id=8")
        #expect(click8.status == 302)
        let clickID = try #require(URLComponents(string: click8.header("Location") ?? "")?.queryItems?.first { $0.name == "cid" }?.value)
        let removed = try #require(config.range(of: "[[affiliates]]\nid = 8"))
        try String(config[..<removed.lowerBound]).write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(eventually(within: 15) { server.stderrText.contains("reloaded ") && server.stderrText.contains("1 affiliates") })

        let conversion = try P.convert(server, clickID)
        let metric = "trackstar_partner_skipped_total{reason=\"unknown_affiliate\"} 1"
        #expect(try eventually(within: 20) { try server.admin().get("/metrics").body.contains(metric) })
        let kept = try P.convert(server, try P.click(server))
        #expect(eventually(within: 20) { Self.sent(receiver, "/pb7?c=\(kept)") == 1 })
        #expect(!receiver.requests.contains { $0.path.hasPrefix("/pb8") }, "\(receiver.requests)")
        #expect(try P.deliveries(server)["skipped_unknown_affiliate"] as? Int == 1)
        let warnings = server.logLines.filter { $0.contains("no partner postback for conversion \(conversion):") }
        #expect(warnings.count == 1 && warnings.allSatisfy { $0.contains(" warning ") && $0.contains("affiliate 8 is not in the configuration") },
                "\(server.stderrText)")
        // Recorded and reported under affiliate 8 (until the exporter's first batch has made the
        // store, `report` fails with "no such table": asked again, not thrown).
        #expect(eventually(within: 20) {
            (try? report(server, ["--group-by", "affiliate"]))?.rows.contains { "\($0["affiliate"] ?? "")" == "8" && $0["conversions"] as? Int == 1 } == true
        })
        // A restart neither warns again nor loses the count (the delivery log holds it).
        server.stop()
        let restarted = try LiveServer(config: String(config[..<removed.lowerBound]), dataDir: server.dataDir)
        restarted.ownsDataDir = false
        #expect(try eventually(within: 20) { try restarted.admin().get("/metrics").body.contains(metric) })
        #expect(!restarted.stderrText.contains("no partner postback for conversion"))
    }
}
