// A one-shot answer from the dispatcher's loop thread to a caller that waits for it with a timeout
// (the admin listener's resume and retry requests, and an operator's conversion status change on a loop).
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot answer from the dispatcher thread to a waiting caller.
public final class DispatcherAnswer<Value>: @unchecked Sendable {  // guarded by `mutex`
    var mutex = pthread_mutex_t()
    var condition = pthread_cond_t()
    var value: Value?

    public init() { pthread_mutex_init(&mutex, nil); pthread_cond_init(&condition, nil) }
    deinit { pthread_mutex_destroy(&mutex); pthread_cond_destroy(&condition) }

    /// Hands the answer to the waiter (once).
    public func set(_ answer: Value) {
        pthread_mutex_lock(&mutex)
        value = answer
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// The answer, or nil if none came within `timeoutMillis`.
    public func wait(timeoutMillis: Int64) -> Value? {
        let deadline = WallClock.nowMillis() + timeoutMillis
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while value == nil {
            let left = deadline - WallClock.nowMillis()
            if left <= 0 { break }
            var until = WallClock.deadline(atMillis: deadline)
            pthread_cond_timedwait(&condition, &mutex, &until)
        }
        return value
    }
}
