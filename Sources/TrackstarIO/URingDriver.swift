// The io_uring path of a request loop. libuv still owns the loop's timers, async wake-ups and thread
// pool; io_uring takes every connection: the listener's accepts complete in the ring with the peer's
// address (no accept4 or getpeername of their own), every connection's reads arrive as multishot
// receive completions in buffers the kernel picks from a provided-buffer ring, so a request costs no
// read(2) and no epoll_wait(2) of its own, and the kernel runs that work only when the loop waits
// (DEFER_TASKRUN), in one batch. A connection's first receive is one-shot (the listener defers accepts
// until the request is there, so it usually completes at once) and only a connection that stays open
// gets the multishot one. Responses are written at once with write(2), as on the epoll path; what the
// kernel cannot take waits for a one-shot POLLOUT in the ring. Connections are plain descriptors here,
// never libuv handles, so closing one is a close request in the ring and nothing more (a connection
// answered and closed has no request left to cancel).
//
// The loop waits in io_uring and treats libuv as embedded (uv_backend_fd / uv_backend_timeout): a
// one-shot poll on libuv's epoll descriptor says when libuv has events, and `uv_run(UV_RUN_NOWAIT)`
// runs only then, when a libuv timer is due, or when handles are closing.
import Atomics
import CLibUV
import CTrackstarURing
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// What the I/O layer knows of the receive paths `[server] io` chooses between.
extension ServerIO {
    /// Whether this kernel and process can run the io_uring path: a ring with the features the
    /// loops use is created and dropped once. Nil when it can, else the reason.
    public static let ioURingUnavailableReason: String? = {
        var utsname = utsname()
        uname(&utsname)
        let release = withUnsafeBytes(of: &utsname.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").prefix(2).map { Int($0.prefix { $0.isNumber }) ?? 0 }
        if parts.count < 2 || (parts[0], parts[1]) < (6, 0) {
            return "kernel \(release) lacks multishot receives (6.0 or later needed)"
        }
        var error: Int32 = 0
        guard let ring = ts_uring_new(8, 1, 4096, &error) else {
            return "io_uring setup failed: \(String(cString: strerror(-error)))"
        }
        ts_uring_free(ring)
        return nil
    }()

    /// Receives that ran out of provided buffers and were re-armed, since the process started.
    public static var ioURingOutOfBuffers: Int { URingDriver.outOfBuffers.load(ordering: .relaxed) }
}

/// Tags carried by io_uring requests: kind in the low 3 bits, then the connection's pool index
/// (23 bits; an accept's tag carries its slot there), its generation (19 bits, bumped at every accept
/// and close) and the arm count (19 bits, bumped every time a receive or a write poll is armed). A
/// completion for an earlier generation is stale and only returns its buffer; one for an earlier arm
/// may still carry data, but does not end the current arm.
enum URingTag {
    static let receive: UInt64 = 1
    static let libuvPoll: UInt64 = 2
    static let cancel: UInt64 = 3
    static let accept: UInt64 = 4
    static let writable: UInt64 = 5

    static func make(_ kind: UInt64 = receive, index: Int, generation: UInt32, arm: UInt32) -> UInt64 {
        kind | UInt64(truncatingIfNeeded: index & 0x7F_FFFF) << 3
            | UInt64(generation & 0x7_FFFF) << 26 | UInt64(arm & 0x7_FFFF) << 45
    }
    static func kind(_ tag: UInt64) -> UInt64 { tag & 7 }
    static func index(_ tag: UInt64) -> Int { Int(truncatingIfNeeded: (tag >> 3) & 0x7F_FFFF) }
    static func generation(_ tag: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: (tag >> 26) & 0x7_FFFF) }
}

/// The address buffers of the accepts a loop keeps in flight: one `sockaddr_storage` and its length
/// per slot, written by the kernel when that slot's accept completes. Touched only on the loop's
/// thread, and a slot only while its accept is not in flight.
final class AcceptSlots {
    /// Accepts in flight per loop. The kernel wakes one of them per arriving connection (accept
    /// polls are exclusive), so several only help when connections arrive in bursts.
    static let count = 8
    let addresses: UnsafeMutablePointer<sockaddr_storage>
    let lengths: UnsafeMutablePointer<UInt32>

    init() {
        addresses = .allocate(capacity: Self.count)
        addresses.initialize(repeating: sockaddr_storage(), count: Self.count)
        lengths = .allocate(capacity: Self.count)
        lengths.initialize(repeating: 0, count: Self.count)
    }

