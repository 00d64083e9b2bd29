// One TCP connection: its socket (a libuv handle on the epoll path, a plain descriptor on the
// io_uring path), its output buffer and the partial request it is waiting to complete. Connections are
// pooled per loop and reused, so accepting one allocates nothing once warm.
import CLibUV
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// A pooled connection. Invariants: touched only on its loop's thread; on the epoll path `tcp` is
/// initialised between `open` and its close callback, on the io_uring path `fd` is the socket while
/// `open` (and `tcp` is unused); `output` is not modified while a write of it is pending.
final class Connection {
    unowned(unsafe) let loop: LoopServer
    let tcp: UnsafeMutablePointer<uv_tcp_t>
    /// io_uring path: the socket, accepted by the ring; -1 otherwise.
    var fd: Int32 = -1
    let writeRequest: UnsafeMutablePointer<uv_write_t>
    let output: UnsafeMutableRawPointer
    let outputCapacity: Int
    var outputCount = 0
    var outputSent = 0
    /// Unconsumed input (a partial or not-yet-answered request), allocated on first need.
    var tail: UnsafeMutableRawPointer?
    /// The tail's size: `baseTailCapacity`, grown on the io_uring path when a paused connection has
    /// more input in hand than that (what the kernel already delivered cannot be left in the socket).
    var tailCapacity: Int
    let baseTailCapacity: Int
    /// io_uring path: how far a tail may grow past its base size before the connection is closed.
    static let maxTailGrowth = 1 << 20
    var tailCount = 0
    var writing = false
    /// Output is complete but waits for the loop's durability barrier (group commit).
    var held = false
    /// Requests whose answers are in the held output (each is answered 503 if the barrier fails).
    var heldAnswers = 0
    var closeAfterWrite = false
    var open = false
    var peer = PeerAddress.unknown
    var lastActivity: UInt64 = 0
    /// When the pending `uv_write` was queued (for dropping clients that never read).
    var writeStarted: UInt64 = 0
    var partialSince: UInt64 = 0
    /// Accepted but nothing received yet: the header timeout runs from the accept.
    var awaitingFirstByte = false
    /// Position in the loop's active list.
    var activeIndex = -1
    /// Position in the loop's `all` array, the strong owner.
    let poolIndex: Int
    /// io_uring path: bumped at every accept and close, so completions meant for an earlier socket in
    /// this pooled connection are recognised as stale.
    var generation: UInt32 = 0
    /// io_uring path: receives armed so far, the tag of the current one, and whether it is armed.
    var armCount: UInt32 = 0
    var receiveTag: UInt64 = 0
    var receiveArmed = false
    /// io_uring path: the next receive armed is one-shot (the first after the accept).
    var receiveOnce = false
    /// The last receive may have left data in the socket (it filled its buffer, or the ring said so).
    var inputPending = false
    /// epoll path: the size of the buffer libuv's read was given.
    var readSize = 0
    /// The handler closes after answering all the input there is: the answer may carry the FIN
    /// (`flushClosing`). Not when input may be left in the socket: closing a socket with unread data
    /// resets the connection, and an answer still held back for the FIN would be lost with it.
    var answerCarriesFin = false
    /// io_uring path: the tag of the write poll waiting for the socket to take more output, and
    /// whether it is in flight.
    var writeTag: UInt64 = 0
    var writeArmed = false
    /// io_uring path: reading is paused (a write or a durability barrier is pending) and the receive
    /// cancelled; what the current batch still delivers is kept in `tail` and answered on resume.
    var readPaused = false

    init(loop: LoopServer, poolIndex: Int, outputCapacity: Int, tailCapacity: Int) {
        self.loop = loop
        self.poolIndex = poolIndex
        self.outputCapacity = outputCapacity
        self.tailCapacity = tailCapacity
        self.baseTailCapacity = tailCapacity
        tcp = .allocate(capacity: 1)
        writeRequest = .allocate(capacity: 1)
        output = .allocate(byteCount: outputCapacity, alignment: 16)
    }

