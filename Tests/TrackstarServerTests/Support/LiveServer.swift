// Starts the real `trackstar` binary on an ephemeral port with a temporary data dir and config,
// and stops it when the test is done.
import Foundation

/// A `trackstar serve` child process for one test.
final class LiveServer: @unchecked Sendable {  // used from test threads; its state is set once
    let process = Process()
    let dataDir: String
    let configPath: String
    private(set) var port: UInt16 = 0
    /// Everything the server printed up to and including its "listening on" line.
    private(set) var startupOutput = ""
    /// Whether deinit removes the data dir (false when a test restarts on the same one).
    var ownsDataDir = true
    private let output = Pipe()

    /// The package root, found from this file's path.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `trackstar` executable built next to the tests.
    static var binary: String {
        if let chosen = ProcessInfo.processInfo.environment["TRACKSTAR_BINARY"] { return chosen }  // make sanitize
        let candidates = [".build/debug/trackstar", ".build/release/trackstar"].map { packageRoot.appendingPathComponent($0).path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// Writes `config` (a `[server]` listen on port 0 is prepended) and starts the server.
    init(config: String = LiveServer.defaultConfig, loops: Int = 2, dataDir: String? = nil, extraArguments: [String] = [],
         environment: [String: String] = [:]) throws {
        let dir = dataDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("trackstar-test-\(UUID().uuidString)").path
        self.dataDir = dir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        configPath = dir + "/test.toml"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: LiveServer.binary)
        // TRACKSTAR_TEST_IO=epoll|io_uring runs every live test on that receive path (`make test-epoll`).
        let io = ProcessInfo.processInfo.environment["TRACKSTAR_TEST_IO"].map { ["--io", $0] } ?? []
        // Tests that do not name a location database run without one, reloads included: loading the
        // full IPFire table takes seconds in a debug build, for every server a test starts.
        let geo = config.contains("[geo]") ? [] : ["--geo", "off"]
        // The admin listener is on by default at 127.0.0.1:9091; tests running at once each take a free
        // port, unless the test chose the admin address itself (in its config or arguments).
        let choosesAdmin = extraArguments.contains("--admin-listen")
            || config.range(of: #"\[admin\][^\[]*listen\s*="#, options: .regularExpression) != nil
        let admin = choosesAdmin ? [] : ["--admin-listen", "127.0.0.1:0"]
        process.arguments = ["serve", "--config", configPath, "--listen", "127.0.0.1:0"] + admin + [
                             "--loops", "\(loops)", "--data-dir", dir + "/data"] + io + geo + extraArguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = output
        FileManager.default.createFile(atPath: dir + "/stderr.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: dir + "/stderr.log")
        try process.run()
        port = try readPort()
    }

    /// Reads stdout until the "listening on HOST:PORT" line.
    private func readPort() throws -> UInt16 {
        var text = ""
        let handle = output.fileHandleForReading
        while text.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression) == nil {
            let data = handle.availableData
            if data.isEmpty { throw TestClientError.closed }
            text += String(decoding: data, as: UTF8.self)
        }
        startupOutput = text
        guard let range = text.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = UInt16(text[range].split(separator: ":").last!) else { throw TestClientError.closed }
        return port
    }

    func connect() throws -> TestConnection { try TestConnection(port: port) }

    /// The admin port, from the "admin listening on" start-up line (printed with the public one).
    func adminPort() throws -> UInt16 {
        let pattern = #"admin listening on 127\.0\.0\.1:(\d+)"#
        guard let range = startupOutput.range(of: pattern, options: .regularExpression),
              let port = UInt16(startupOutput[range].split(separator: ":").last!) else { throw TestClientError.closed }
        return port
    }

    /// A connection to the admin listener (/metrics, /readyz, the management API).
    func admin() throws -> TestConnection { try TestConnection(port: try adminPort()) }

    /// What the server has written to standard error so far.
    var stderrText: String { (try? String(contentsOfFile: dataDir + "/stderr.log", encoding: .utf8)) ?? "" }

    /// The data directory the server writes (`--data-dir`).
    var dataPath: String { dataDir + "/data" }

    /// Kills the server with SIGKILL (a crash) and waits for it.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Runs `trackstar ARGS` to completion; returns its exit status and output.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // A command expected to exit must not hang the suite if it starts serving instead.
        // The work item is cancelled once the process has exited, so a reused PID is never signalled.
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// Sends SIGTERM and waits for exit.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
        if ownsDataDir { try? FileManager.default.removeItem(atPath: dataDir) }
    }

    static let defaultConfig = """
    [server]
    listen = "127.0.0.1:0"

    [[offers]]
    id = 1
    url = "https://shop.example/landing?cid={click_id}&a={aff_id}&o={offer_id}&s1={sub1}&s2={sub2}&ac={aff_click_id}&src={source}&t={timestamp}"
    click_lifetime = "30d"
    payout = 2.50
    revenue = 4.00
      [offers.events.upsell]
      payout = 1.00
      revenue = 2.00

    [[offers]]
    id = 2
    url = "https://paused.example/?cid={click_id}"
    fallback_url = "https://fallback.example/?o={offer_id}"
    status = "paused"

    [[offers]]
    id = 3
    url = "https://guarded.example/?cid={click_id}"
    token = "adv-secret"
    allowed_ips = ["127.0.0.0/8"]
    payout = 1

    [[offers]]
    id = 4
    url = "https://slow.example/?cid={click_id}"
    min_conversion_delay = "1h"

    [[offers]]
    id = 5
    url = "https://multi.example/?cid={click_id}"
    multiple_conversions = true
    payout = 0.5

    [[offers]]
    id = 6
    url = "https://elsewhere.example/?cid={click_id}"
    allowed_ips = ["10.0.0.0/8"]

    [[affiliates]]
    id = 7

    [[affiliates]]
    id = 8
    status = "paused"
    """
}
