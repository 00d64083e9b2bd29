// One event loop on its own thread: a SO_REUSEPORT listener, its pooled connections, a timer that
// enforces idle and header timeouts, and an async handle other threads use to stop it. The listener
// carries TCP_NODELAY, which Linux copies to every socket it accepts.
import Atomics
import CLibUV
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// Limits the I/O layer enforces itself.
public struct ConnectionLimits: Sendable {
    public var maxConnections = 10_000
    public var idleTimeoutMillis: UInt64 = 60_000
    public var headerTimeoutMillis: UInt64 = 10_000
    /// Largest request (line, headers and body) a connection may buffer while it arrives.
    public var maxRequestBytes = 96 * 1024
    public var outputBufferBytes = 64 * 1024
    public init() {}
}

/// A loop and everything on it. Invariant: after `start`, touched only on its own thread, except
/// `stopAsync`, which other threads signal with `uv_async_send`.
final class LoopServer {
    let index: Int
    let loop: UnsafeMutablePointer<uv_loop_t>
    let listener: UnsafeMutablePointer<uv_tcp_t>
    let sweepTimer: UnsafeMutablePointer<uv_timer_t>
    let stopAsync: UnsafeMutablePointer<uv_async_t>
    let handler: ConnectionHandler
    let limits: ConnectionLimits
    let connectionCount: ManagedAtomic<Int>
    /// One read buffer serves every connection: alloc, read and the read callback run back to back.
    let readBufferSize = 64 * 1024
    let readBuffer: UnsafeMutableRawPointer
    var all: [Connection] = []
    var free: [Int] = []
    var active: [Connection] = []
    var stopping = false
    var finished = false
    /// Work other threads hand to this loop (config reload, stop), drained by the async callback.
    var mailbox: [() -> Void] = []
    var mailboxLock = pthread_mutex_t()
    /// Group commit: connections whose output waits for the next barrier, and those the running
    /// barrier covers.
    var held: [Connection] = []
    var inFlight: [Connection] = []
    var releasing: [Connection] = []
    var barrierRunning = false
    var barrierFiles = FileList()
    /// errno of the first sync of the running barrier that failed (0: none); written by the worker
    /// thread, read by the loop in the after-work callback (libuv orders the two).
    var barrierError: Int32 = 0
    /// How the barrier syncs a file (`fdatasync`, or the test hook's injected failure).
    let fileSync: FileSync
    let barrierWork: UnsafeMutablePointer<uv_work_t>
    let checkHandle: UnsafeMutablePointer<uv_check_t>
    /// The receive path asked for, and the io_uring driver once `run` created one on this thread.
    let backend: ServerIO
    var uring: URingDriver?
    /// io_uring: the listening socket until `run` hands it to the ring (the libuv `listener` is not
    /// initialised then, unless the ring fails and libuv listens on this socket instead).
    var listenerFD: Int32 = -1
    /// Which per-connection cuts are on (all, unless switched off for a measurement).
    let cuts = ConnectionCuts.current

    init(index: Int, handler: ConnectionHandler, limits: ConnectionLimits, connectionCount: ManagedAtomic<Int>,
         backend: ServerIO, fileSync: FileSync = .system) throws(IOError) {
        self.index = index
        self.fileSync = fileSync
        self.backend = backend
        self.handler = handler
        self.limits = limits
        self.connectionCount = connectionCount
        loop = .allocate(capacity: 1)
        listener = .allocate(capacity: 1)
        sweepTimer = .allocate(capacity: 1)
        stopAsync = .allocate(capacity: 1)
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
        barrierWork = .allocate(capacity: 1)
        checkHandle = .allocate(capacity: 1)
        held.reserveCapacity(1024)
        inFlight.reserveCapacity(1024)
        releasing.reserveCapacity(1024)
        try check("uv_loop_init", uv_loop_init(loop))
    }

