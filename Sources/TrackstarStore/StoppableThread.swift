// A background thread (snapshots, export) that sleeps between turns and wakes at once when asked to
// stop; `stop` then waits for it. One implementation for every such thread.
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// A pthread with an interruptible sleep. `start` once; `stop` from any other thread.
public final class StoppableThread: @unchecked Sendable {  // `stopping` is guarded by `mutex`
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var stopping = false
    private var thread: pthread_t?

    public init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&condition)
    }

    /// Runs `body` on a new thread.
    public func start(_ body: @escaping @Sendable () -> Void) {
        var t = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&t, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        thread = t
    }

    /// Asks the thread to stop (waking any sleep) and waits for `body` to return.
    public func stop() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    /// Sleeps until `deadline` (wall-clock ms) or a stop request; true when stopping.
    public func sleep(until deadline: Int64) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        var ts = WallClock.deadline(atMillis: deadline)
        while !stopping && WallClock.nowMillis() < deadline {
            pthread_cond_timedwait(&condition, &mutex, &ts)
        }
        return stopping
    }

    /// Whether a stop was requested.
    public var isStopping: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return stopping
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
