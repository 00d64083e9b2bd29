// One keep-alive client connection: it assembles a batch of requests in its output buffer, writes it
// with one call, and matches the answers, in order, to the requests in flight.
import CUV

/// A connection of one worker. Invariants: touched only on the worker's thread; `out` is not modified
/// while a `uv_write` of it is pending; `ring` holds exactly the requests written and not yet answered.
final class ClientConnection {
    unowned(unsafe) let worker: Worker
    let tcp: UnsafeMutablePointer<uv_tcp_t> = .allocate(capacity: 1)
    let connectRequest: UnsafeMutablePointer<uv_connect_t> = .allocate(capacity: 1)
    let writeRequest: UnsafeMutablePointer<uv_write_t> = .allocate(capacity: 1)
    var out: ByteBuffer
    var outSent = 0
    var input: ByteBuffer
    var ring: InFlightRing
    var pending = PendingQueue()
    /// Open loop: when this connection's next request is due.
    var nextIntended: UInt64 = 0
    var open = false
    /// The server said `Connection: close`: send nothing more; reconnect once it closes.
    var draining = false
    var writing = false
    var closing = false

    init(worker: Worker, depth: Int) {
        self.worker = worker
        ring = InFlightRing(capacity: depth)
        out = ByteBuffer(capacity: depth * RequestFactory.maxRequestBytes + 4096)
        input = ByteBuffer(capacity: max(16 * 1024, depth * 4096))  // answers here are at most a few hundred bytes
    }

    deinit {
        tcp.deallocate(); connectRequest.deallocate(); writeRequest.deallocate()
        out.free(); input.free()
    }

    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(tcp).assumingMemoryBound(to: uv_stream_t.self) }
    var handle: UnsafeMutablePointer<uv_handle_t> { UnsafeMutableRawPointer(tcp).assumingMemoryBound(to: uv_handle_t.self) }
    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ data: UnsafeMutableRawPointer?) -> ClientConnection {
        Unmanaged<ClientConnection>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Opens the TCP connection to the target.
    func connect(to address: UnsafePointer<sockaddr>) {
        uv_tcp_init(worker.loop, tcp)
        tcp.pointee.data = opaque
        connectRequest.pointee.data = opaque
        let result = uv_tcp_connect(connectRequest, tcp, address) { request, status in
            ClientConnection.from(request!.pointee.data).connected(status: status)
        }
        if result != 0 { worker.connectFailed(result) }
    }

    func connected(status: Int32) {
        if status == UV_ECANCELED.rawValue || worker.phase == .stopping { return }
        guard status == 0 else { worker.connectFailed(status); return }
        open = true
        uv_tcp_nodelay(tcp, 1)
        startReading()
        worker.connectionOpened(self)
    }

    func startReading() {
        uv_read_start(stream, { handle, _, buffer in
            let connection = ClientConnection.from(handle!.pointee.data)
            let input = connection.input
            buffer!.pointee = uv_buf_t(base: (input.base + input.count).assumingMemoryBound(to: CChar.self), len: input.room)
        }, { stream, count, _ in
            let connection = ClientConnection.from(stream!.pointee.data)
            if count > 0 {
                connection.input.count += count
                connection.received(now: uv_hrtime())
            } else if count < 0 {
                connection.lose()
            }
        })
    }

    /// Matches every complete response to the oldest request in flight, then sends what is due.
    func received(now: UInt64) {
        let base = UnsafePointer<UInt8>(input.base.assumingMemoryBound(to: UInt8.self))
        var offset = 0
        parsing: while ring.count > 0 {
            switch ResponseParser.parse(base + offset, input.count - offset, wantID: ring.front.kind == .click) {
            case .incomplete:
                break parsing
            case .malformed:
                worker.stats.malformedResponses += 1
                lose(); return
            case .response(let response):
                let request = ring.pop()
                let id = response.idOffset >= 0 ? UnsafeRawPointer(base + offset + response.idOffset) : nil
                worker.answered(self, request, status: response.status, id: id, now: now)
                offset += response.length
                if response.close { draining = true }
            }
        }
        if (ring.count == 0 && offset < input.count) || (input.room == 0 && offset == 0) {
            worker.stats.malformedResponses += 1  // bytes nobody asked for, or a response too large
            lose(); return
        }
        input.consume(offset)
        // One connection per request: close once the answer is in (servers that do not honour
        // `Connection: close`, like the floor, see end of stream; the others have closed already).
        if worker.plan.closeEach && ring.count == 0 { close(); return }
        fill(now: now)
    }

    /// Writes as many requests as are allowed now (depth, schedule) and flushes them in one write.
    func fill(now: UInt64) {
        guard open, !writing, !closing, !draining else { return }
        while ring.count < worker.depth && out.room >= RequestFactory.maxRequestBytes {
            let intended = worker.plan.openLoop && worker.phase == .measure ? nextIntended : now
            guard intended <= now, let (kind, info) = worker.writeNext(for: self) else { break }
            ring.push(InFlight(kind: kind, intended: intended, info: info))
            worker.sent(intended: intended, now: now)
            if worker.plan.openLoop && worker.phase == .measure { nextIntended &+= worker.intervalNanos }
        }
        flush()
    }

    /// `uv_try_write` of the whole batch; a remainder goes to `uv_write`.
    func flush() {
        guard out.count > outSent, !writing else { return }
        var buffer = uv_buf_t(base: (out.base + outSent).assumingMemoryBound(to: CChar.self), len: out.count - outSent)
        let written = uv_try_write(stream, &buffer, 1)
        if written == out.count - outSent { out.count = 0; outSent = 0; return }
        if written < 0 && written != UV_EAGAIN.rawValue { lose(); return }
        outSent += max(0, Int(written))
        buffer = uv_buf_t(base: (out.base + outSent).assumingMemoryBound(to: CChar.self), len: out.count - outSent)
        writeRequest.pointee.data = opaque
        writing = true
        let result = uv_write(writeRequest, stream, &buffer, 1) { request, status in
            ClientConnection.from(request!.pointee.data).written(status: status)
        }
        if result != 0 { writing = false; lose() }
    }

    func written(status: Int32) {
        writing = false
        guard status == 0 else { lose(); return }
        out.count = 0; outSent = 0
        fill(now: uv_hrtime())
    }

    /// The connection failed or the server closed it: count what was in flight as errors and reconnect.
    func lose() {
        guard !closing else { return }
        worker.lost(self)
        close()
    }

    /// Closes the socket; unless the run is stopping, a new connection replaces it.
    func close() {
        guard !closing else { return }
        closing = true
        open = false
        uv_close(handle) { handle in
            ClientConnection.from(handle!.pointee.data).closed()
        }
    }

    func closed() {
        closing = false
        draining = false
        ring.removeAll()
        input.count = 0
        out.count = 0; outSent = 0
        if worker.phase != .stopping { worker.reconnect(self, counted: !worker.plan.closeEach) }  // expected with --close
    }
}
