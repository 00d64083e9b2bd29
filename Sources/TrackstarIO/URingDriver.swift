// The io_uring receive path of a request loop. libuv still owns the loop's listener, timers, async
// wake-ups, pending writes and the thread pool; io_uring takes the hot part: every connection's reads
// arrive as multishot receive completions in buffers the kernel picks from a provided-buffer ring, so
// a request costs no read(2) and no epoll_wait(2) of its own, and the kernel runs receive work only
// when the loop waits (DEFER_TASKRUN), in one batch. Responses are still written at once with
// uv_try_write, exactly as on the epoll path.
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

/// Tags carried by io_uring requests: kind in the low 2 bits, then the connection's pool index
/// (24 bits), its generation (19 bits, bumped at every accept and close) and the arm count (19 bits,
/// bumped every time a receive is armed). A completion for an earlier generation is stale and only
/// returns its buffer; one for an earlier arm may still carry data, but does not end the current arm.
enum URingTag {
    static let receive: UInt64 = 1
    static let libuvPoll: UInt64 = 2
    static let cancel: UInt64 = 3

    static func make(index: Int, generation: UInt32, arm: UInt32) -> UInt64 {
        receive | UInt64(truncatingIfNeeded: index & 0xFF_FFFF) << 2
            | UInt64(generation & 0x7_FFFF) << 26 | UInt64(arm & 0x7_FFFF) << 45
    }
    static func kind(_ tag: UInt64) -> UInt64 { tag & 3 }
    static func index(_ tag: UInt64) -> Int { Int(truncatingIfNeeded: (tag >> 2) & 0xFF_FFFF) }
    static func generation(_ tag: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: (tag >> 26) & 0x7_FFFF) }
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

    init?(error: inout Int32) {
        guard let ring = ts_uring_new(4096, Self.bufferCount, Self.bufferSize, &error) else { return nil }
        self.ring = ring
        events = .allocate(capacity: Self.eventCapacity)
        rearm.reserveCapacity(256)
    }

    deinit {
        ts_uring_free(ring)
        events.deallocate()
    }

    /// Arms a multishot receive for the connection's socket (submitted with the next wait).
    func arm(_ connection: Connection) {
        var fd: uv_os_fd_t = -1
        guard uv_fileno(connection.handle, &fd) == 0 else { connection.close(); return }
        connection.armCount &+= 1
        connection.receiveTag = URingTag.make(index: connection.poolIndex, generation: connection.generation,
                                              arm: connection.armCount)
        guard ts_uring_recv(ring, fd, connection.receiveTag) == 0 else { connection.close(); return }
        connection.receiveArmed = true
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
