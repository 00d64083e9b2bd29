// Live tests of partner postbacks: a receiver on loopback records what Trackstar sends after each
// conversion, fails on purpose, or pauses; Trackstar is restarted with deliveries pending.
import Foundation
import Testing
import TrackstarTestSupport

@Suite("partner postbacks", .serialized)
struct PartnerPostbackTests {
    /// A config whose affiliate 7 posts back to `url`; `delivery` is the [delivery] body.
    static func config(url: String, delivery: String = "", extra: String = "") -> String {
        """
        [export]
        sink = "none"

        [delivery]
        \(delivery)

        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}"
        payout = 2.50
        revenue = 4
          [offers.events.upsell]
          payout = 1.25

        [[affiliates]]
        id = 7
        postback_url = "\(url)"
        postback_statuses = ["approved", "pending"]

        [[affiliates]]
        id = 8
        \(extra)
        """
    }

    /// Mints a click and returns its ID.
    static func click(_ server: LiveServer, query: String = "") throws -> String {
        let r = try server.connect().get("/click?offer_id=1&aff_id=7\(query)")
        #expect(r.status == 302)
        let location = try #require(r.header("Location"))
        return try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
    }

    /// Records a conversion; returns its id.
    @discardableResult
    static func convert(_ server: LiveServer, _ clickID: String, query: String = "") throws -> Int {
        let r = try server.connect().get("/postback?click_id=\(clickID)\(query)")
        #expect(r.status == 200)
        return try #require(r.json["conversion_id"] as? Int)
    }

