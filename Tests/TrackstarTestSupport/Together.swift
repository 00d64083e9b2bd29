// Contention tests start real threads and release them together: every thread is created and
// parked at a barrier before any of them runs its body, so the bodies overlap as much as the
// machine allows instead of running one after another as they happen to be started.
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body(i)` for i in 0..<count, each on a thread of its own, all released at once by a
/// barrier, and returns when every thread has finished.
public func runTogether(threads count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    precondition(count > 0)
    let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    pthread_barrier_init(barrier, nil, UInt32(count))
    defer { pthread_barrier_destroy(barrier); barrier.deallocate() }
    var threads: [pthread_t] = []
    for index in 0..<count {
        let start = ThreadStart(index: index, barrier: barrier, body: body)
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
            pthread_barrier_wait(start.barrier)  // the last thread to arrive releases them all
            start.body(start.index)
            return nil
        }, Unmanaged.passRetained(start).toOpaque())
        precondition(result == 0, "pthread_create failed: \(result)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// What one thread of `runTogether` needs; the barrier outlives every thread (joined before it goes).
final class ThreadStart: @unchecked Sendable {
    let index: Int
    let barrier: UnsafeMutablePointer<pthread_barrier_t>
    let body: @Sendable (Int) -> Void
    init(index: Int, barrier: UnsafeMutablePointer<pthread_barrier_t>, body: @escaping @Sendable (Int) -> Void) {
        self.index = index; self.barrier = barrier; self.body = body
    }
}
