// A libuv loop on a thread of its own for background work (the partner dispatcher, and any later
// background loop): a mailbox other threads post to, repeating timers, a hook after every loop
// iteration, work on libuv's thread pool, and an orderly stop. Every libuv and pthread call is checked
// and a failure names the call, so a background loop never runs half set up.
import CLibUV
import CTrackstarIOShims
#if canImport(Glibc)
import Glibc
#endif

/// One background event loop. Set it up (timers, hook) before `start`; afterwards it is touched only
/// on its own thread, except through `post` and `stop`, which other threads may call at any time.
public final class LoopThread: @unchecked Sendable {  // loop state: loop thread only; mailbox: under `mutex`
    /// For messages: which loop this is.
    public let name: String
    let loop: UnsafeMutablePointer<uv_loop_t>
    let wake: UnsafeMutablePointer<uv_async_t>
    let checkHandle: UnsafeMutablePointer<uv_check_t>
    let niceness: Int32
    var timers: [(handle: UnsafeMutablePointer<uv_timer_t>, every: UInt64, body: () -> Void)] = []
    var afterIteration: (() -> Void)?
    var thread = pthread_t()
    // Under `mutex`: the mailbox and whether it still takes work.
    var mutex = pthread_mutex_t()
    var mailbox: [() -> Void] = []
    var accepting = false
    var started = false

    /// Creates the loop (not yet running). `niceness` is the thread's nice value: a background loop
    /// runs below the request loops, so when the cores are busy clicks win.
    public init(name: String, niceness: Int32 = 0) throws(IOError) {
        self.name = name
        self.niceness = niceness
        loop = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        checkHandle = .allocate(capacity: 1)
        pthread_mutex_init(&mutex, nil)
        do {
            try check("uv_loop_init (\(name))", uv_loop_init(loop))
            try check("uv_async_init (\(name))", uv_async_init(loop, wake) { async in
                LoopThread.from(async!.pointee.data).drainMailbox()
            })
            try check("uv_check_init (\(name))", uv_check_init(loop, checkHandle))
        } catch {
            loop.deallocate(); wake.deallocate(); checkHandle.deallocate()
            throw error
        }
        wake.pointee.data = opaque
        checkHandle.pointee.data = opaque
    }

    deinit {
        for timer in timers { timer.handle.deallocate() }
        loop.deallocate(); wake.deallocate(); checkHandle.deallocate()
        pthread_mutex_destroy(&mutex)
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ data: UnsafeMutableRawPointer?) -> LoopThread {
        Unmanaged<LoopThread>.fromOpaque(data!).takeUnretainedValue()
    }

    /// The `uv_loop_t` for C glue in this module (the curl driver).
    var rawLoop: UnsafeMutableRawPointer { UnsafeMutableRawPointer(loop) }

    // MARK: Set-up (before start)

    /// Runs `body` on the loop every `millis`, the first time at once.
    public func repeating(every millis: UInt64, _ body: @escaping () -> Void) throws(IOError) {
        precondition(!started, "LoopThread.repeating after start")
        let handle = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
        do { try check("uv_timer_init (\(name))", uv_timer_init(loop, handle)) } catch {
            handle.deallocate()
            throw error
        }
        handle.pointee.data = opaque
        timers.append((handle, millis, body))
    }

    /// Runs `body` after every loop iteration (libuv's check phase: after the poll for I/O), where a
    /// group commit collects what the iteration appended.
    public func afterEachIteration(_ body: @escaping () -> Void) {
        precondition(!started, "LoopThread.afterEachIteration after start")
        afterIteration = body
    }

