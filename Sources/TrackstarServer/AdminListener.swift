// `[admin] listen`: a listener of its own (one loop, its own connection handler and limits) for
// /metrics, /healthz, /readyz, the management API and the console, so operator endpoints need not
// face the internet; on by default at 127.0.0.1:9091. It starts before
// recovery, so /healthz answers and /readyz says "recovering" while the data dir is verified.
import TrackstarCore
import TrackstarIO
import TrackstarConfiguration

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
        let listener = AdminListener(group: group, handler: handler, host: host)
        Log.info("admin listener started", ["address": "\(listener.address)"])
        return listener
    }

    /// `HOST:PORT`, IPv6 in brackets.
    var address: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }

    /// Hands the started engine to the admin loop (through its mailbox, so the handler stays single-threaded).
    func attach(_ engine: Engine, api: ApiContext? = nil) {
        let handler = self.handler
        group.onEveryLoop { _ in handler.attach(engine, api: api) }
    }

    /// SIGHUP: the API's tokens as the new file lists them.
    func replaceTokens(_ tokens: [AdminToken]) {
        let handler = self.handler
        group.onEveryLoop { _ in handler.api?.auth.replace(tokens: tokens) }
    }

    /// Stops the admin loop (last, so /readyz says "stopping" while the rest shuts down).
    func stop() { group.stop() }
}
