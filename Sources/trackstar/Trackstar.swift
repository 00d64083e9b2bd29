// The `trackstar` command line: `serve` runs a node, `check-config` validates a configuration file.
import ArgumentParser
import TrackstarCore
import TrackstarServer
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

@main
struct Trackstar: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trackstar",
        abstract: "Server-to-server click tracking: mint click IDs, redirect, attribute postbacks.",
        subcommands: [Serve.self, CheckConfig.self, CatalogCommand.self, Inspect.self, Report.self, Deliveries.self, UpdateConversion.self, Conversion.self, Replay.self])
}

/// `trackstar serve --config FILE [--listen HOST:PORT] [--loops N] [--io auto|io_uring|epoll] [--data-dir DIR] [--geo KIND]`.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve clicks and postbacks until SIGINT or SIGTERM.")

    @Option(name: .long, help: "Configuration file (TOML).")
    var config: String

    @Option(name: .long, help: "Listen address, overriding [server] listen (HOST:PORT, IPv6 as [::1]:8080).")
    var listen: String?

    @Option(name: .long, help: "Event loops (threads), overriding [server] loops.")
    var loops: Int?

    @Option(name: .long, help: "Receive path, overriding [server] io: auto, io_uring or epoll.")
    var io: String?

    @Option(name: .customLong("data-dir"), help: "Data directory, overriding [storage] data_dir.")
    var dataDir: String?

    @Option(name: .long, help: "Location database, overriding [geo] database: libloc, mmdb or off (also at each reload).")
    var geo: String?

    @Option(name: .customLong("admin-listen"), help: "Admin listener address, overriding [admin] listen (HOST:PORT, or off).")
    var adminListen: String?

    @Flag(name: .customLong("quarantine-damaged"),
          help: "Start even if a segment is corrupt before its tail: rename it *.quarantined and go on without its records.")
    var quarantineDamaged = false

    func run() throws {
        var settings = try loadConfig(config)
        if let listen {
            guard let (host, port) = ListenAddress.parse(listen) else {
                throw ValidationError("--listen: expected HOST:PORT (IPv6 as [::1]:8080), got \(listen)")
            }
            settings.server.host = host
            settings.server.port = port
        }
        if let loops {
            guard (1...ClickIDLimits.maxLoops).contains(loops) else { throw ValidationError("--loops: expected 1...\(ClickIDLimits.maxLoops)") }
            settings.server.loops = loops
        }
        if let io {
            guard let choice = ServerIO(rawValue: io) else { throw ValidationError("--io: expected auto, io_uring or epoll, got \(io)") }
            settings.server.io = choice
        }
        if let dataDir { settings.storage.dataDir = dataDir }
        if let adminListen {
            if adminListen == "off" { settings.admin.host = nil } else {
                guard let (host, port) = ListenAddress.parse(adminListen) else {
                    throw ValidationError("--admin-listen: expected HOST:PORT (IPv6 as [::1]:9091) or off, got \(adminListen)")
                }
                settings.admin.host = host
                settings.admin.port = port
            }
        }
        if let geo {
            guard let kind = GeoDatabaseKind(rawValue: geo) else { throw ValidationError("--geo: expected libloc, mmdb or off, got \(geo)") }
            settings.geo.database = kind
        }
        try serve(settings)
    }

    func serve(_ settings: TrackstarConfig) throws {
        // Block the signals before any loop thread starts, so only this thread receives them.
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        Log.configure(settings.log)
        let server: TrackstarServer
        do {
            server = try TrackstarServer(config: settings, source: try ConfigSource.read(config),
                                         recovery: RecoveryOptions(quarantineDamaged: quarantineDamaged))
        } catch {
            Log.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        // Standard output carries the start-up report (scripts and tests read the ports from it);
        // everything the running server has to say goes to the log on standard error.
        for note in server.recoveryNotes {
            print("trackstar: recovery: \(note)")
            Log.notice("recovery: \(note)")  // also in the log, where log pipelines look for it
        }
        do { try server.start() } catch {
            Log.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        let host = settings.server.host.contains(":") ? "[\(settings.server.host)]" : settings.server.host
        var listening = "trackstar: listening on \(host):\(server.port) with \(server.loops) loops (\(server.ioBackend)), data in \(settings.storage.dataDir)"
        // After the public line and in the same write, so a reader waiting for "listening on" sees both.
        if let admin = server.adminAddress {
            listening += "\ntrackstar: admin listening on \(admin) (/metrics, /healthz, /readyz, /api/v1, console at /)"
        }
        print(listening)
        fflush(nil)
        Log.info("serving", ["address": "\(host):\(server.port)", "loops": "\(server.loops)", "io": "\(server.ioBackend)",
                             "admin": "\(server.adminAddress ?? "none")"])
        if let note = server.ioBackendNote { Log.notice("io_uring unavailable, the loops read with epoll: \(note)") }
        var received: Int32 = 0
        while sigwait(&signals, &received) == 0, received == SIGHUP {
            reload(server)
        }
        Log.info("stopping", ["signal": "\(received)"])
        server.stop()
        Log.info("stopped")
    }

    /// SIGHUP: reload offers and affiliates from the same file; a bad file is refused whole.
    func reload(_ server: TrackstarServer) {
        switch ConfigLoader.load(path: config) {
        case .failure(let problems):
            for problem in problems {
                Log.error("reload: \(config):\(problem.line): \(problem.message)", ["file": "\(config)", "line": "\(problem.line)"])
            }
            Log.error("reload refused (\(problems.count) problems); the running configuration stays", ["file": "\(config)"])
        case .success(var next):
            // The command-line overrides still apply to the settings they override.
            if let listen, let (host, port) = ListenAddress.parse(listen) { next.server.host = host; next.server.port = port }
            if let loops { next.server.loops = loops }
            if let dataDir { next.storage.dataDir = dataDir }
            if let adminListen {
                if adminListen == "off" { next.admin.host = nil } else if let (host, port) = ListenAddress.parse(adminListen) {
                    next.admin.host = host; next.admin.port = port
                }
            }
            if let geo, let kind = GeoDatabaseKind(rawValue: geo) { next.geo.database = kind }
            do {
                let notes = try server.reload(next, source: try ConfigSource.read(config))
                for note in notes { Log.notice("reload: \(note)", ["file": "\(config)"]) }
                Log.info("reloaded \(config): \(next.offers.count) offers, \(next.affiliates.count) affiliates", ["file": "\(config)"])
            } catch {
                Log.error("reload refused: \(error); the running configuration stays", ["file": "\(config)"])
            }
        }
        fflush(nil)
    }
}

/// `trackstar check-config FILE`: prints every problem with its line; exits 1 if there are any.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate a configuration file.")

    @Argument(help: "Configuration file (TOML).")
    var file: String

    func run() throws {
        let settings = try loadConfig(file)
        if let problem = RuntimeCheck.enrichmentProblem(in: settings) {  // the files it names, as serve opens them
            printError(problem.line > 0 ? "\(file):\(problem.line): \(problem.message)" : "\(file): \(problem.message)")
            printError("\(file): 1 problem found")
            throw ExitCode(1)
        }
        print("\(file): ok (\(settings.offers.count) offers, \(settings.affiliates.count) affiliates)")
    }
}

