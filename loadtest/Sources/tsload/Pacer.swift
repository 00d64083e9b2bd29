// The open-loop pacer: a periodic timerfd watched by the worker's libuv loop (libuv's own timers count
// whole milliseconds), plus a check hook that sends what is due after every loop iteration for free.
import CUV
#if canImport(Glibc)
import Glibc
#endif

/// Calls `worker.pace` every `period` nanoseconds from `start`, and after every loop iteration. The
/// timer is armed once: a busy loop sends due requests from the check hook without any timer syscall,
/// and an idle one still wakes within a period of every intended send time.
final class Pacer {
    unowned(unsafe) let worker: Worker
    let fd: Int32
    let poll: UnsafeMutablePointer<uv_poll_t> = .allocate(capacity: 1)
    let check: UnsafeMutablePointer<uv_check_t> = .allocate(capacity: 1)

    init(worker: Worker) {
        self.worker = worker
        fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        if fd < 0 { worker.fail("timerfd_create failed") }
        uv_poll_init(worker.loop, poll, fd)
        poll.pointee.data = Unmanaged.passRetained(self).toOpaque()
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { poll, status, _ in
            let pacer = Unmanaged<Pacer>.fromOpaque(poll!.pointee.data).takeUnretainedValue()
            var expirations: UInt64 = 0
            _ = read(pacer.fd, &expirations, 8)
            pacer.worker.pace(now: uv_hrtime())
        }
        uv_check_init(worker.loop, check)
        check.pointee.data = poll.pointee.data
        uv_check_start(check) { check in
            Unmanaged<Pacer>.fromOpaque(check!.pointee.data).takeUnretainedValue().worker.pace(now: uv_hrtime())
        }
    }

    /// Fires at `start` (`uv_hrtime` nanoseconds) and every `period` after it.
    func start(at start: UInt64, period: UInt64) {
        var spec = itimerspec()
        spec.it_value = timespec(tv_sec: Int(start / 1_000_000_000), tv_nsec: Int(max(start % 1_000_000_000, 1)))
        spec.it_interval = timespec(tv_sec: Int(period / 1_000_000_000), tv_nsec: Int(period % 1_000_000_000))
        timerfd_settime(fd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
    }

    /// Stops polling; the descriptor is closed, and the pacer released, once libuv has let go of it.
    func close() {
        uv_check_stop(check)
        uv_close(UnsafeMutableRawPointer(check).assumingMemoryBound(to: uv_handle_t.self)) { handle in
            UnsafeMutableRawPointer(handle!).assumingMemoryBound(to: uv_check_t.self).deallocate()
        }
        uv_poll_stop(poll)
        uv_close(UnsafeMutableRawPointer(poll).assumingMemoryBound(to: uv_handle_t.self)) { handle in
            let pacer = Unmanaged<Pacer>.fromOpaque(handle!.pointee.data!).takeRetainedValue()
            Glibc.close(pacer.fd)
            pacer.poll.deallocate()
        }
    }
}
