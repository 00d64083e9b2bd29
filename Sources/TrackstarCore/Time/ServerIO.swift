// The loops' receive path as the configuration names it; a plain value shared by the configuration
// model and TrackstarIO, which must not depend on the configuration module.

/// `[server] io`: the loops' receive path.
public enum ServerIO: String, Sendable, Equatable {
    /// io_uring when the kernel offers it (Linux 6.0+, not disabled), else epoll.
    case auto
    /// io_uring, or refuse to start.
    case ioURing = "io_uring"
    /// libuv's epoll reads.
    case epoll
}
