// A one-shot answer from the dispatcher's loop thread to a caller that waits for it with a timeout
// (the admin listener's resume and retry requests).
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot answer from the dispatcher thread to a waiting caller.
final class DispatcherAnswer<Value>: @unchecked Sendable {  // guarded by `mutex`
    var mutex = pthread_mutex_t()
    var condition = pthread_cond_t()
    var value: Value?

    init() { pthread_mutex_init(&mutex, nil); pthread_cond_init(&condition, nil) }
    deinit { pthread_mutex_destroy(&mutex); pthread_cond_destroy(&condition) }

    func set(_ answer: Value) {
        pthread_mutex_lock(&mutex)
        value = answer
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func wait(timeoutMillis: Int64) -> Value? {
        let deadline = Clock.nowMillis() + timeoutMillis
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while value == nil {
            let left = deadline - Clock.nowMillis()
            if left <= 0 { break }
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            var until = timespec(tv_sec: now.tv_sec + Int(left / 1000), tv_nsec: now.tv_nsec + Int(left % 1000) * 1_000_000)
            if until.tv_nsec >= 1_000_000_000 { until.tv_sec += 1; until.tv_nsec -= 1_000_000_000 }
            pthread_cond_timedwait(&condition, &mutex, &until)
        }
        return value
    }
}
