// `tsload`: Trackstar's load generator. `tsload run` (the default) drives a server; the other
// subcommands serve the comparison harness (config, free port, the summary table).
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@main
struct TSLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsload",
        abstract: "HTTP/1.1 load generator for Trackstar: open or closed loop, click and postback scenarios.",
        subcommands: [Run.self, Summarize.self, TrackstarConfig.self, FreePort.self],
        defaultSubcommand: Run.self)
}

extension Scenario: ExpressibleByArgument {}

/// `tsload [run] --url http://127.0.0.1:PORT [--rate R] …`: one measured run.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Drive a server and report throughput, latency, statuses and server cost.")

    @Option(help: "Target, http://IPv4:PORT (loopback only).") var url = "http://127.0.0.1:8080"
    @Option(help: "Generator threads, one libuv loop each.") var threads = 1
    @Option(help: "Keep-alive connections over all threads.") var connections = 64
    @Option(help: "Measured seconds (after the warm-up).") var duration = 5.0
    @Option(help: "Warm-up seconds before the window opens.") var warmup = 1.0
    @Option(help: "Open loop: requests per second over all connections. Absent: closed loop.") var rate: Double?
    @Option(help: "Requests in flight per connection (HTTP/1.1 pipelining).") var pipeline = 1
    @Option(help: "clicks | postbacks | forged | flood.") var scenario = Scenario.clicks
    @Option(name: .customLong("postback-share"), help: "Flood: share of minted IDs that get a valid postback.")
    var postbackShare = 0.3
    @Option(help: "Offers in the campaign (the server's config must define 1...N).") var offers = 50
    @Option(help: "Affiliates in the campaign (1...N).") var affiliates = 200
    @Option(help: "Postbacks: click IDs to mint before the window (over all threads).") var pool = 300_000
    @Option(name: .customLong("tick-us"), help: "Open loop: shortest pacer sleep, microseconds.") var tickMicros = 100
    @Option(name: .customLong("server-pid"), help: "Server process for CPU and RSS (repeatable; children are included).")
    var serverPIDs: [Int32] = []
    @Option(help: "Label carried into the report (the harness uses measure/server).") var label: String?
    @Option(help: "Random seed for request shapes.") var seed: UInt64 = 0x5EED
    @Flag(name: .customLong("close"), help: "One connection per request: each carries Connection: close and the server closes it.")
    var closeEach = false
    @Flag(help: "Print one line of JSON instead of the table.") var json = false

    func validate() throws {
        guard Self.parseURL(url) != nil else { throw ValidationError("--url: expected http://IPv4:PORT") }
        guard threads >= 1, connections >= threads else { throw ValidationError("need 1 <= --threads <= --connections") }
        guard duration > 0, warmup >= 0, pipeline >= 1, pipeline <= 1024 else { throw ValidationError("bad --duration, --warmup or --pipeline") }
        guard rate.map({ $0 > 0 }) ?? true else { throw ValidationError("--rate must be positive") }
        guard offers >= 1, affiliates >= 1, pool >= 1, tickMicros >= 1 else { throw ValidationError("bad --offers, --affiliates, --pool or --tick-us") }
        guard (0...1).contains(postbackShare) else { throw ValidationError("--postback-share: expected 0...1") }
        guard !closeEach || pipeline == 1 else { throw ValidationError("--close needs --pipeline 1") }
    }

    func run() throws {
        let (host, port) = Self.parseURL(url)!
        let plan = LoadPlan(host: host, port: port, threads: threads, connections: connections, durationSeconds: duration,
                            warmupSeconds: warmup, rate: rate, pipeline: pipeline, scenario: scenario, postbackShare: postbackShare,
                            campaign: Campaign(offers: offers, affiliates: affiliates), pool: pool,
                            tickNanos: UInt64(tickMicros) * 1_000, seed: seed, runID: Self.runID(), closeEach: closeEach)
        let report = LoadRun(plan: plan, serverPIDs: serverPIDs, label: label).execute()
        print(json ? report.json : report.text)
    }

    /// Wall-clock microseconds: unique enough to keep runs' txids apart.
    static func runID() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) &* 1_000_000 &+ UInt64(now.tv_nsec / 1_000)
    }

    /// `http://HOST:PORT[/…]` → host and port.
    static func parseURL(_ url: String) -> (String, Int32)? {
        guard url.hasPrefix("http://") else { return nil }
        let authority = url.dropFirst(7).prefix { $0 != "/" }
        guard let colon = authority.lastIndex(of: ":"), let port = Int32(authority[authority.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        return (String(authority[..<colon]), port)
    }
}

/// `tsload trackstar-config --listen 127.0.0.1:PORT --data-dir DIR`: the campaign as a Trackstar config.
struct TrackstarConfig: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trackstar-config", abstract: "Print a Trackstar config defining the campaign.")

    @Option var listen = "127.0.0.1:0"
    @Option(name: .customLong("data-dir")) var dataDir: String
    @Option var offers = 50
    @Option var affiliates = 200
    @Option(name: .customLong("postback-url"), help: "Every affiliate's partner postback URL template.") var postbackURL: String?
    @Option(name: .customLong("extra"), help: "TOML put before the offers (e.g. a [delivery] table).") var extra: String?

    func run() {
        var text = Campaign(offers: offers, affiliates: affiliates).trackstarConfig(listen: listen, dataDir: dataDir)
        if let postbackURL {
            for affiliate in 1...affiliates {
                let name = "name = \"Affiliate \(affiliate)\"\n"
                text = text.replacingOccurrences(of: name, with: name + "postback_url = \"\(postbackURL)\"\n")
            }
        }
        if let extra, let first = text.range(of: "[[offers]]") { text.insert(contentsOf: extra + "\n\n", at: first.lowerBound) }
        print(text, terminator: "")
    }
}

/// `tsload free-port`: a loopback TCP port that was free a moment ago (for servers that cannot bind port 0).
struct FreePort: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "free-port", abstract: "Print a free loopback TCP port.")

    func run() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw ExitCode(1) }
        print(UInt16(bigEndian: address.sin_port))
    }
}