    deinit {
        if listenerFD >= 0 { Glibc.close(listenerFD) }
        uv_loop_close(loop)
        loop.deallocate(); listener.deallocate(); sweepTimer.deallocate(); stopAsync.deallocate()
        barrierWork.deallocate(); checkHandle.deallocate()
        readBuffer.deallocate()
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ data: UnsafeMutableRawPointer?) -> LoopServer {
        Unmanaged<LoopServer>.fromOpaque(data!).takeUnretainedValue()
    }

    /// Sets up the timer and the stop signal; called on the loop's thread before `uv_run`.
    func prepare() throws(IOError) {
        try check("uv_timer_init", uv_timer_init(loop, sweepTimer))
        sweepTimer.pointee.data = opaque
        try check("uv_timer_start", uv_timer_start(sweepTimer, { timer in
            LoopServer.from(timer!.pointee.data).sweep()
        }, 1000, 1000))
        pthread_mutex_init(&mailboxLock, nil)
        try check("uv_async_init", uv_async_init(loop, stopAsync) { async in
            LoopServer.from(async!.pointee.data).drainMailbox()
        })
        stopAsync.pointee.data = opaque
        try check("uv_check_init", uv_check_init(loop, checkHandle))
        checkHandle.pointee.data = opaque
        try check("uv_check_start", uv_check_start(checkHandle) { check in
            LoopServer.from(check!.pointee.data).startBarrierIfNeeded()
        })
    }

    /// Runs after each poll phase: one fdatasync covers every answer this iteration produced.
    func startBarrierIfNeeded() {
        guard !held.isEmpty, !barrierRunning, handler.heldAnswersMayGo else { return }
        barrierFiles.removeAll()
        handler.collectDirtyFiles(into: &barrierFiles)
        swap(&held, &inFlight)
        guard barrierFiles.count > 0 || barrierFiles.overflowed else { return releaseInFlight() }
        barrierRunning = true
        barrierError = 0
        barrierWork.pointee.data = opaque
        let result = uv_queue_work(loop, barrierWork, { work in
            // On a libuv worker thread: the loop does not touch `barrierFiles` or `barrierError`
            // while this runs.
            LoopServer.from(work!.pointee.data).syncBarrierFiles()
        }, { work, _ in
            let server = LoopServer.from(work!.pointee.data)
            server.barrierRunning = false
            server.finishBarrier()
            server.startBarrierIfNeeded()
        })
        if result != 0 {
            barrierRunning = false
            syncBarrierFiles()  // inline rather than lose durability
            finishBarrier()
        }
    }

    /// Syncs every file of the barrier, keeping the first failure's errno. Every file is tried even
    /// after a failure, so the others' pages are as durable as they can be.
    func syncBarrierFiles() {
        let files = barrierFiles
        for i in 0..<files.count where fileSync.sync(files[i]) != 0 {
            if barrierError == 0 { barrierError = errno == 0 ? EIO : errno }
        }
        if files.overflowed { sync() }
    }

    /// The barrier's syncs returned: send the answers they covered, or, when a sync failed (or an
    /// earlier failure stopped writes), answer every held request 503 instead: nothing is acknowledged.
    func finishBarrier() {
        if handler.durabilityBarrierFinished(syncError: barrierError) { return releaseInFlight() }
        swap(&inFlight, &releasing)
        for connection in releasing { connection.failHeld() }
        releasing.removeAll(keepingCapacity: true)
    }

    /// Sends the output the completed barrier covered.
    func releaseInFlight() {
        swap(&inFlight, &releasing)  // three arrays, swapped, so releasing allocates nothing
        for connection in releasing { connection.releaseHeld() }
        releasing.removeAll(keepingCapacity: true)
    }

    /// A held connection is closing: forget it.
    func unhold(_ connection: Connection) {
        held.removeAll { $0 === connection }
        inFlight.removeAll { $0 === connection }
    }