    /// `trackstar deliveries --format json` for the server's data dir.
    static func deliveries(_ server: LiveServer, failed: Bool = false) throws -> [String: Any] {
        let result = try LiveServer.run(["deliveries", "--config", server.configPath, "--data-dir", server.dataPath, "--format", "json"]
                                         + (failed ? ["--failed"] : []))
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    static func endpoint(_ report: [String: Any], _ name: String) -> [String: Any]? {
        (report["endpoints"] as? [[String: Any]])?.first { $0["endpoint"] as? String == name }
    }

    @Test func macrosArriveFilledAndEncoded() throws {
        let receiver = try PartnerReceiver()
        let template = "\(receiver.endpoint)/pb?cid={aff_click_id}&raw={raw:aff_click_id}&s1={sub1}&src={source}&click={click_id}"
            + "&conv={conversion_id}&o={offer_id}&a={aff_id}&e={event}&p={payout}&r={revenue}&cur={currency}&st={status}"
            + "&tx={txid}&amt={amount}&ts={timestamp}&s2={sub2}"
        let server = try LiveServer(config: Self.config(url: template))
        let clickID = try Self.click(server, query: "&aff_click_id=a%20b%26c%2Fd&sub1=%C3%A9t%C3%A9&source=news")
        let conversion = try Self.convert(server, clickID, query: "&txid=order%231&amount=19.99&status=pending&event=upsell")
        #expect(eventually(within: 20) { receiver.requests.count >= 1 })
        let path = try #require(receiver.requests.first?.path)
        let query = try #require(path.split(separator: "?", maxSplits: 1).last).split(separator: "&").map(String.init)
        #expect(path.hasPrefix("/pb?"))
        #expect(query.contains("cid=a%20b%26c%2Fd"))
        #expect(path.contains("&raw=a%20b%26c/d&"))  // raw: printable bytes as they are; space and & still encoded
        #expect(query.contains("s1=%C3%A9t%C3%A9"))
        #expect(query.contains("src=news"))
        #expect(query.contains("click=\(clickID)"))
        #expect(query.contains("conv=\(conversion)"))
        #expect(query.contains("o=1") && query.contains("a=7"))
        #expect(query.contains("e=upsell") && query.contains("p=1.25") && query.contains("r=0.00"))
        #expect(query.contains("cur=USD") && query.contains("st=pending"))
        #expect(query.contains("tx=order%231") && query.contains("amt=19.99"))
        #expect(query.contains("s2="))  // an empty sub is sent empty
        let timestamp = try #require(query.first { $0.hasPrefix("ts=") }.flatMap { Int64($0.dropFirst(3)) })
        #expect(abs(timestamp - Int64(Date().timeIntervalSince1970)) < 600)
        // Delivered once: the report says so, and nothing else was sent.
        #expect(try eventually(within: 20) { (Self.endpoint(try Self.deliveries(server), receiver.endpoint)?["delivered"] as? Int) == 1 })
        #expect(receiver.requests.count == 1)
    }

    @Test func retriesFollowTheBackoffScheduleAndOneSuccessEndsThem() throws {
        let receiver = try PartnerReceiver(["--fail-first", "3", "--fail-status", "503"])
        let server = try LiveServer(config: Self.config(
            url: "\(receiver.endpoint)/retry?c={conversion_id}", delivery: "retry_base = \"400ms\"\nretry_max_delay = \"30s\""))
        try Self.convert(server, try Self.click(server))
        #expect(try eventually(within: 30) { (Self.endpoint(try Self.deliveries(server), receiver.endpoint)?["delivered"] as? Int) == 1 })
        let times = receiver.requests.map(\.millis)
        #expect(times.count == 4, "three failures then one success, then nothing more: \(receiver.requests)")
        // Attempt n+1 waits at least half of 400 ms × 2^(n-1) (jitter draws from [½, 1] of it).
        for n in 1..<times.count {
            let gap = times[n] - times[n - 1]
            let ceiling = Int64(400) << (n - 1)
            #expect(gap >= ceiling / 2 - 5, "gap \(n): \(gap) ms")
        }
        let report = try Self.deliveries(server)
        let affiliate = try #require((report["affiliates"] as? [[String: Any]])?.first)
        #expect(affiliate["delivered"] as? Int == 1 && affiliate["pending"] as? Int == 0)
        #expect(Self.endpoint(report, receiver.endpoint)?["attempts"] as? Int == 4)
    }

    /// A partner answering 429 or 503 with `Retry-After: 1` is tried again after about a second, not
    /// after the hour-long backoff; one answering 429 without it, or 408 with or without it, waits for
    /// the backoff, and neither ends the delivery.
    @Test(arguments: [("429", "1"), ("503", "1"), ("429", nil as String?), ("408", "1"), ("408", nil)])
    func retryAfterIsHonouredOn429And503(status: String, retryAfter: String?) throws {
        let receiver = try PartnerReceiver(["--fail-first", "1", "--fail-status", status] + (retryAfter.map { ["--retry-after", $0] } ?? []))
        let server = try LiveServer(config: Self.config(url: "\(receiver.endpoint)/busy?c={conversion_id}",
                                                        delivery: "retry_base = \"1h\"\nretry_max_delay = \"2h\""))
        try Self.convert(server, try Self.click(server))
        let honoured = (status == "429" || status == "503") && retryAfter != nil
        if honoured {
            #expect(try eventually(within: 30) { (Self.endpoint(try Self.deliveries(server), receiver.endpoint)?["delivered"] as? Int) == 1 })
            let times = receiver.requests.map(\.millis)
            #expect(times.count == 2, "\(receiver.requests)")
            if times.count == 2 { #expect(times[1] - times[0] >= 995, "waited \(times[1] - times[0]) ms") }
        } else {
            // The first attempt is recorded as a retry; the next one is the backoff away (≥ 30 min).
            #expect(try eventually(within: 30) { (Self.endpoint(try Self.deliveries(server), receiver.endpoint)?["attempts"] as? Int) == 1 })
            let report = try Self.deliveries(server)
            let endpoint = try #require(Self.endpoint(report, receiver.endpoint))
            #expect(endpoint["failed"] as? Int == 0 && endpoint["delivered"] as? Int == 0)
            let affiliate = try #require((report["affiliates"] as? [[String: Any]])?.first)
            #expect(affiliate["pending"] as? Int == 1)
            #expect(receiver.requests.count == 1)
        }
    }

    @Test func aClientErrorEndsTheDeliveryAsFailed() throws {
        let receiver = try PartnerReceiver(["--always-status", "404"])
        let server = try LiveServer(config: Self.config(url: "\(receiver.endpoint)/gone?c={conversion_id}",
                                                        delivery: "retry_base = \"100ms\""))
        let conversion = try Self.convert(server, try Self.click(server))
        #expect(try eventually(within: 20) { (Self.endpoint(try Self.deliveries(server), receiver.endpoint)?["failed"] as? Int) == 1 })
        #expect(receiver.requests.count == 1)
        let failure = try #require((try Self.deliveries(server, failed: true)["failures"] as? [[String: Any]])?.first)
        #expect(failure["conversion_id"] as? Int == conversion)
        #expect(failure["http_status"] as? Int == 404)
        #expect(failure["outcome"] as? String == "failed")
        #expect((failure["detail"] as? String)?.contains("receiver says no") == true)
        let table = try LiveServer.run(["deliveries", "--config", server.configPath, "--data-dir", server.dataPath, "--failed"])
        #expect(table.stdout.contains("HTTP 404") && table.stdout.contains("\(conversion)"))
    }

    @Test func aFailingEndpointIsPausedStopsReceivingAndResumesAfterARestart() throws {
        let receiver = try PartnerReceiver(["--always-status", "503"])
        let config = Self.config(url: "\(receiver.endpoint)/p?c={conversion_id}",
                                 delivery: "retry_base = \"100ms\"\nretry_max_delay = \"200ms\"\npause_after = 4\nmax_attempts = 50")
        var server: LiveServer? = try LiveServer(config: config)
        server!.ownsDataDir = false
        let dataDir = server!.dataDir
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        for _ in 0..<2 { try Self.convert(server!, try Self.click(server!)) }
        #expect(try eventually(within: 20) { (Self.endpoint(try Self.deliveries(server!), receiver.endpoint)?["paused"] as? Bool) == true })
        #expect(server!.stderrText.contains("paused after 4 failed attempts"))
        // Paused: with a 100-200 ms retry schedule, a second and a half without a new request shows
        // it (unpaused, about ten more would come). The pause follows the fourth failure; the other
        // postback's attempt may already be under way then and land late (at most one: there are two
        // postbacks), so 4 or 5 in all.
        let atPause = receiver.requests.count
        Thread.sleep(forTimeInterval: 1.5)
        let after = receiver.requests.count
        #expect(atPause >= 4 && after >= atPause && after <= 5, "\(atPause) requests at the pause, \(after) after")
        // Metrics name the paused endpoint.
        let metrics = try server!.admin().get("/metrics")
        #expect(metrics.body.contains("trackstar_partner_endpoint_paused{endpoint=\"\(receiver.endpoint)\"} 1"))
        #expect(metrics.body.contains("trackstar_partner_queue 2"))
        #expect(throws: Never.self) { try PrometheusExposition.parse(metrics.body) }

        // Resuming needs the server's lock: refused while it runs, done offline after it stops.
        // (The CLI's copy of the config turns the admin listener off: it would otherwise ask the default 127.0.0.1:9091.)
        let offline = server!.dataDir + "/offline.toml"
        try (config + "\n\n[admin]\nlisten = \"off\"\n").write(toFile: offline, atomically: true, encoding: .utf8)
        let refused = try LiveServer.run(["deliveries", "--config", offline, "--data-dir", server!.dataPath, "--resume", receiver.endpoint])
        #expect(refused.status == 1 && refused.stderr.contains("in use"))
        server!.stop()
        let configPath = server!.configPath, dataPath = server!.dataPath
        server = nil
        let resumed = try LiveServer.run(["deliveries", "--config", configPath, "--data-dir", dataPath, "--resume", receiver.endpoint + "/any/path"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        receiver.recover()
        let restarted = try LiveServer(config: config, dataDir: dataDir)
        restarted.ownsDataDir = false
        #expect(try eventually(within: 20) {
            let endpoint = Self.endpoint(try Self.deliveries(restarted), receiver.endpoint)
            return endpoint?["delivered"] as? Int == 2 && endpoint?["paused"] as? Bool == false
        })
    }

    @Test func aRunningServerResumesAnEndpointThroughItsAdminListener() throws {
        let receiver = try PartnerReceiver(["--always-status", "503"])
        let config = "[admin]\nlisten = \"127.0.0.1:0\"\n" + Self.config(
            url: "\(receiver.endpoint)/a?c={conversion_id}",
            delivery: "retry_base = \"1h\"\npause_after = 3")
        let server = try LiveServer(config: config)
        let adminPort = try server.adminPort()
        // Three first attempts fail: the endpoint is paused, and each postback waits out an hour's backoff.
        for _ in 0..<3 { try Self.convert(server, try Self.click(server)) }
        func status() throws -> [String: Any] {
            let r = try TestConnection(port: adminPort).get("/deliveries?failed=1")
            #expect(r.status == 200 && r.header("Content-Type") == "application/json")
            return r.json
        }
        #expect(try eventually(within: 20) { (Self.endpoint(try status(), receiver.endpoint)?["paused"] as? Bool) == true })
        #expect(try status()["pending"] as? Int == 3)
        // The CLI finds the log locked by the server and asks the admin listener named in the config.
        let cliConfig = server.dataDir + "/cli.toml"
        try config.replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(adminPort)").write(toFile: cliConfig, atomically: true, encoding: .utf8)
        receiver.recover()
        let resumed = try LiveServer.run(["deliveries", "--config", cliConfig, "--data-dir", server.dataPath, "--resume", receiver.endpoint])
        #expect(resumed.status == 0 && resumed.stdout.contains("resumed \(receiver.endpoint)"), "\(resumed.stderr)")
        let again = try TestConnection(port: adminPort).request(
            "POST /deliveries/resume?endpoint=\(receiver.endpoint) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        #expect(again.status == 409)
        let bad = try TestConnection(port: adminPort).request("POST /deliveries/resume HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        #expect(bad.status == 400 && bad.body.contains("endpoint"))
        // Resuming sends them at once rather than after their backoff.
        #expect(try eventually(within: 20) { (Self.endpoint(try status(), receiver.endpoint)?["delivered"] as? Int) == 3 })
        #expect(server.logLines.contains { $0.contains("paused after 3 failed attempts") && $0.contains("warning") })
    }

    @Test func aRestartResumesPendingDeliveriesAndNeverRefiresDeliveredOnes() throws {
        let receiver = try PartnerReceiver(["--always-status", "500"])
        receiver.recover()
        let config = Self.config(url: "\(receiver.endpoint)/r?c={conversion_id}", delivery: "retry_base = \"1s\"\nretry_max_delay = \"2s\"")
        let first = try LiveServer(config: config)
        first.ownsDataDir = false
        let dataDir = first.dataDir
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let delivered = try Self.convert(first, try Self.click(first))
        #expect(try eventually(within: 20) { (Self.endpoint(try Self.deliveries(first), receiver.endpoint)?["delivered"] as? Int) == 1 })
        receiver.recover(false)
        let pending = try Self.convert(first, try Self.click(first))
        #expect(eventually(within: 20) { receiver.requests.contains { $0.path == "/r?c=\(pending)" } })
        first.kill9()  // a crash with a retry pending

        let second = try LiveServer(config: config, dataDir: dataDir)
        second.ownsDataDir = false
        receiver.recover()
        #expect(try eventually(within: 20) { (Self.endpoint(try Self.deliveries(second), receiver.endpoint)?["delivered"] as? Int) == 2 })
        #expect(receiver.requests.filter { $0.path == "/r?c=\(delivered)" }.count == 1)
        #expect(receiver.requests.filter { $0.path == "/r?c=\(pending)" }.count >= 2)
        // A conversion after the restart is delivered too (the scan position survived the crash).
        let third = try Self.convert(second, try Self.click(second))
        #expect(eventually(within: 20) { receiver.requests.contains { $0.path == "/r?c=\(third)" } })
    }

    @Test func httpsWithACertificateTrustedThroughConfiguration() throws {
        let tls = try TLSFiles()
        let receiver = try PartnerReceiver([], tls: (tls.cert, tls.key))
        let url = "\(receiver.endpoint)/secure?c={conversion_id}"
        // Without the CA the certificate is refused (verification is never turned off)...
        let untrusted = try LiveServer(config: Self.config(url: url, delivery: "max_attempts = 1"))
        let refused = try Self.convert(untrusted, try Self.click(untrusted))
        #expect(try eventually(within: 20) { (Self.endpoint(try Self.deliveries(untrusted), receiver.endpoint)?["failed"] as? Int) == 1 })
        let failure = try #require((try Self.deliveries(untrusted, failed: true)["failures"] as? [[String: Any]])?.first)
        #expect(failure["conversion_id"] as? Int == refused && failure["http_status"] as? Int == 0)
        #expect(receiver.requests.isEmpty)
        // ...and with it configured as ca_file, delivered.
        let trusted = try LiveServer(config: Self.config(url: url, delivery: "ca_file = \"\(tls.ca)\""))
        let conversion = try Self.convert(trusted, try Self.click(trusted))
        #expect(try eventually(within: 20) { (Self.endpoint(try Self.deliveries(trusted), receiver.endpoint)?["delivered"] as? Int) == 1 })
        #expect(receiver.requests.map(\.path) == ["/secure?c=\(conversion)"])
    }

    @Test func aSlowOrDroppingPartnerNeverSlowsClicks() throws {
        let receiver = try PartnerReceiver(["--delay-ms", "1500", "--drop-first", "1"])
        let server = try LiveServer(config: Self.config(url: "\(receiver.endpoint)/slow?c={conversion_id}",
                                                        delivery: "retry_base = \"100ms\"\ntimeout = \"10s\""))
        for _ in 0..<12 { try Self.convert(server, try Self.click(server)) }
        // While 12 postbacks hang on the partner, clicks and postbacks are still answered at once.
        let started = Date()
        for _ in 0..<50 { _ = try Self.click(server) }
        #expect(Date().timeIntervalSince(started) < 2.5)
        #expect(try eventually(within: 40) { (Self.endpoint(try Self.deliveries(server), receiver.endpoint)?["delivered"] as? Int) == 12 })
    }
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl command.
struct TLSFiles {
    let directory: String
    var ca: String { directory + "/ca.pem" }
    var cert: String { directory + "/server.pem" }
    var key: String { directory + "/server.key" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Trackstar Test CA",
             "-keyout", directory + "/ca.key", "-out", ca],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", directory + "/server.csr"],
            ["x509", "-req", "-in", directory + "/server.csr", "-CA", ca, "-CAkey", directory + "/ca.key", "-CAcreateserial",
             "-days", "2", "-out", cert, "-extfile", directory + "/san.cnf"],
        ]
        try "subjectAltName = IP:127.0.0.1\n".write(toFile: directory + "/san.cnf", atomically: true, encoding: .utf8)
        for arguments in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestClientError.closed }
        }
    }
}