    /// Starts the timers and the hook, then the thread.
    public func start() throws(IOError) {
        precondition(!started, "LoopThread.start twice")
        for timer in timers {
            // The callback finds the body by its handle (a handful of timers at most).
            try check("uv_timer_start (\(name))", uv_timer_start(timer.handle, { handle in
                LoopThread.from(handle!.pointee.data).fire(handle!)
            }, 0, timer.every))
        }
        if afterIteration != nil {
            try check("uv_check_start (\(name))", uv_check_start(checkHandle) { handle in
                LoopThread.from(handle!.pointee.data).afterIteration?()
            })
        }
        pthread_mutex_lock(&mutex)
        accepting = true
        pthread_mutex_unlock(&mutex)
        started = true
        let retained = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            let owner = Unmanaged<LoopThread>.fromOpaque(context!).takeRetainedValue()
            owner.run()
            return nil
        }, retained)
        if result != 0 {
            Unmanaged<LoopThread>.fromOpaque(retained).release()
            started = false
            pthread_mutex_lock(&mutex)
            accepting = false
            pthread_mutex_unlock(&mutex)
            throw IOError("pthread_create (\(name))", -result)
        }
    }

    func run() {
        if niceness != 0 { _ = ts_io_set_thread_nice(niceness) }  // best effort: a failure only costs priority
        uv_run(loop, UV_RUN_DEFAULT)
        uv_loop_close(loop)
    }

    func fire(_ handle: UnsafeMutablePointer<uv_timer_t>) {
        for timer in timers where timer.handle == handle { timer.body() }
    }

    // MARK: Any thread

    /// Runs `work` on the loop thread, in the order posted. False (and `work` dropped) once the loop
    /// is stopping or before it started.
    @discardableResult
    public func post(_ work: @escaping () -> Void) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard accepting else { return false }
        mailbox.append(work)
        uv_async_send(wake)  // cannot fail on an initialised, open handle: `accepting` says it is open
        return true
    }

    func drainMailbox() {
        pthread_mutex_lock(&mutex)
        let work = mailbox
        mailbox.removeAll()
        pthread_mutex_unlock(&mutex)
        for item in work { item() }
    }

    /// Stops the loop: on the loop thread, `finish` runs first (close your own handles there; work
    /// already queued on the thread pool still completes), then the timers, the hook and every other
    /// handle are closed, and the thread ends once nothing is left. Waits for the thread.
    public func stop(_ finish: @escaping () -> Void = {}) {
        guard started else { return }
        pthread_mutex_lock(&mutex)
        let wasAccepting = accepting
        if wasAccepting {
            mailbox.append { [self] in
                finish()
                for timer in timers { uv_timer_stop(timer.handle) }
                uv_check_stop(checkHandle)
                uv_walk(loop, { handle, _ in
                    if uv_is_closing(handle) == 0 { uv_close(handle, nil) }
                }, nil)
            }
            accepting = false
            uv_async_send(wake)
        }
        pthread_mutex_unlock(&mutex)
        if wasAccepting { pthread_join(thread, nil) }
        started = false
        // The thread has ended: drop the bodies, which may hold their owner (no cycle outlives stop).
        afterIteration = nil
        timers = timers.map { ($0.handle, $0.every, {}) }
    }

    // MARK: Loop thread

    /// Runs `work` on libuv's thread pool, then `completion` back on the loop. Call on the loop thread.
    public func queueWork(_ work: @escaping () -> Void, completion: @escaping () -> Void) throws(IOError) {
        let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
        let job = Unmanaged.passRetained(WorkItem(work: work, completion: completion))
        request.pointee.data = job.toOpaque()
        let result = uv_queue_work(loop, request, { request in
            Unmanaged<WorkItem>.fromOpaque(request!.pointee.data).takeUnretainedValue().work()
        }, { request, _ in
            let item = Unmanaged<WorkItem>.fromOpaque(request!.pointee.data).takeRetainedValue()
            request!.deallocate()
            item.completion()
        })
        if result != 0 {
            job.release()
            request.deallocate()
            throw IOError("uv_queue_work (\(name))", result)
        }
    }
}

/// A thread-pool job and what runs on the loop when it is done.
final class WorkItem {
    let work: () -> Void
    let completion: () -> Void
    init(work: @escaping () -> Void, completion: @escaping () -> Void) { self.work = work; self.completion = completion }
}