    deinit {
        addresses.deallocate()
        lengths.deallocate()
    }

    /// Readies `slot` for an accept: its length is the buffer's size again.
    func prepare(_ slot: Int) -> (UnsafeMutableRawPointer, UnsafeMutablePointer<UInt32>) {
        lengths[slot] = UInt32(MemoryLayout<sockaddr_storage>.size)
        return (UnsafeMutableRawPointer(addresses + slot), lengths + slot)
    }

    /// The peer address the completed accept of `slot` wrote.
    func peer(_ slot: Int) -> PeerAddress { PeerAddress(addresses + slot) }
}

/// A loop's ring and the loop that waits in it. Touched only on the loop's thread.
final class URingDriver {
    /// Provided receive buffers: 1024 × 4 KiB per loop. A batch returns every buffer it used before
    /// the loop waits again; a receive that finds none ends with ENOBUFS and is re-armed. Small
    /// buffers bound what one receive run takes from a socket (the kernel reads up to 32 buffers per
    /// run), and so what a paused connection can have in hand beyond its tail.
    /// `TRACKSTAR_IO_URING_BUFFERS` (a power of two, 8–32768) overrides the count; the tests use a
    /// handful to make receives run out of buffers on purpose.
    static let bufferCount: UInt32 = {
        guard let text = getenv("TRACKSTAR_IO_URING_BUFFERS").map({ String(cString: $0) }), let n = UInt32(text),
              (8...32768).contains(n), n & (n - 1) == 0 else { return 1024 }
        return n
    }()
    static let bufferSize: UInt32 = 4 * 1024
    /// Receives re-armed after running out of buffers, all loops (for tests and diagnosis).
    static let outOfBuffers = ManagedAtomic<Int>(0)
    static let eventCapacity = 256

    let ring: OpaquePointer
    let events: UnsafeMutablePointer<ts_uring_event>
    /// Connections whose receive ended for want of buffers, re-armed after the batch recycled them.
    var rearm: [Connection] = []
    /// The listening socket the ring accepts from (-1 once shutdown closed it), the accepts' address
    /// buffers, which slots have an accept in flight, and the slots whose accept failed for want of
    /// descriptors or memory (re-armed by the loop's once-a-second sweep).
    var listenerFD: Int32 = -1
    let accepts = AcceptSlots()
    var acceptArmed = [Bool](repeating: false, count: AcceptSlots.count)
    var acceptsParked: [Int] = []
    /// Which per-connection cuts are on (all, unless switched off for a measurement).
    let cuts = ConnectionCuts.current

    init?(error: inout Int32) {
        guard let ring = ts_uring_new(4096, Self.bufferCount, Self.bufferSize, &error) else { return nil }
        self.ring = ring
        events = .allocate(capacity: Self.eventCapacity)
        rearm.reserveCapacity(256)
        acceptsParked.reserveCapacity(AcceptSlots.count)
    }

    deinit {
        ts_uring_free(ring)
        if listenerFD >= 0 { Glibc.close(listenerFD) }
        events.deallocate()
    }

    /// Starts accepting on `fd`, a listening socket the driver owns from now on.
    func startAccepting(_ fd: Int32) {
        listenerFD = fd
        for slot in 0..<AcceptSlots.count { armAccept(slot) }
    }

    /// Queues slot `slot`'s accept (submitted with the next wait); parks the slot if the ring refuses.
    func armAccept(_ slot: Int) {
        guard listenerFD >= 0 else { return }
        let (address, length) = accepts.prepare(slot)
        if ts_uring_accept(ring, listenerFD, address, length, URingTag.accept | UInt64(slot) << 3) == 0 {
            acceptArmed[slot] = true
        } else {
            acceptsParked.append(slot)
        }
    }

    /// The sweep's once-a-second retry of accepts that failed for want of descriptors or memory.
    func rearmParkedAccepts() {
        guard !acceptsParked.isEmpty else { return }
        let slots = acceptsParked
        acceptsParked.removeAll(keepingCapacity: true)
        for slot in slots { armAccept(slot) }
    }

    /// Stops accepting (shutdown): cancels the accepts in flight and closes the listener. The
    /// cancels go with the next wait; until then the accepts hold the listening socket open, and a
    /// connection they still take is closed at once (`LoopServer.accepted` while stopping).
    func stopAccepting() {
        guard listenerFD >= 0 else { return }
        for slot in 0..<AcceptSlots.count where acceptArmed[slot] {
            _ = ts_uring_cancel(ring, URingTag.accept | UInt64(slot) << 3, URingTag.cancel)
        }
        acceptsParked.removeAll()
        Glibc.close(listenerFD)
        listenerFD = -1
    }

