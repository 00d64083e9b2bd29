// A ClickHouse server of the tests' own: Debian's clickhouse-server (18.16) started on loopback with
// a generated config, a temporary data dir and free ports; stoppable and restartable on the same
// data and ports (to play a sink outage). One copy, for the export and the server tests.
import Foundation
import TrackstarCore
import TrackstarExport
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A clickhouse-server process of one test suite's own.
public final class ClickHouseServer: @unchecked Sendable {  // driven by one serialized suite
    public static let binary = "/usr/sbin/clickhouse-server"
    /// Whether Debian's clickhouse-server is installed (the suites skip otherwise).
    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    /// Its config, users and data.
    public let directory: String
    /// Its HTTP port (what the sinks use).
    public let httpPort: UInt16
    /// Its native-protocol port.
    public let tcpPort: UInt16
    private var pid: pid_t = 0

    /// The HTTP base URL.
    public var url: String { "http://127.0.0.1:\(httpPort)" }
    /// A user besides `default` that needs a password; its profile reads max_threads = 1 (default's: 2).
    public static let user = "trackstar", password = "s3cret-pass"

    /// Writes a config in a new temporary directory and starts the server on free ports.
    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-ch-\(UUID().uuidString)").path
        httpPort = freePort()
        var tcp = freePort()
        while tcp == httpPort { tcp = freePort() }
        tcpPort = tcp
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        try config.write(toFile: directory + "/config.xml", atomically: true, encoding: .utf8)
        try users.write(toFile: directory + "/users.xml", atomically: true, encoding: .utf8)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server and waits (up to 60 s) until it answers `/ping`. Spawned with posix_spawn, not
    /// Foundation's Process: clickhouse-server closes inherited descriptors at start-up, which makes
    /// Process's monitor block in waitpid on it and stalls every other Process of the test run.
    public func start() throws {
        pid = try ClickHouseServer.spawn([ClickHouseServer.binary, "--config-file=\(directory)/config.xml"])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let answer = try? HTTPClient(baseURL: url, timeoutSeconds: 5).request(.get, "/ping"),
               answer.status == 200 { return }
            guard isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)  // polling interval
        }
        let log = (try? String(contentsOfFile: directory + "/server.err.log", encoding: .utf8)) ?? ""
        throw ExportError("clickhouse-server did not answer on port \(httpPort) within 60 s; its error log: \(log.suffix(2000))")
    }

    /// Whether the spawned server is still running (reaps it if it exited).
    public var isRunning: Bool {
        guard pid > 0 else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { pid = 0; return false }
        return true
    }

    /// Stops the server (SIGTERM, then SIGKILL after 20 s) and waits for it.
    public func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        _ = eventually(within: 20, every: 0.05) { !isRunning }
        if pid > 0 {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            pid = 0
        }
    }

    /// Starts `arguments[0]` with stdio on /dev/null and SIGTERM/SIGINT at their defaults.
    public static func spawn(_ arguments: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Test threads (libdispatch workers) block signals; the server must get SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, environ)
        guard code == 0 else { throw ExportError("cannot start \(arguments[0]): error \(code)") }
        return pid
    }

    /// Runs a query, returning the TabSeparated answer.
    public func query(_ sql: String) throws -> String {
        let answer = try HTTPClient(baseURL: url).request(.post, "/", body: Array(sql.utf8))
        guard answer.status == 200 else { throw ExportError("ClickHouse: \(answer.text)") }
        return answer.text
    }

    private var config: String {
        """
        <?xml version="1.0"?>
        <yandex>
          <logger><level>warning</level><log>\(directory)/server.log</log><errorlog>\(directory)/server.err.log</errorlog>
            <size>10M</size><count>1</count></logger>
          <http_port>\(httpPort)</http_port>
          <tcp_port>\(tcpPort)</tcp_port>
          <listen_host>127.0.0.1</listen_host>
          <max_connections>64</max_connections>
          <max_concurrent_queries>32</max_concurrent_queries>
          <mark_cache_size>67108864</mark_cache_size>
          <uncompressed_cache_size>67108864</uncompressed_cache_size>
          <path>\(directory)/data/</path>
          <tmp_path>\(directory)/tmp/</tmp_path>
          <user_files_path>\(directory)/user_files/</user_files_path>
          <format_schema_path>\(directory)/format_schemas/</format_schema_path>
          <users_config>\(directory)/users.xml</users_config>
          <default_profile>default</default_profile>
          <default_database>default</default_database>
          <timezone>UTC</timezone>
          <mlock_executable>false</mlock_executable>
        </yandex>
        """
    }

    private var users: String {
        """
        <?xml version="1.0"?>
        <yandex>
          <profiles><default><max_memory_usage>2000000000</max_memory_usage><max_threads>2</max_threads></default>
            <auth><max_memory_usage>2000000000</max_memory_usage><max_threads>1</max_threads></auth></profiles>
          <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile><quota>default</quota></default>
            <\(ClickHouseServer.user)><password>\(ClickHouseServer.password)</password><networks><ip>127.0.0.1</ip></networks>
            <profile>auth</profile><quota>default</quota></\(ClickHouseServer.user)></users>
          <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
            <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
        </yandex>
        """
    }
}
