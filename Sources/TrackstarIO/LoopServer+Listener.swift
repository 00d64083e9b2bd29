// The listening side of a loop: the SO_REUSEPORT listener with TCP_NODELAY (Linux copies it to every
// socket it accepts, so no accepted socket needs a setsockopt of its own) and TCP_DEFER_ACCEPT (a
// connection is accepted with its request), handed to libuv on epoll or kept as a plain socket for the
// ring's accepts on io_uring; and, on epoll, the first read of a connection at its accept.
import CLibUV
#if canImport(Glibc)
import Glibc
#endif

extension LoopServer {
    /// Binds the listener with SO_REUSEPORT (libuv 1.44 lacks UV_TCP_REUSEPORT), TCP_NODELAY (set
    /// once here rather than on each accepted socket) and TCP_DEFER_ACCEPT, and starts listening:
    /// through libuv on epoll, on a socket of its own for the ring on io_uring.
    func bind(address: UnsafePointer<sockaddr>, family: Int32) throws(IOError) {
        if backend == .ioURing {
            listenerFD = try Self.listeningSocket(address: address, family: family)
            return
        }
        try check("uv_tcp_init_ex", uv_tcp_init_ex(loop, listener, UInt32(family)))
        listener.pointee.data = opaque
        var fd: uv_os_fd_t = -1
        try check("uv_fileno", uv_fileno(UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_handle_t.self), &fd))
        var one: Int32 = 1
        if setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw IOError("setsockopt(SO_REUSEPORT)", -errno)
        }
        try check("uv_tcp_nodelay", uv_tcp_nodelay(listener, 1))
        if ConnectionCuts.current.deferAccept {
            var seconds = ConnectionCuts.deferAcceptSeconds
            if setsockopt(fd, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, &seconds, socklen_t(MemoryLayout<Int32>.size)) != 0 {
                throw IOError("setsockopt(TCP_DEFER_ACCEPT)", -errno)
            }
        }
        try check("uv_tcp_bind", uv_tcp_bind(listener, address, 0))
        try libuvListen()
    }

    /// libuv accepts on the listener from now on (`accept` runs for each connection).
    func libuvListen() throws(IOError) {
        let stream = UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_stream_t.self)
        try check("uv_listen", uv_listen(stream, 1024) { server, status in
            guard status == 0, let server else { return }
            LoopServer.from(server.pointee.data).accept()
        })
    }

    /// A bound, listening socket for the ring's accepts, set up as `uv_tcp_bind` would (SO_REUSEADDR;
    /// IPv6 sockets take IPv4 too) plus SO_REUSEPORT, TCP_NODELAY and TCP_DEFER_ACCEPT. It stays
    /// blocking: only the ring accepts from it, and a nonblocking listener makes some kernels answer a
    /// ring accept with EAGAIN instead of waiting.
    static func listeningSocket(address: UnsafePointer<sockaddr>, family: Int32) throws(IOError) -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError("socket", -errno) }
        func set(_ level: Int32, _ option: Int32, _ value: Int32, _ name: String) throws(IOError) {
            var value = value
            if setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) != 0 {
                let error = -errno
                Glibc.close(fd)
                throw IOError("setsockopt(\(name))", error)
            }
        }
        try set(SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
        try set(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT")
        try set(Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY")
        if ConnectionCuts.current.deferAccept {
            try set(Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, ConnectionCuts.deferAcceptSeconds, "TCP_DEFER_ACCEPT")
        }
        if family == AF_INET6 { try set(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0, "IPV6_V6ONLY") }
        let length = socklen_t(family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        if Glibc.bind(fd, address, length) != 0 || Glibc.listen(fd, 1024) != 0 {
            let error = -errno
            Glibc.close(fd)
            throw IOError("bind", error)
        }
        return fd
    }

    /// epoll, with deferred accepts: the request is usually in the socket when libuv accepts it, so it
    /// is read here, once, before the socket goes into epoll. A connection this answers and closes
    /// never costs an epoll_ctl(ADD) nor a wake-up; one that stays open, or had sent nothing yet
    /// (the deferral ran out), is read through libuv from then on.
    func readAtAccept(_ connection: Connection) {
        var fd: uv_os_fd_t = -1
        guard uv_fileno(connection.handle, &fd) == 0 else { return startReading(connection) }
        let (base, size) = connection.readTarget()
        let count = Glibc.read(fd, base, size)
        if count > 0 {
            uv_update_time(loop)
            connection.inputPending = count == size  // a short read emptied the socket
            connection.received(count, now: uv_now(loop))
            if connection.open && !connection.writing && !connection.held && !connection.closeAfterWrite {
                startReading(connection)
            }
        } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            connection.close()
        } else {
            startReading(connection)
        }
    }

    /// The port the listener is bound to (for port 0).
    func boundPort() -> UInt16 {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                if listenerFD >= 0 {
                    var size = socklen_t(length)
                    return getsockname(listenerFD, address, &size)
                }
                return uv_tcp_getsockname(listener, address, &length)
            }
        }
        return withUnsafeBytes(of: storage) { raw in
            UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))  // sin_port and sin6_port share the offset
        }
    }
}
