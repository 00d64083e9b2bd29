// One floor loop on its own thread: a SO_REUSEPORT listener and connections that count complete request
// heads per read and answer them all with one write from a block of pre-built responses. A read that
// asks for `Connection: close` is answered with the closing variant and the floor closes first, as an
// HTTP/1.1 server (and Trackstar, and nginx) does, so one-connection-per-click runs compare like with like.
import CUV
#if canImport(Glibc)
import Glibc
#endif

/// The one answer the floor gives, repeated back to back so any batch is a prefix of the block.
enum FixedResponse {
    /// `tsfloor --ok` answers 200 instead (a partner's postback receiver that accepts everything).
    nonisolated(unsafe) static var ok = false
    static var text: String {
        ok ? "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
           : "HTTP/1.1 302 Found\r\nLocation: https://shop.example/landing?cid=000000000000YNFNCE97BZ6711&a=7\r\n"
             + "Cache-Control: no-store\r\nContent-Length: 0\r\n\r\n"
    }
    nonisolated(unsafe) static let length = text.utf8.count
    /// The answer to a request that asked for `Connection: close`.
    nonisolated(unsafe) static let closing: UnsafeMutableRawPointer = {
        let bytes = Array(closingText.utf8)
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { block.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return block
    }()
    nonisolated(unsafe) static let closingLength = closingText.utf8.count
    static var closingText: String {
        ok ? "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
           : "HTTP/1.1 302 Found\r\nConnection: close\r\nLocation: https://shop.example/landing?cid=000000000000YNFNCE97BZ6711&a=7\r\n"
             + "Cache-Control: no-store\r\nContent-Length: 0\r\n\r\n"
    }
    /// What a request head carries to ask for the connection's end (as tsload --close sends it).
    static let closeHeader: [UInt8] = Array("\r\nConnection: close\r\n".utf8)
    /// More copies than one 64 KiB read can hold requests (the shortest request head is 18 bytes).
    static let copies = 4096
    nonisolated(unsafe) static let block: UnsafeMutableRawPointer = {
        let block = UnsafeMutableRawPointer.allocate(byteCount: length * copies, alignment: 16)
        let bytes = Array(text.utf8)
        for i in 0..<copies { bytes.withUnsafeBytes { block.advanced(by: i * length).copyMemory(from: $0.baseAddress!, byteCount: length) } }
        return block
    }()
}

/// A loop, its listener and its read buffer. Touched only on its own thread once started.
final class FloorLoop {
    let loop: UnsafeMutablePointer<uv_loop_t> = .allocate(capacity: 1)
    let listener: UnsafeMutablePointer<uv_tcp_t> = .allocate(capacity: 1)
    let readBufferSize = 64 * 1024
    let readBuffer: UnsafeMutableRawPointer
    var thread = pthread_t()

    init() throws {
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
        _ = FixedResponse.block
        _ = FixedResponse.closing
        try check("uv_loop_init", uv_loop_init(loop))
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Binds with SO_REUSEPORT (libuv 1.44 has no UV_TCP_REUSEPORT: init_ex, fileno, setsockopt, bind).
    func bind(host: String, port: Int32) throws {
        var address = sockaddr_in()
        try check("uv_ip4_addr", uv_ip4_addr(host, port, &address))
        try check("uv_tcp_init_ex", uv_tcp_init_ex(loop, listener, UInt32(AF_INET)))
        listener.pointee.data = opaque
        var fd: uv_os_fd_t = -1
        try check("uv_fileno", uv_fileno(UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_handle_t.self), &fd))
        var one: Int32 = 1
        if setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw FloorError(call: "setsockopt(SO_REUSEPORT)", code: -errno)
        }
        try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try check("uv_tcp_bind", uv_tcp_bind(listener, $0, 0)) }
        }
        let stream = UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_stream_t.self)
        try check("uv_listen", uv_listen(stream, 1024) { server, status in
            guard status == 0, let server else { return }
            Unmanaged<FloorLoop>.fromOpaque(server.pointee.data).takeUnretainedValue().accept()
        })
    }

    /// The port the listener got (for port 0, so the other loops can share it).
    func boundPort() -> Int32 {
        var address = sockaddr_in()
        var length = Int32(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(listener, $0, &length) }
        }
        return Int32(UInt16(bigEndian: address.sin_port))
    }

    /// Runs the loop on a new thread, forever.
    func startThread() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { argument in
            let loop = Unmanaged<FloorLoop>.fromOpaque(argument!).takeRetainedValue()
            uv_run(loop.loop, UV_RUN_DEFAULT)
            return nil
        }, retained)
    }

    /// Accepts one connection and starts reading it.
    func accept() {
        let connection = FloorConnection(owner: self)
        guard uv_tcp_init(loop, connection.tcp) == 0 else { return }
        connection.retain()
        let listenerStream = UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_stream_t.self)
        guard uv_accept(listenerStream, connection.stream) == 0 else { connection.close(); return }
        uv_tcp_nodelay(connection.tcp, 1)
        connection.startReading()
    }
}

/// One accepted connection: the tail of the previous read (to find request ends that span reads) and
/// whether a queued write is pending.
final class FloorConnection {
    unowned(unsafe) let owner: FloorLoop
    let tcp: UnsafeMutablePointer<uv_tcp_t> = .allocate(capacity: 1)
    let writeRequest: UnsafeMutablePointer<uv_write_t> = .allocate(capacity: 1)
    /// The last three bytes seen, most recent in the low byte.
    var carry: UInt32 = 0

