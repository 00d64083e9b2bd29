// Regression tests for hostile-input bugs found by the fuzz harnesses (Fuzz/) and the hostile-input
// matrix (HostileInputTests). Each states the input inline; the crashing ones run the real binary in
// a child process, so a crash fails the test instead of the test process.
import Foundation
import Testing
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

@Suite("hostile input regressions", .serialized)
struct HostileInputRegressionTests {
    /// Writes `text` to a temporary config file and runs `trackstar check-config` on it.
    func checkConfig(_ text: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nested-\(UUID().uuidString).toml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try LiveServer.run(["check-config", path])
    }

    /// TOML values nest by recursion (parseValue → parseArray / parseInlineTable → parseValue) with no
    /// depth limit: `a = [[[[…` 100 000 deep (100 KB) overflows the stack and kills `check-config`
    /// (and `serve`, and a SIGHUP reload) with SIGSEGV. The debug build already dies at about 5 000
    /// levels, the release build at about 50 000 (arrays) or 20 000 (inline tables); the fuzz harness
    /// under ASan reports a stack-overflow at 4 000. Expected: a problem such as "nested too deeply"
    /// on line 1 and exit status 1.
    @Test(arguments: ["arrays", "inline tables", "arrays of inline tables"])
    func deeplyNestedConfigValueIsAProblemNotACrash(_ shape: String) throws {
        let opening = shape == "arrays" ? "[" : shape == "inline tables" ? "{b=" : "[{b="
        let depth = shape == "arrays of inline tables" ? 50_000 : 100_000
        let result = try checkConfig("a = " + String(repeating: opening, count: depth) + "\n")
        #expect(result.status == 1, "check-config on \(depth)-deep \(shape) ended with status or signal \(result.status) (11 = SIGSEGV)")
        #expect(result.stderr.contains(":1: "), "no problem reported on line 1: \(result.stderr.prefix(300))")
    }

    /// Table headers and dotted keys nest tables without a depth limit too: `[a.a.a.…a]` with 30 000
    /// parts (60 KB) crashes `check-config` with SIGSEGV (recursive freeze of the nested builders),
    /// and on the way costs O(n²) memory, as every level's path string is built by concatenation
    /// (`TOML.join(parent.path, key)`): 20 000 parts (40 KB) already take ~460 MB RSS. Expected:
    /// refused quickly with a problem on line 1 (a key-depth limit).
    @Test(arguments: ["header", "dotted key"])
    func longDottedKeyIsAProblemNotACrash(_ shape: String) throws {
        let path = String(repeating: "a.", count: 30_000) + "a"
        let result = try checkConfig(shape == "header" ? "[\(path)]\n" : "\(path) = 1\n")
        #expect(result.status == 1, "check-config on a 30 000-part \(shape) ended with status or signal \(result.status) (11 = SIGSEGV)")
        #expect(result.stderr.contains(":1: "), "no problem reported on line 1: \(result.stderr.prefix(300))")
    }

    /// A client that pipelines and never reads stalls the connection in `writing`; the sweep skips
    /// writing connections (LoopServer.sweep: `if connection.writing || connection.held { continue }`),
    /// so neither idle_timeout nor header_timeout ever closes it. Each such connection pins a slot,
    /// its 64 KiB output buffer, its ~100 KiB tail and its kernel buffers for as long as the client
    /// wants: max_connections of them lock everyone out for good. Expected: a connection whose output
    /// makes no progress for idle_timeout is closed.
    @Test func clientThatNeverReadsIsDroppedAfterIdleTimeout() throws {
        let config = LiveServer.defaultConfig.replacingOccurrences(
            of: "[server]\n", with: "[server]\nidle_timeout = \"2s\"\nheader_timeout = \"30s\"\n")
        let server = try LiveServer(config: config)
        var requests: [UInt8] = []
        while requests.count < 2 * 1024 * 1024 {
            requests += Array("GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        }
        let flood = try RawClient(port: server.port, receiveBuffer: 16 * 1024)
        _ = flood.sendAllInBackground(requests)
        // First the server must be stalled on this connection (it stops reading), …
        let stalled = eventually(within: 30, every: 0.2) {
            (KernelSocket.find(localPort: server.port, remotePort: flood.localPort)?.receiveQueue ?? 0) > 0
        }
        #expect(stalled)
        // … then, with no progress for idle_timeout (2 s), it must let the connection go.
        let dropped = eventually(within: 20, every: 0.2) {
            guard let s = KernelSocket.find(localPort: server.port, remotePort: flood.localPort) else { return true }
            return s.state != 1  // no longer ESTABLISHED
        }
        #expect(dropped, "a client that never reads kept its connection for 20 s with idle_timeout = 2s")
        server.expectStillServing()
    }

    /// A client that pipelines a large batch and reads every answer is making progress all along, yet
    /// it gets `408 Request Timeout` mid-stream and a reset. The header-timeout clock is the loop's
    /// cached time: `LoopServer.startReading` passes `uv_now(loop)` to `Connection.received`, and
    /// libuv does not refresh it while `uv__read` performs up to 32 reads (each answered at once) in
    /// one loop iteration. `keepTail` then stamps `partialSince` with a time up to a whole burst old,
    /// and the next sweep finds the tail "older" than `header_timeout`. With `header_timeout = "1s"`
    /// (debug build) the 408 comes after 25 000–31 000 of 80 000 clicks; with the default 10 s it
    /// takes a 10 s burst (an overloaded node). Calling `uv_update_time(loop)` before `uv_now` in the
    /// read callback made all 80 000 answered (3 runs of 3, against 0 of 3 without); the `written`
    /// path (`drive(… now: uv_now(loop.loop))`) has the same stale clock.
    @Test func pipelinedBatchFromAReadingClientIsNotTimedOut() throws {
        let config = LiveServer.defaultConfig.replacingOccurrences(of: "[server]\n", with: "[server]\nheader_timeout = \"1s\"\n")
        let server = try LiveServer(config: config)
        var requests: [UInt8] = []
        var count = 0
        while requests.count < 4 * 1024 * 1024 {
            requests += Array("GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
            count += 1
        }
        let client = try RawClient(port: server.port, receiveBuffer: nil)
        let sent = client.sendAllInBackground(requests)
        let (bytes, closed) = client.readResponses(count, until: Date().addingTimeInterval(120))
        let (codes, _) = statusCodes(ofBodilessResponses: bytes)
        let refused = codes.firstIndex { $0 != 302 }
        #expect(codes.count == count && refused == nil,
                "\(codes.count) of \(count) answered\(refused.map { ", answer \($0) is \(codes[$0])" } ?? "")\(closed ? ", then closed" : "")")
        _ = sent.wait(timeout: .now() + 60)
        server.expectStillServing()
    }
}