    /// One accept completion: the new socket goes to the loop, and the slot accepts again. Errors a
    /// client causes (a connection reset while queued) re-arm at once; running out of descriptors or
    /// memory parks the slot for the sweep, so the loop does not spin on them.
    func accepted(_ event: ts_uring_event, server: LoopServer) {
        let slot = Int(truncatingIfNeeded: (event.tag >> 3) & 0x7F_FFFF)
        guard slot < AcceptSlots.count else { return }
        acceptArmed[slot] = false
        if event.result >= 0 {
            server.accepted(socket: event.result, peer: accepts.peer(slot), receiveOnce: cuts.receiveOnce)
            armAccept(slot)
            return
        }
        switch -event.result {
        case ECANCELED: return
        case ECONNABORTED, EINTR, EAGAIN, EPROTO, EPERM, ENETDOWN, ENETUNREACH, EHOSTUNREACH, EHOSTDOWN, ENONET, EOPNOTSUPP,
             ETIMEDOUT:
            armAccept(slot)
        default:
            acceptsParked.append(slot)  // EMFILE, ENFILE, ENOBUFS, ENOMEM, or the listener is gone
        }
    }

    /// Arms a receive for the connection's socket (submitted with the next wait): one-shot for the
    /// first after the accept, multishot after that.
    func arm(_ connection: Connection) {
        connection.armCount &+= 1
        connection.receiveTag = URingTag.make(index: connection.poolIndex, generation: connection.generation,
                                              arm: connection.armCount)
        let once = connection.receiveOnce
        connection.receiveOnce = false
        let queued = once ? ts_uring_recv_once(ring, connection.fd, connection.receiveTag)
                          : ts_uring_recv(ring, connection.fd, connection.receiveTag)
        guard queued == 0 else { connection.close(); return }
        connection.receiveArmed = true
    }

    /// Closes a connection's socket: a close request in the ring (after the cancels queued before it,
    /// which release the socket's requests), or close(2) when that cut is off or the ring refuses.
    func closeSocket(_ fd: Int32) {
        if cuts.ringClose && ts_uring_close(ring, fd, URingTag.cancel) == 0 { return }
        Glibc.close(fd)
    }

    /// Arms a one-shot poll for the connection's socket to take more output; false if the ring refused.
    func armWritable(_ connection: Connection) -> Bool {
        connection.armCount &+= 1
        connection.writeTag = URingTag.make(URingTag.writable, index: connection.poolIndex,
                                            generation: connection.generation, arm: connection.armCount)
        guard ts_uring_poll_out(ring, connection.fd, connection.writeTag) == 0 else { return false }
        connection.writeArmed = true
        return true
    }

    /// Cancels the connection's write poll (at close: a poll in flight would hold the socket open).
    func disarmWritable(_ connection: Connection) {
        guard connection.writeArmed else { return }
        connection.writeArmed = false
        _ = ts_uring_cancel(ring, connection.writeTag, URingTag.cancel)
    }

    /// A write poll completed: the socket takes output again (or has failed, which the write reports).
    func writable(_ event: ts_uring_event, server: LoopServer) {
        let index = URingTag.index(event.tag)
        guard index < server.all.count else { return }
        let connection = server.all[index]
        guard connection.open, connection.writeArmed, event.tag == connection.writeTag else { return }
        connection.writeArmed = false
        connection.writable()
    }

    /// Cancels the connection's receive. The cancel goes with the next wait, which applies it before
    /// running any receive work, so nothing more arrives for this arm after the current batch. Until
    /// then the request holds the socket open even if its descriptor was closed.
    func disarm(_ connection: Connection) {
        guard connection.receiveArmed else { return }
        connection.receiveArmed = false
        _ = ts_uring_cancel(ring, connection.receiveTag, URingTag.cancel)
    }