    /// Runs the loop until shutdown closed every handle. The ring is created here, on the loop's own
    /// thread, which is the only one that may submit to it. The group probed io_uring before choosing
    /// it; should this loop's ring still fail, the loop serves on epoll, libuv listening on the socket.
    func run() {
        if backend == .ioURing {
            var error: Int32 = 0
            if let driver = URingDriver(error: &error) {
                uring = driver
                driver.run(self)
                uring = nil
                return
            }
            let fd = listenerFD
            listenerFD = -1
            precondition(uv_tcp_init(loop, listener) == 0 && uv_tcp_open(listener, fd) == 0,
                         "loop \(index): io_uring failed (\(error)) and libuv cannot take the listener")
            listener.pointee.data = opaque
            do { try libuvListen() } catch { preconditionFailure("loop \(index): io_uring failed (\(error)), then \(error)") }
        }
        uv_run(loop, UV_RUN_DEFAULT)
    }

    /// Accepts one connection; over the cap it is answered 503 and closed, and the rest keep going.
    func accept() {
        let connection = takeConnection()
        guard uv_tcp_init(loop, connection.tcp) == 0 else { free.append(connection.poolIndex); return }
        connection.tcp.pointee.data = Unmanaged.passUnretained(connection).toOpaque()
        connection.reset()
        connection.open = true
        connection.activeIndex = active.count
        active.append(connection)
        connectionCount.wrappingIncrement(ordering: .relaxed)
        let listenerStream = UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_stream_t.self)
        guard uv_accept(listenerStream, connection.stream) == 0 else { connection.close(); return }
        connection.lastActivity = uv_now(loop)
        connection.partialSince = connection.lastActivity
        connection.awaitingFirstByte = true  // a connection that never sends gets 408 too
        connection.peer = peerAddress(connection)
        serve(connection)
    }

    /// io_uring: the ring accepted `fd` from `peer` (TCP_NODELAY came with it from the listener);
    /// `receiveOnce`: its first receive is one-shot.
    func accepted(socket fd: Int32, peer: PeerAddress, receiveOnce: Bool) {
        if stopping { Glibc.close(fd); return }
        let connection = takeConnection()
        connection.reset()
        connection.fd = fd
        connection.receiveOnce = receiveOnce
        connection.open = true
        connection.activeIndex = active.count
        active.append(connection)
        connectionCount.wrappingIncrement(ordering: .relaxed)
        connection.lastActivity = uv_now(loop)
        connection.partialSince = connection.lastActivity
        connection.awaitingFirstByte = true
        connection.peer = peer
        serve(connection)
    }

    /// A connection just accepted: over the cap it is answered 503 and closed, else it is read (on
    /// epoll with deferred accepts, at once: see `readAtAccept`).
    func serve(_ connection: Connection) {
        if connectionCount.load(ordering: .relaxed) > limits.maxConnections {
            connection.answerAndClose { handler.overloadResponse(output: &$0) }
            return
        }
        if uring == nil && cuts.deferAccept { return readAtAccept(connection) }
        startReading(connection)
    }

    func takeConnection() -> Connection {
        if let reused = free.popLast() { return all[reused] }
        let connection = Connection(loop: self, poolIndex: all.count, outputCapacity: limits.outputBufferBytes,
                                    tailCapacity: max(limits.maxRequestBytes, readBufferSize) + 4096)
        all.append(connection)
        return connection
    }

    func peerAddress(_ connection: Connection) -> PeerAddress {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(connection.tcp, $0, &length) }
        }
        guard result == 0 else { return .unknown }
        return withUnsafePointer(to: &storage) { PeerAddress($0) }
    }

    func startReading(_ connection: Connection) {
        if let uring {
            connection.readPaused = false
            if !connection.receiveArmed { uring.arm(connection) }
            return
        }
        let result = uv_read_start(connection.stream, { handle, _, buffer in
            let connection = Unmanaged<Connection>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            let (base, size) = connection.readTarget()
            connection.readSize = size
            buffer!.pointee = uv_buf_t(base: base.assumingMemoryBound(to: CChar.self), len: size)
        }, { stream, count, _ in
            let connection = Unmanaged<Connection>.fromOpaque(stream!.pointee.data).takeUnretainedValue()
            if count > 0 {
                // libuv's cached time is not refreshed between the reads of one iteration; a stale
                // time would date a partial request too early and time it out (found by a test).
                uv_update_time(connection.loop.loop)
                connection.inputPending = count == connection.readSize  // a short read emptied the socket
                connection.received(count, now: uv_now(connection.loop.loop))
            } else if count < 0 {
                connection.close()
            }
        })
        if result != 0 { connection.close() }
    }

    /// A connection is closing: take it off the active list (swap-remove).
    func closing(_ connection: Connection) {
        let i = connection.activeIndex
        guard i >= 0 else { return }
        let last = active.removeLast()
        if last !== connection { active[i] = last; last.activeIndex = i }
        connection.activeIndex = -1
        connectionCount.wrappingDecrement(ordering: .relaxed)
        if stopping { finishIfDrained() }
    }

    /// The close callback ran: the connection may be reused.
    func reclaim(_ connection: Connection) {
        free.append(connection.poolIndex)
    }

    /// Once a second: answer 408 to requests that stall, close connections idle too long.
    func sweep() {
        uring?.rearmParkedAccepts()
        let now = uv_now(loop)
        var i = active.count - 1
        while i >= 0 {
            let connection = active[i]
            i -= 1
            if connection.held { continue }
            if connection.writing {
                // A client that stops reading: its write made no progress for the idle timeout.
                if now &- connection.writeStarted > limits.idleTimeoutMillis { connection.close() }
                continue
            }
            if connection.tailCount > 0 || connection.awaitingFirstByte {
                if now &- connection.partialSince > limits.headerTimeoutMillis {
                    connection.answerAndClose { handler.timeoutResponse(output: &$0) }
                }
            } else if now &- connection.lastActivity > limits.idleTimeoutMillis {
                connection.close()
            }
        }
    }

    /// Any thread: runs `work` on this loop's thread soon (several sends may merge into one wake-up).
    func post(_ work: @escaping () -> Void) {
        pthread_mutex_lock(&mailboxLock)
        mailbox.append(work)
        pthread_mutex_unlock(&mailboxLock)
        uv_async_send(stopAsync)
    }

    func drainMailbox() {
        pthread_mutex_lock(&mailboxLock)
        let work = mailbox
        mailbox.removeAll()
        pthread_mutex_unlock(&mailboxLock)
        for item in work { item() }
    }

    /// Graceful stop, on the loop's thread: stop accepting, close idle connections, let those with
    /// answers in flight (a pending write or a durability barrier) finish, and force the rest closed
    /// after `drainMillis`. `uv_run` returns once every handle is closed.
    func shutdown(drainMillis: UInt64 = 5000) {
        guard !stopping else { return }
        stopping = true
        if let uring { uring.stopAccepting() } else {
            uv_close(UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_handle_t.self), nil)
        }
        for connection in active.reversed() {
            if connection.writing || connection.held {
                connection.closeAfterWrite = true
                connection.stopReading()
            } else {
                connection.close()
            }
        }
        uv_timer_stop(sweepTimer)
        uv_timer_start(sweepTimer, { timer in
            let server = LoopServer.from(timer!.pointee.data)
            for connection in server.active.reversed() { connection.close() }
            server.finishIfDrained()
        }, drainMillis, 0)
        finishIfDrained()
    }

    /// Closes the loop's own handles once no connection is left (during shutdown).
    func finishIfDrained() {
        guard stopping, active.isEmpty, !finished else { return }
        finished = true
        uv_close(UnsafeMutableRawPointer(sweepTimer).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_close(UnsafeMutableRawPointer(stopAsync).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_close(UnsafeMutableRawPointer(checkHandle).assumingMemoryBound(to: uv_handle_t.self), nil)
    }
}
