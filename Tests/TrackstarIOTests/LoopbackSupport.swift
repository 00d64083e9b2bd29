// What the TrackstarIO tests drive the loops with: a line-echo `ConnectionHandler` whose durability
// barrier can be gated and observed, a blocking loopback client, and the receive paths this kernel
// offers.
import Foundation
import TrackstarCore
import TrackstarIO
#if canImport(Glibc)
import Glibc
#endif

/// The receive paths to run every live test on: epoll always, io_uring where the kernel offers it.
let testedBackends: [ServerIO] = ServerIO.ioURingUnavailableReason == nil ? [.epoll, .ioURing] : [.epoll]

/// Answers each `\n`-terminated line with `echo LINE\n`; the line `bye` also closes. Everything the
/// loop tells it is recorded under `lock` for the test thread to read.
final class LineEchoHandler: ConnectionHandler, @unchecked Sendable {  // mutable state guarded by `lock`
    let holdsResponses: Bool
    /// A file descriptor reported as appended to at every barrier (-1: none, so nothing is synced).
    let dirtyFile: Int32
    /// When set, `durabilityBarrierFinished` blocks on it, holding the loop inside the barrier.
    let barrierGate: DispatchSemaphore?
    let lock = NSLock()
    private var _barrierErrors: [Int32] = []
    private var _barriersEntered = 0
    private var _processThreads: [pthread_t] = []
    private var _peers: [PeerAddress] = []

    init(holdsResponses: Bool = false, dirtyFile: Int32 = -1, barrierGate: DispatchSemaphore? = nil) {
        self.holdsResponses = holdsResponses
        self.dirtyFile = dirtyFile
        self.barrierGate = barrierGate
    }

    var maxResponseBytes: Int { 512 }

    func process(_ input: UnsafeRawBufferPointer, output: inout ByteWriter, context: ConnectionContext) -> ProcessOutcome {
        lock.withLock { _processThreads.append(pthread_self()); _peers.append(context.peer) }
        var consumed = 0, answered = 0
        while let newline = input[consumed...].firstIndex(of: UInt8(ascii: "\n")) {
            if output.capacity - output.count < maxResponseBytes {
                return ProcessOutcome(consumed: consumed, close: false, outputFull: true, answered: answered)
            }
            let line = UnsafeRawBufferPointer(rebasing: input[consumed..<newline])
            output.append("echo ")
            output.append(line)
            output.append(UInt8(ascii: "\n"))
            consumed = newline + 1
            answered += 1
            if line.elementsEqual("bye".utf8) {
                return ProcessOutcome(consumed: consumed, close: true, outputFull: false, answered: answered)
            }
        }
        return ProcessOutcome(consumed: consumed, close: false, outputFull: false, answered: answered)
    }

    func timeoutResponse(output: inout ByteWriter) { output.append("408 timeout\n") }
    func overloadResponse(output: inout ByteWriter) { output.append("503 busy\n") }
    func syncFailureResponse(output: inout ByteWriter, close: Bool) { output.append("503 not durable\n") }

    func collectDirtyFiles(into files: inout FileList) {
        if dirtyFile >= 0 { files.append(dirtyFile) }
    }

    func durabilityBarrierFinished(syncError: Int32) -> Bool {
        lock.withLock { _barriersEntered += 1 }
        barrierGate?.wait()
        lock.withLock { _barrierErrors.append(syncError) }
        return syncError == 0
    }

    var barrierErrors: [Int32] { lock.withLock { _barrierErrors } }
    var barriersEntered: Int { lock.withLock { _barriersEntered } }
    var processThreads: [pthread_t] { lock.withLock { _processThreads } }
    /// The peer address the loop passed with each batch of input, in order.
    var peers: [PeerAddress] { lock.withLock { _peers } }
}

/// A failed socket call in the test client, naming it.
struct ClientError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}

/// A blocking IPv4 loopback client; reads give up after a deadline of seconds. `source` binds its end
/// to another loopback address (any of 127.0.0.0/8) before connecting.
final class LoopbackClient {
    let fd: Int32
    /// The error of the receive that ended the last read (0 when it ended otherwise), e.g. ECONNRESET
    /// for a reset where `read` says only "closed": for the messages of failed expectations.
    private(set) var lastError: Int32 = 0

    init(port: UInt16, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(call: "socket", code: errno) }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw ClientError(call: "bind(\(source))", code: errno) }  // deinit closes fd
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw ClientError(call: "connect", code: errno) }  // deinit closes fd
        // Reads wake at least every 200 ms to look at their deadline.
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The only close of `fd`: an init that throws once `fd` is set still runs deinit (every stored
    /// property is initialized), so a close on the throwing path as well closed the descriptor twice,
    /// and the second close could take a number another test's thread had just been given (a
    /// fixture copy failed with EBADF that way).
    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// The client's own port.
    var localPort: UInt16 { socketPort(fd, peer: false) ?? 0 }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Reads until `done` holds for what arrived, the server closes, or `seconds` pass.
    func read(seconds: Double = 15, until done: (String) -> Bool) -> (text: String, closed: Bool) {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if done(String(decoding: bytes, as: UTF8.self)) { break }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { bytes += buffer[0..<n]; continue }
            if n == 0 { lastError = 0; return (String(decoding: bytes, as: UTF8.self), true) }
            let code = errno
            if code != EAGAIN && code != EWOULDBLOCK && code != EINTR { lastError = code; return (String(decoding: bytes, as: UTF8.self), true) }
        }
        return (String(decoding: bytes, as: UTF8.self), false)
    }

    /// Reads until the server closes the connection (or `seconds` pass).
    func readUntilClosed(seconds: Double = 15) -> (text: String, closed: Bool) {
        read(seconds: seconds) { _ in false }
    }

    /// Bytes already in the socket's receive queue, without waiting for any.
    func bytesWaiting() -> Int {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        return max(n, 0)
    }
}

/// Starts a group of `loops` loops on an ephemeral loopback port, one handler each.
func startGroup(_ handlers: [LineEchoHandler], backend: ServerIO, limits: ConnectionLimits = ConnectionLimits(),
                fileSync: FileSync = .system) throws -> ServerGroup {
    let group = try ServerGroup(host: "127.0.0.1", port: 0, handlers: handlers, limits: limits, backend: backend,
                                fileSync: fileSync)
    group.start()
    return group
}

/// The local (or, with `peer`, the remote) port of a TCP socket; nil when it has none (a listener's
/// peer) or `fd` is not an IPv4 socket.
func socketPort(_ fd: Int32, peer: Bool) -> UInt16? {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length) }
    }
    guard result == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
    return UInt16(bigEndian: address.sin_port)
}

/// This process's socket whose local port is `local` and whose peer's port is `remote`: the server's
/// end of a loopback connection a test made (the server runs in the test process).
func serverSocket(local: UInt16, remote: UInt16) -> Int32? {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
    for name in names {
        guard let fd = Int32(name) else { continue }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & 0o170000 == 0o140000 else { continue }  // S_ISSOCK
        if socketPort(fd, peer: false) == local && socketPort(fd, peer: true) == remote { return fd }
    }
    return nil
}
