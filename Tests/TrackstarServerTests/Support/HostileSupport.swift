// Helpers for the hostile-input tests: a raw client whose receive buffer can be made small (so a
// "never reads" client fills up quickly), the server's RSS and the kernel's view of a connection
// from /proc, and the "still serves a normal click" check. Bounded waits are TrackstarTestSupport's
// `eventually`.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `[server]` settings the hostile tests run with: a 1 s header timeout so slowloris cases finish
/// quickly, and a small connection cap.
let hostileConfig = LiveServer.defaultConfig.replacingOccurrences(
    of: "[server]\n", with: "[server]\nheader_timeout = \"1s\"\nmax_connections = 20\n")

extension LiveServer {
    /// The server's resident set size in KiB (VmRSS of its pid), or -1 if unreadable.
    var rssKiB: Int {
        guard let status = readProcFile("/proc/\(process.processIdentifier)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let value = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first,
              let kib = Int(value) else { return -1 }
        return kib
    }

    /// A fresh connection still gets a normal click: 302 to the landing page with a 26-character click ID.
    func expectStillServing(sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let c = try connect()
            c.setReceiveTimeout(seconds: 10)
            let r = try c.get("/click?offer_id=1&aff_id=7&sub1=after")
            #expect(r.status == 302, "server no longer serves clicks", sourceLocation: sourceLocation)
            let location = r.header("Location") ?? ""
            #expect(location.hasPrefix("https://shop.example/landing?cid=") && location.contains("&s1=after&"),
                    "unexpected Location \(location)", sourceLocation: sourceLocation)
            let cid = location.dropFirst("https://shop.example/landing?cid=".count).prefix { $0 != "&" }
            #expect(cid.count == 26, "click ID \(cid)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("server no longer serves clicks: \(error)", sourceLocation: sourceLocation)
        }
    }
}

extension TestConnection {
    /// Bounds every later `recv` (the default is 30 s).
    func setReceiveTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Waits up to `seconds` until the socket is readable (bytes or EOF); false on timeout.
    func waitReadable(seconds: Double) -> Bool {
        if !pending.isEmpty { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, Int32(seconds * 1000)) > 0
    }

    /// Reads one response whose body is empty (a 302) and returns its raw head bytes as well, so a
    /// test can check every line break on the wire.
    func readRawHead() throws -> (response: TestResponse, raw: [UInt8]) {
        while true {
            if let end = TestConnection.find(pending, [13, 10, 13, 10]) {
                let raw = Array(pending[0..<(end + 4)])
                guard let (response, used) = TestConnection.parse(pending, head: true) else { throw TestClientError.closed }
                pending.removeFirst(used)
                return (response, raw)
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw TestClientError.closed }
            if n < 0 { throw TestClientError.timeout }
            pending.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads until the server closes the connection (EOF or reset) or `seconds` pass.
    /// Returns everything read (including bytes already buffered) and whether the server closed.
    func readUntilClosed(seconds: Int) -> (bytes: [UInt8], closed: Bool) {
        setReceiveTimeout(seconds: seconds)
        var bytes = pending
        pending.removeAll()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]); continue }
            if n == 0 { return (bytes, true) }
            return (bytes, errno == ECONNRESET)
        }
    }

    /// The local (client-side) port, to find the connection in /proc/net/tcp.
    var localPort: UInt16 { clientPort(of: fd) }
}

