// Starts one loop per thread, all listening on the same port with SO_REUSEPORT so the kernel spreads
// connections, and stops them. This is the public face of the I/O layer.
import Atomics
import CLibUV
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// A running set of event loops serving one address.
public final class ServerGroup: @unchecked Sendable {
    let loops: [LoopServer]
    var threads: [pthread_t] = []
    /// The port actually bound (the configured one, or the kernel's choice for port 0).
    public let port: UInt16
    /// Open connections across all loops.
    public let connectionCount = ManagedAtomic<Int>(0)
    /// The receive path the loops run: `.ioURing` or `.epoll`, never `.auto`.
    public let backend: ServerIO
    /// Why `.auto` chose epoll (nil when it chose io_uring or epoll was asked for).
    public let backendNote: String?

    /// Binds every loop; `handlers[i]` serves loop `i`. Throws naming the call that failed, or when
    /// io_uring was asked for and this kernel cannot provide it. `fileSync` is how durability
    /// barriers sync (`fdatasync`, or a test's injected failure).
    public init(host: String, port: UInt16, handlers: [ConnectionHandler], limits: ConnectionLimits,
                backend requested: ServerIO = .epoll, fileSync: FileSync = .system) throws(IOError) {
        switch requested {
        case .epoll: backend = .epoll; backendNote = nil
        case .ioURing:
            if let reason = ServerIO.ioURingUnavailableReason { throw IOError("io_uring: \(reason)", -ENOSYS) }
            backend = .ioURing; backendNote = nil
        case .auto:
            let reason = ServerIO.ioURingUnavailableReason
            backend = reason == nil ? .ioURing : .epoll; backendNote = reason
        }
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)  // a file-size limit must fail a write (EFBIG → 503), not kill the server
        var loops: [LoopServer] = []
        var boundPort = port
        for (index, handler) in handlers.enumerated() {
            let server = try LoopServer(index: index, handler: handler, limits: limits, connectionCount: connectionCount,
                                        backend: backend, fileSync: fileSync)
            try ServerGroup.withAddress(host: host, port: boundPort) { (address, family) throws(IOError) in
                try server.bind(address: address, family: family)
            }
            if boundPort == 0 { boundPort = server.boundPort() }
            try server.prepare()
            loops.append(server)
        }
        self.loops = loops
        self.port = boundPort
    }

    /// Resolves a numeric IPv4 or IPv6 host into a socket address.
    static func withAddress(host: String, port: UInt16,
                            _ body: (UnsafePointer<sockaddr>, Int32) throws(IOError) -> Void) throws(IOError) {
        var v4 = sockaddr_in()
        if uv_ip4_addr(host, Int32(port), &v4) == 0 {
            try withUnsafePointer(to: &v4) { (p) throws(IOError) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (s) throws(IOError) in try body(s, AF_INET) }
            }
            return
        }
        var v6 = sockaddr_in6()
        try check("uv_ip6_addr(\(host))", uv_ip6_addr(host, Int32(port), &v6))
        try withUnsafePointer(to: &v6) { (p) throws(IOError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (s) throws(IOError) in try body(s, AF_INET6) }
        }
    }

    /// Starts one thread per loop.
    public func start() {
        for loop in loops {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(loop).toOpaque()
            let result = pthread_create(&thread, nil, { context in
                let loop = Unmanaged<LoopServer>.fromOpaque(context!).takeRetainedValue()
                loop.run()
                return nil
            }, context)
            precondition(result == 0, "pthread_create failed: \(result)")
            threads.append(thread)
        }
    }

    /// Runs `work(i)` on loop `i`'s own thread, for every loop; returns at once.
    public func onEveryLoop(_ work: @escaping @Sendable (Int) -> Void) {
        for loop in loops { let index = loop.index; loop.post { work(index) } }
    }

    /// Runs `work()` on loop `index`'s own thread; returns at once.
    public func onLoop(_ index: Int, _ work: @escaping @Sendable () -> Void) {
        loops[index % loops.count].post { work() }
    }

    /// Asks every loop to close its handles, then waits for their threads to finish.
    public func stop() {
        for loop in loops { loop.post { [unowned loop] in loop.shutdown() } }
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    /// Number of loops.
    public var loopCount: Int { loops.count }
}