    init(owner: FloorLoop) { self.owner = owner }

    deinit { tcp.deallocate(); writeRequest.deallocate() }

    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(tcp).assumingMemoryBound(to: uv_stream_t.self) }

    /// Keeps the connection alive while its handle is open; `close` releases it.
    func retain() { tcp.pointee.data = Unmanaged.passRetained(self).toOpaque() }

    static func from(_ data: UnsafeMutableRawPointer?) -> FloorConnection {
        Unmanaged<FloorConnection>.fromOpaque(data!).takeUnretainedValue()
    }

    func startReading() {
        let result = uv_read_start(stream, { handle, _, buffer in
            let owner = FloorConnection.from(handle!.pointee.data).owner
            buffer!.pointee = uv_buf_t(base: owner.readBuffer.assumingMemoryBound(to: CChar.self), len: owner.readBufferSize)
        }, { stream, count, buffer in
            let connection = FloorConnection.from(stream!.pointee.data)
            if count > 0 {
                connection.received(UnsafeRawPointer(buffer!.pointee.base!).assumingMemoryBound(to: UInt8.self), count)
            } else if count < 0 {
                connection.close()
            }
        })
        if result != 0 { close() }
    }

    /// Answers every request head that ends in this read, all in one write.
    func received(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
        let heads = countHeads(bytes, count)
        guard heads > 0 else { return }
        if asksToClose(bytes, count) { return answerAndClose() }
        answer(min(heads, FixedResponse.copies))
    }

    /// Whether the read holds `Connection: close`: memchr finds each CR, memcmp checks the line
    /// (Glibc's module does not export memmem).
    func asksToClose(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        FixedResponse.closeHeader.withUnsafeBytes { header in
            let length = header.count
            var start = 0
            while start + length <= count, let hit = memchr(bytes + start, 0x0D, count - length + 1 - start) {
                let at = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - bytes
                if memcmp(bytes + at, header.baseAddress!, length) == 0 { return true }
                start = at + 1
            }
            return false
        }
    }

    /// Writes the closing answer, then closes (at once when the kernel took it all).
    func answerAndClose() {
        var buffer = uv_buf_t(base: FixedResponse.closing.assumingMemoryBound(to: CChar.self), len: FixedResponse.closingLength)
        let written = uv_try_write(stream, &buffer, 1)
        if written == FixedResponse.closingLength || (written < 0 && written != UV_EAGAIN.rawValue) { return close() }
        let sent = max(0, Int(written))
        buffer = uv_buf_t(base: (FixedResponse.closing + sent).assumingMemoryBound(to: CChar.self), len: FixedResponse.closingLength - sent)
        writeRequest.pointee.data = tcp.pointee.data
        uv_read_stop(stream)
        if uv_write(writeRequest, stream, &buffer, 1, { request, _ in FloorConnection.from(request!.pointee.data).close() }) != 0 { close() }
    }

    /// Counts "\r\n\r\n" endings: memchr finds each '\n', then the three bytes before it are checked
    /// (reaching into the previous read's tail when the ending spans two reads).
    func countHeads(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var heads = 0
        var start = 0
        while start < count, let hit = memchr(bytes + start, 0x0A, count - start) {
            let end = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - bytes
            if byte(bytes, end - 1) == 0x0D && byte(bytes, end - 2) == 0x0A && byte(bytes, end - 3) == 0x0D { heads += 1 }
            start = end + 1
        }
        for i in max(0, count - 3)..<count { carry = (carry << 8 | UInt32(bytes[i])) & 0xFF_FFFF }
        return heads
    }

    /// The byte at `index` of this read, or of the previous read's tail for -3...-1.
    @inline(__always)
    func byte(_ bytes: UnsafePointer<UInt8>, _ index: Int) -> UInt8 {
        if index >= 0 { return bytes[index] }
        return UInt8(truncatingIfNeeded: carry >> (UInt32(-index - 1) * 8))
    }

    /// Writes `count` responses with one `uv_try_write`; a remainder goes to `uv_write` and reading
    /// pauses until it is done.
    func answer(_ count: Int) {
        let total = count * FixedResponse.length
        var buffer = uv_buf_t(base: FixedResponse.block.assumingMemoryBound(to: CChar.self), len: total)
        let written = uv_try_write(stream, &buffer, 1)
        if written == total { return }
        if written < 0 && written != UV_EAGAIN.rawValue { close(); return }
        let sent = max(0, Int(written))
        buffer = uv_buf_t(base: (FixedResponse.block + sent).assumingMemoryBound(to: CChar.self), len: total - sent)
        writeRequest.pointee.data = tcp.pointee.data
        uv_read_stop(stream)
        let result = uv_write(writeRequest, stream, &buffer, 1) { request, status in
            let connection = FloorConnection.from(request!.pointee.data)
            if status == 0 { connection.startReading() } else { connection.close() }
        }
        if result != 0 { close() }
    }

    /// Closes the handle; the close callback drops the reference `retain` took.
    func close() {
        let handle = UnsafeMutableRawPointer(tcp).assumingMemoryBound(to: uv_handle_t.self)
        if uv_is_closing(handle) != 0 { return }
        uv_close(handle) { handle in
            guard let data = handle?.pointee.data else { return }
            Unmanaged<FloorConnection>.fromOpaque(data).release()
        }
    }
}