    /// The loop: wait in the ring, hand receives to their connections, run libuv when it has work.
    func run(_ server: LoopServer) {
        let loop = server.loop
        let backendFD = uv_backend_fd(loop)
        startAccepting(server.listenerFD)
        server.listenerFD = -1  // the driver's now
        var libuvDue = true
        var pollArmed = false
        while true {
            if libuvDue {
                libuvDue = false
                if uv_run(loop, UV_RUN_NOWAIT) == 0 { break }  // every handle closed: the loop is done
            }
            if !pollArmed {
                if ts_uring_poll(ring, backendFD, URingTag.libuvPoll) == 0 { pollArmed = true } else { libuvDue = true }
            }
            uv_update_time(loop)
            let timeout = uv_backend_timeout(loop)
            if timeout == 0 { libuvDue = true }
            let waited = ts_uring_wait(ring, libuvDue ? 0 : timeout)
            if waited == -ETIME { libuvDue = true }
            while true {
                let count = Int(ts_uring_reap(ring, events, UInt32(Self.eventCapacity)))
                if count == 0 { break }
                for i in 0..<count {
                    let event = events[i]
                    switch URingTag.kind(event.tag) {
                    case URingTag.receive:
                        // The clock is read for each receive (a vDSO read): answering one completion's
                        // requests can take long on a starved core, and a partial request stamped with
                        // a time from before the batch would look stalled to the header-timeout sweep
                        // (the stale-clock bug the epoll path fixed in its read callback).
                        uv_update_time(loop)
                        received(event, server: server, now: uv_now(loop))
                    case URingTag.accept:
                        uv_update_time(loop)  // the header timeout runs from here
                        accepted(event, server: server)
                    case URingTag.writable: writable(event, server: server)
                    case URingTag.libuvPoll: pollArmed = false; libuvDue = true
                    default: break  // a cancel's own completion
                    }
                }
                ts_uring_recycle_commit(ring)
                if count < Self.eventCapacity { break }
            }
            if !rearm.isEmpty {
                for connection in rearm where connection.open && !connection.receiveArmed && !connection.readPaused {
                    arm(connection)
                }
                rearm.removeAll(keepingCapacity: true)
            }
            server.startBarrierIfNeeded()
        }
        finishAccepts()
    }

    /// The loop is done (after `stopAccepting`): submits the cancels and closes still queued and waits, a
    /// bounded while, for every accept to complete, so the listening socket is closed when `run`
    /// returns rather than whenever the kernel tears the ring down. The receives' cancels go with the
    /// same submit, and the waits run their completion work, which releases the closed sockets.
    func finishAccepts() {
        _ = ts_uring_submit(ring)  // the closes still queued, even with no accept left to wait for
        var rounds = 0
        while acceptArmed.contains(true) && rounds < 100 {
            rounds += 1
            _ = ts_uring_wait(ring, 50)
            let count = Int(ts_uring_reap(ring, events, UInt32(Self.eventCapacity)))
            for i in 0..<count {
                let event = events[i]
                if event.flags & UInt32(TS_URING_F_BUFFER) != 0 { ts_uring_recycle(ring, event.flags) }
                guard URingTag.kind(event.tag) == URingTag.accept else { continue }
                acceptArmed[Int(truncatingIfNeeded: (event.tag >> 3) & 0x7F_FFFF) % AcceptSlots.count] = false
                if event.result >= 0 { Glibc.close(event.result) }  // taken after the stop: refused by closing
            }
            ts_uring_recycle_commit(ring)
        }
    }

    /// One receive completion.
    func received(_ event: ts_uring_event, server: LoopServer, now: UInt64) {
        let hasBuffer = event.flags & UInt32(TS_URING_F_BUFFER) != 0
        defer { if hasBuffer { ts_uring_recycle(ring, event.flags) } }
        let index = URingTag.index(event.tag)
        guard index < server.all.count else { return }
        let connection = server.all[index]
        guard connection.open, URingTag.generation(event.tag) == connection.generation & 0x7_FFFF else { return }
        let ended = event.flags & UInt32(TS_URING_F_MORE) == 0
        let current = event.tag == connection.receiveTag
        if ended && current { connection.receiveArmed = false }
        if event.result > 0 && hasBuffer {
            connection.inputPending = event.flags & UInt32(TS_URING_F_SOCK_NONEMPTY) != 0
            connection.receivedBuffer(ts_uring_buffer(ring, event.flags)!, count: Int(event.result), now: now)
        } else if event.result == 0 {
            connection.close()  // the peer closed
        } else if event.result == -ENOBUFS {
            if current && ended { rearm.append(connection); Self.outOfBuffers.wrappingIncrement(ordering: .relaxed) }
        } else if event.result != -ECANCELED && event.result < 0 {
            connection.close()
        }
        guard current, ended, connection.open, !connection.receiveArmed, !connection.readPaused,
              event.result != -ENOBUFS else { return }
        arm(connection)  // a multishot receive may end on its own (the kernel's choice): re-arm it
    }
}
