// `[admin] listen`: a listener of its own (one loop, its own connection handler and limits) for
// /metrics, /healthz, /readyz, the management API and the console, so operator endpoints need not
// face the internet; on by default at 127.0.0.1:9091. It starts before
// recovery, so /healthz answers and /readyz says "recovering" while the data dir is verified.
import TrackstarCore
import TrackstarIO
import TrackstarConfiguration
#if canImport(Glibc)
import Glibc
#endif

/// The admin loop and its handler.
final class AdminListener: @unchecked Sendable {  // set once in init
    let group: ServerGroup
    let handler: AdminHandler
    let host: String
    /// The bound port (the kernel's choice for port 0).
    var port: UInt16 { group.port }

    private init(group: ServerGroup, handler: AdminHandler, host: String) {
        self.group = group; self.handler = handler; self.host = host
    }

    /// Binds and starts the admin loop; nil when `[admin] listen` is not set.
    static func start(config: TrackstarConfig, readiness: Readiness) throws(StartupError) -> AdminListener? {
        let admin = config.admin
        guard let host = admin.host else { return nil }
        // Both listeners use SO_REUSEPORT: on one port the kernel would mix public and admin clients.
        if admin.port != 0 && admin.port == config.server.port {
            throw StartupError("admin.listen: port \(admin.port) is also the public listener's; give the admin listener a port of its own")
        }
        if admin.port != 0, let problem = portTaken(host: host, port: admin.port) {
            throw StartupError("admin.listen \(host):\(admin.port): \(problem); another process (a second trackstar?) has it. Give [admin] listen a free port, or listen = \"off\"")
        }
        let handler = AdminHandler(readiness: readiness)
        var limits = ConnectionLimits()
        limits.maxConnections = 256
        limits.idleTimeoutMillis = UInt64(config.server.idleTimeoutMillis)
        limits.headerTimeoutMillis = UInt64(config.server.headerTimeoutMillis)
        limits.maxRequestBytes = handler.limits.maxRequestLineBytes + handler.limits.maxHeaderBytes + handler.limits.maxBodyBytes
        limits.outputBufferBytes = 2 * handler.maxResponseBytes
        let group: ServerGroup
        do {
            group = try ServerGroup(host: host, port: admin.port, handlers: [handler], limits: limits)
        } catch {
            throw StartupError("cannot listen on admin.listen \(host):\(admin.port): \(error)")
        }
        group.start()
        // Operators wait, clicks do not: the admin loop runs at a lower CPU priority than the loops, so
        // recompiling the catalog after an API change (milliseconds) yields to clicks on a shared core.
        group.onEveryLoop { _ in ThreadPriority.setCurrentThreadNice(AdminListener.niceness) }
        let listener = AdminListener(group: group, handler: handler, host: host)
        Log.info("admin listener started", ["address": "\(listener.address)"])
        return listener
    }

    /// The listener binds with SO_REUSEPORT, which would let a second node on this machine share the
    /// default admin port without an error: a bind without it first tells whether the port is free.
    static func portTaken(host: String, port: UInt16) -> String? {
        var v4 = sockaddr_in(), v6 = sockaddr_in6()
        let isV6 = host.contains(":")
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let result: Int32
        if isV6 {
            v6.sin6_family = sa_family_t(AF_INET6); v6.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 else { return nil }
            result = withUnsafePointer(to: &v6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            v4.sin_family = sa_family_t(AF_INET); v4.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &v4.sin_addr) == 1 else { return nil }
            result = withUnsafePointer(to: &v4) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        return result == 0 || errno != EADDRINUSE ? nil : "the port is in use"
    }

    /// The admin loop thread's nice value (Linux sets it per thread).
    static let niceness: Int32 = 10

    /// `HOST:PORT`, IPv6 in brackets.
    var address: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }

    /// Hands the started engine to the admin loop (through its mailbox, so the handler stays single-threaded).
    func attach(_ engine: Engine, operatorUpdates: OperatorUpdates, api: ApiContext? = nil) {
        let handler = self.handler
        group.onEveryLoop { _ in handler.attach(engine, operatorUpdates: operatorUpdates, api: api) }
    }

    /// SIGHUP: the API's tokens as the new file lists them.
    func replaceTokens(_ tokens: [AdminToken]) {
        let handler = self.handler
        group.onEveryLoop { _ in handler.api?.auth.replace(tokens: tokens) }
    }

    /// Stops the admin loop (last, so /readyz says "stopping" while the rest shuts down).
    func stop() { group.stop() }
}