/// A client socket with a small receive buffer, set before connecting: a client that never reads
/// fills it at once, so the server's output backs up after a few responses (as with a slow reader).
/// Sends may run on another thread than reads; `sent` is updated as the kernel takes bytes.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var sentBytes = 0

    /// `receiveBuffer` nil keeps the kernel's (auto-tuned) default.
    init(port: UInt16, receiveBuffer: Int32?) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 { throw TestClientError.connect(errno) }  // deinit closes fd
    }

    /// The only close of `fd` (see `TestConnection.deinit`).
    deinit { if fd >= 0 { close(fd) } }

    var sent: Int { lock.lock(); defer { lock.unlock() }; return sentBytes }

    /// Sends all of `bytes` (blocking while the server does not read); stops early on an error.
    func sendAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, min(65536, bytes.count - offset), Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return }
            offset += n
            lock.lock(); sentBytes = offset; lock.unlock()
        }
    }

    /// Sends all of `bytes` on a background thread; the returned semaphore is signalled when done.
    func sendAllInBackground(_ bytes: [UInt8]) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [self] in
            sendAll(bytes)
            done.signal()
        }
        return done
    }

    /// Reads bodiless responses until `count` response heads (CRLF CRLF) have arrived, the server
    /// closes (EOF or reset), or `deadline` passes. Returns the bytes and whether the server closed.
    func readResponses(_ count: Int, until deadline: Date) -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var heads = 0
        var scanned = 0
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while heads < count && Date() < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (bytes, true) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return (bytes, errno == ECONNRESET)
            }
            bytes.append(contentsOf: chunk[0..<n])
            bytes.withUnsafeBytes { raw in
                while let end = endOfHead(raw, from: scanned) {
                    heads += 1
                    scanned = end
                }
                scanned = max(scanned, raw.count - 3)
            }
        }
        return (bytes, false)
    }

    /// The local (client-side) port, to find the connection in /proc/net/tcp.
    var localPort: UInt16 { clientPort(of: fd) }
}

/// One TCP connection as the kernel sees it (a line of /proc/net/tcp).
struct KernelSocket {
    /// TCP state: 1 ESTABLISHED, 4 FIN_WAIT1, 8 CLOSE_WAIT, …
    var state: Int
    /// Bytes written by the application and not yet acknowledged by the peer.
    var sendQueue: Int
    /// Bytes received and not yet read by the application.
    var receiveQueue: Int

    /// The IPv4 socket on 127.0.0.1 bound to `localPort` and connected to `remotePort`, if it exists.
    static func find(localPort: UInt16, remotePort: UInt16) -> KernelSocket? {
        guard let table = readProcFile("/proc/net/tcp") else { return nil }
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 4 else { continue }
            let local = fields[1].split(separator: ":"), remote = fields[2].split(separator: ":")
            let queues = fields[4].split(separator: ":")
            guard local.count == 2, remote.count == 2, queues.count == 2,
                  UInt16(local[1], radix: 16) == localPort, UInt16(remote[1], radix: 16) == remotePort else { continue }
            return KernelSocket(state: Int(fields[3], radix: 16) ?? 0, sendQueue: Int(queues[0], radix: 16) ?? 0,
                                receiveQueue: Int(queues[1], radix: 16) ?? 0)
        }
        return nil
    }
}

/// Splits an HTTP response stream made only of bodiless responses (302s, or JSON refusals are counted
/// by their status line only) into status codes; `trailing` is the count of bytes after the last
/// complete head.
func statusCodes(ofBodilessResponses bytes: [UInt8]) -> (codes: [Int], trailing: Int) {
    var codes: [Int] = []
    var start = 0
    bytes.withUnsafeBytes { raw in
        while start < raw.count {
            guard let end = endOfHead(raw, from: start) else { break }
            // "HTTP/1.1 302 …": the status is at offset 9.
            if end - start > 12, let code = Int(String(decoding: raw[(start + 9)..<(start + 12)], as: UTF8.self)) {
                codes.append(code)
            } else {
                codes.append(0)
            }
            start = end
        }
    }
    return (codes, bytes.count - start)
}

/// The offset just past the first CR LF CR LF at or after `from`, or nil (memchr for each CR).
func endOfHead(_ raw: UnsafeRawBufferPointer, from: Int) -> Int? {
    guard let base = raw.baseAddress else { return nil }
    var i = from
    while i + 4 <= raw.count {
        guard let cr = memchr(base + i, 13, raw.count - i) else { return nil }
        let at = base.distance(to: UnsafeRawPointer(cr))
        if at + 4 > raw.count { return nil }
        if raw[at + 1] == 10 && raw[at + 2] == 13 && raw[at + 3] == 10 { return at + 4 }
        i = at + 1
    }
    return nil
}

/// A /proc file read to its end. (Foundation's String(contentsOfFile:) stops after the first page
/// of /proc/net/tcp, whose size is reported as 0.)
/// The local port of IPv4 socket `fd` (the client's side of a test connection).
func clientPort(of fd: Int32) -> UInt16 {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

func readProcFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { return nil }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}