    deinit {
        tcp.deallocate()
        writeRequest.deallocate()
        output.deallocate()
        tail?.deallocate()
    }

    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(tcp).assumingMemoryBound(to: uv_stream_t.self) }
    var handle: UnsafeMutablePointer<uv_handle_t> { UnsafeMutableRawPointer(tcp).assumingMemoryBound(to: uv_handle_t.self) }

    /// Resets per-connection state for a newly accepted socket.
    func reset() {
        outputCount = 0; outputSent = 0; tailCount = 0
        writing = false; closeAfterWrite = false; held = false; heldAnswers = 0
        inputPending = false; answerCarriesFin = false
        peer = .unknown
        generation &+= 1; receiveArmed = false; readPaused = false; writeArmed = false
        shrinkTail()
    }

    /// Returns a grown tail to its base size once it is empty.
    func shrinkTail() {
        guard tailCapacity != baseTailCapacity, tailCount == 0 else { return }
        tail?.deallocate()
        tail = nil
        tailCapacity = baseTailCapacity
    }

    /// io_uring path: makes room for `count` more bytes in the tail, growing it if needed; false when
    /// that would pass `maxTailGrowth`.
    func tailRoom(for count: Int) -> Bool {
        if tail == nil { tail = .allocate(byteCount: tailCapacity, alignment: 16) }
        if tailCount + count <= tailCapacity { return true }
        let needed = tailCount + count
        guard needed <= baseTailCapacity + Self.maxTailGrowth else { return false }
        let grown = min(max(needed, 2 * tailCapacity), baseTailCapacity + Self.maxTailGrowth)
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
        if let tail { bigger.copyMemory(from: tail, byteCount: tailCount); tail.deallocate() }
        tail = bigger
        tailCapacity = grown
        return true
    }

    /// Where the next read should land: after the partial request, or the loop's shared buffer.
    func readTarget() -> (UnsafeMutableRawPointer, Int) {
        if tailCount > 0, let tail { return (tail + tailCount, tailCapacity - tailCount) }
        return (loop.readBuffer, loop.readBufferSize)
    }

    /// Handles `count` bytes just read into the place `readTarget` gave.
    func received(_ count: Int, now: UInt64) {
        lastActivity = now
        awaitingFirstByte = false
        if tailCount > 0, let tail {
            tailCount += count
            drive(input: tail, count: tailCount, inTail: true, now: now)
        } else {
            drive(input: loop.readBuffer, count: count, inTail: false, now: now)
        }
    }

    /// io_uring path: `count` bytes arrived in a ring buffer, which is recycled after this returns.
    func receivedBuffer(_ base: UnsafeMutableRawPointer, count: Int, now: UInt64) {
        lastActivity = now
        awaitingFirstByte = false
        if tailCount == 0 && !readPaused {
            drive(input: base, count: count, inTail: false, now: now)
            return
        }
        guard tailRoom(for: count), let tail else {
            close()  // megabytes of unanswered input while its answers cannot be sent
            return
        }
        if tailCount == 0 { partialSince = now }
        (tail + tailCount).copyMemory(from: base, byteCount: count)
        tailCount += count
        if !readPaused { drive(input: tail, count: tailCount, inTail: true, now: now) }
    }

    /// Stops reading until `LoopServer.startReading` (backpressure while a write or barrier waits):
    /// the kernel keeps what the client sends next, and TCP flow control slows the client.
    func stopReading() {
        if let uring = loop.uring {
            readPaused = true
            uring.disarm(self)
        } else {
            uv_read_stop(stream)
        }
    }

    /// Answers every complete request in the input, keeps the rest, and writes what was produced.
    /// 1. Let the handler answer requests while output has room.
    /// 2. When output filled up, write it; continue if the kernel took it all (unless held).
    /// 3. Keep unconsumed bytes in `tail`; write or hold the output; close if asked.
    func drive(input: UnsafeMutableRawPointer, count: Int, inTail: Bool, now: UInt64) {
        let context = ConnectionContext(peer: peer, loopIndex: loop.index, nowMillis: WallClock.nowMillis())
        let holding = loop.handler.holdsResponses
        var offset = 0
        while offset < count && !closeAfterWrite && !writing && !held {
            var writer = ByteWriter(base: output + outputCount, capacity: outputCapacity - outputCount)
            let outcome = loop.handler.process(
                UnsafeRawBufferPointer(start: input + offset, count: count - offset), output: &writer, context: context)
            outputCount += writer.count
            offset += outcome.consumed
            if holding { heldAnswers += outcome.answered }
            if outcome.close {
                closeAfterWrite = true
                answerCarriesFin = offset == count && !inputPending && !outcome.refused
                break
            }
            guard outcome.outputFull, !holding else { break }
            flush()
        }
        keepTail(input: input, from: offset, count: count, inTail: inTail, now: now)
        if holding && outputCount > outputSent { hold(); return }
        flush()
        if closeAfterWrite && !writing && open { close() }
    }

    /// Keeps the output until the loop's next durability barrier completes; stops reading meanwhile.
    func hold() {
        guard !held else { return }
        held = true
        stopReading()
        loop.held.append(self)
    }

    /// The barrier covering this connection's output completed: send it and carry on.
    func releaseHeld() {
        held = false
        heldAnswers = 0
        guard open else { return }
        flush()
        if closeAfterWrite { if !writing && open { close() }; return }
        if writing { return }  // `written` carries on when the kernel has taken the rest
        if tailCount > 0, let tail { drive(input: tail, count: tailCount, inTail: true, now: uv_now(loop.loop)) }
        if open && !writing && !held && !closeAfterWrite { loop.startReading(self) }
    }

    /// The barrier covering this connection's output failed: drop the held answers, answer each of
    /// those requests 503 (the handler's `syncFailureResponse`, the last one closing), and close.
    /// Unanswered pipelined input is dropped with the connection: it was never acknowledged.
    func failHeld() {
        held = false
        let answers = max(heldAnswers, 1)
        heldAnswers = 0
        guard open else { return }
        outputCount = outputSent  // the held answers were never sent (held output is written only on release)
        for i in 0..<answers {
            var writer = ByteWriter(base: output + outputCount, capacity: outputCapacity - outputCount)
            loop.handler.syncFailureResponse(output: &writer, close: i == answers - 1)
            if writer.overflowed { break }
            outputCount += writer.count
        }
        closeAfterWrite = true
        answerCarriesFin = false
        tailCount = 0
        flush()
        if !writing && open { close() }
    }

    /// Moves unconsumed input to the front of `tail`.
    func keepTail(input: UnsafeMutableRawPointer, from offset: Int, count: Int, inTail: Bool, now: UInt64) {
        let remaining = count - offset
        if remaining == 0 || closeAfterWrite {
            tailCount = 0
            if tailCapacity != baseTailCapacity { shrinkTail() }
            return
        }
        if tail == nil { tail = .allocate(byteCount: tailCapacity, alignment: 16) }
        guard remaining <= tailCapacity, let tail else { closeAfterWrite = true; return }
        if !inTail || offset > 0 { tail.copyMemory(from: input + offset, byteCount: remaining) }
        if tailCount == 0 || !inTail || offset > 0 { partialSince = now }
        tailCount = remaining
    }

    /// Writes pending output at once (`write(2)` on the io_uring path, `uv_try_write` on epoll), and
    /// queues what the kernel did not take. The last answer of a connection the handler closes after
    /// all its input goes with `send(MSG_MORE)` on either path: TCP holds it until the close, which
    /// adds the FIN to the same segment (one packet less for both ends to process).
    func flush() {
        guard !writing, open else { return }
        if closeAfterWrite && answerCarriesFin && loop.cuts.finWithAnswer { return flushClosing() }
        while outputSent < outputCount {
            if fd >= 0 {
                let written = Glibc.write(fd, output + outputSent, outputCount - outputSent)
                if written > 0 { outputSent += written; continue }
                if written < 0 && errno == EINTR { continue }
                if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                close(); return
            }
            var buffer = uv_buf_t(base: (output + outputSent).assumingMemoryBound(to: CChar.self),
                                  len: outputCount - outputSent)
            let written = uv_try_write(stream, &buffer, 1)
            if written > 0 { outputSent += Int(written); continue }
            if written == UV_EAGAIN.rawValue { break }
            close(); return
        }
        if outputSent == outputCount { outputCount = 0; outputSent = 0; return }
        queueWrite()
    }

    /// `flush` for the last answer before the close: `send(MSG_MORE)` on the socket (libuv's on epoll,
    /// whose write queue is empty while no write is pending).
    func flushClosing() {
        var socket = fd
        if socket < 0 && uv_fileno(handle, &socket) != 0 { close(); return }
        while outputSent < outputCount {
            let written = Glibc.send(socket, output + outputSent, outputCount - outputSent, Int32(MSG_MORE | MSG_NOSIGNAL))
            if written > 0 { outputSent += written; continue }
            if written < 0 && errno == EINTR { continue }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            close(); return
        }
        if outputSent == outputCount { outputCount = 0; outputSent = 0; return }
        queueWrite()
    }

    /// Waits until the socket takes the rest of the output (a write poll in the ring, or `uv_write`)
    /// and stops reading meanwhile (backpressure).
    func queueWrite() {
        if let uring = loop.uring {
            guard uring.armWritable(self) else { close(); return }
            uv_update_time(loop.loop)
            writeStarted = uv_now(loop.loop)
            writing = true
            stopReading()
            return
        }
        var buffer = uv_buf_t(base: (output + outputSent).assumingMemoryBound(to: CChar.self),
                              len: outputCount - outputSent)
        writeRequest.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let result = uv_write(writeRequest, stream, &buffer, 1) { request, status in
            guard let request, let data = request.pointee.data else { return }
            Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue().written(status: status)
        }
        guard result == 0 else { close(); return }
        uv_update_time(loop.loop)
        writeStarted = uv_now(loop.loop)
        writing = true
        stopReading()
    }

    /// The queued write finished: answer what is waiting in `tail`, then read again.
    func written(status: Int32) {
        writing = false
        guard open else { return }
        guard status == 0 else { close(); return }
        outputCount = 0; outputSent = 0
        if closeAfterWrite { close(); return }
        uv_update_time(loop.loop)
        lastActivity = uv_now(loop.loop)
        if tailCount > 0, let tail { drive(input: tail, count: tailCount, inTail: true, now: uv_now(loop.loop)) }
        if open && !writing && !held && !closeAfterWrite { loop.startReading(self) }
    }

    /// io_uring path: the write poll says the socket takes output again: write what is left, and
    /// carry on as `written` does once all of it went (another poll is queued if it did not).
    func writable() {
        writing = false
        flush()
        if open && !writing { written(status: 0) }
    }

    /// Sends `write`'s response and closes (timeouts, overload).
    func answerAndClose(_ write: (inout ByteWriter) -> Void) {
        var writer = ByteWriter(base: output + outputCount, capacity: outputCapacity - outputCount)
        write(&writer)
        outputCount += writer.count
        closeAfterWrite = true
        answerCarriesFin = false  // the request may still be arriving
        tailCount = 0
        flush()
        if !writing && open { close() }
    }

    /// Closes the socket. On the io_uring path that is cancels of the ring's requests for it (which
    /// hold the socket open until the next wait applies them; none after a one-shot receive that
    /// completed) and a close request queued behind them, and the connection is free again at once
    /// (the generation bump makes their completions stale); on epoll the loop reclaims it in libuv's
    /// close callback.
    func close() {
        guard open else { return }
        open = false
        if held { loop.unhold(self); held = false }
        loop.closing(self)
        if let uring = loop.uring {
            uring.disarm(self)
            uring.disarmWritable(self)
            generation &+= 1
            uring.closeSocket(fd)
            fd = -1
            loop.reclaim(self)
            return
        }
        uv_close(handle) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            let connection = Unmanaged<Connection>.fromOpaque(data).takeUnretainedValue()
            connection.loop.reclaim(connection)
        }
    }
}