/// `trackstar inspect DATA_DIR`: shards, segments, counts, newest snapshot, full integrity check.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report on a data directory and verify every record; exits 1 on damage.")

    @Argument(help: "The data directory ([storage] data_dir).")
    var dataDir: String

    func run() throws {
        let (lines, damaged) = Inspection.run(dataDir: dataDir)
        for line in lines { print(line) }
        if damaged { throw ExitCode(1) }
    }
}

/// Loads a configuration or prints each problem as `FILE:LINE: message` and exits 1.
func loadConfig(_ path: String) throws -> TrackstarConfig {
    switch ConfigLoader.load(path: path) {
    case .success(let config):
        if let problem = RuntimeCheck.problem(in: config) {
            printError(problem.line > 0 ? "\(path):\(problem.line): \(problem.message)" : "\(path): \(problem.message)")
            printError("\(path): 1 problem found")
            throw ExitCode(1)
        }
        return config
    case .failure(let failure):
        for problem in failure {
            printError(problem.line > 0 ? "\(path):\(problem.line): \(problem.message)" : "\(path): \(problem.message)")
        }
        printError("\(path): \(failure.count) problem\(failure.count == 1 ? "" : "s") found")
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

enum ClickIDLimits {
    static let maxLoops = ClickID.maxShards
}

/// HOST:PORT with IPv6 in brackets.
enum ListenAddress {
    static func parse(_ text: String) -> (String, UInt16)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            return (host, port)
        }
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        return (String(text[..<colon]), port)
    }
}
