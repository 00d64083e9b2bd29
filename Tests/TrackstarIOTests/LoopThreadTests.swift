// TrackstarIO's background loop without a user of it: the mailbox (posted work runs on the loop's
// thread, in order), repeating timers, the after-iteration hook with work on libuv's thread pool (the
// group-commit shape the dispatcher uses), and stop.
import Foundation
import Testing
import TrackstarIO
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("background loop thread")
struct LoopThreadTests {
    /// Work posted from other threads runs on the loop thread, each item once and, per poster, in the
    /// order posted; nothing is taken before start or after stop.
    @Test func theMailboxRunsPostedWorkOnTheLoopThreadInOrder() throws {
        let loop = try LoopThread(name: "test-mailbox")
        #expect(!loop.post {}, "work was taken before start")
        let events = EventLog()
        try loop.start()
        var loopThread = pthread_t()
        let found = DispatchSemaphore(value: 0)
        #expect(loop.post { loopThread = pthread_self(); found.signal() })
        found.wait()
        let items = 1000
        runTogether(threads: 2) { poster in
            for i in 0..<items { loop.post { events.append("\(poster):\(i)", thread: pthread_self()) } }
        }
        #expect(eventually(within: 20) { events.count == 2 * items }, "\(events.count) of \(2 * items) posted items ran")
        let entries = events.entries
        for poster in 0..<2 {
            let order = entries.filter { $0.hasPrefix("\(poster):") }
            #expect(order == (0..<items).map { "\(poster):\($0)" }, "poster \(poster)'s work ran out of order")
        }
        #expect(events.threads.allSatisfy { pthread_equal($0, loopThread) != 0 }, "posted work ran off the loop thread")
        var finishedOnLoop = false
        loop.stop { finishedOnLoop = pthread_equal(pthread_self(), loopThread) != 0 }
        #expect(finishedOnLoop, "stop's finish did not run on the loop thread")
        #expect(!loop.post {}, "work was taken after stop")
    }

    /// A repeating timer fires at once and then again and again, always on the loop thread.
    @Test func aRepeatingTimerFiresUntilStop() throws {
        let loop = try LoopThread(name: "test-timer")
        let ticks = EventLog()
        try loop.repeating(every: 20) { ticks.append("tick", thread: pthread_self()) }
        try loop.start()
        #expect(eventually(within: 20) { ticks.count >= 5 }, "the timer fired \(ticks.count) times")
        loop.stop()
        #expect(Set(ticks.threads.map { UInt($0) }).count == 1, "timer bodies ran on more than one thread")
        #expect(!loop.post {}, "a stopped loop took work")
    }

    /// The group-commit shape: work appends, the after-iteration hook collects what the iteration
    /// appended and syncs it on the thread pool, and the completion comes back to the loop thread.
    /// The hook sees each iteration's work after it ran, and the pool work runs off the loop thread.
    @Test func theAfterIterationHookRunsAfterTheIterationsWorkAndQueuesPoolWork() throws {
        let loop = try LoopThread(name: "test-commit")
        let log = EventLog()
        let state = CommitState()
        var loopThread = pthread_t()
        loop.afterEachIteration {
            guard !state.pending.isEmpty, !state.syncing else { return }
            let batch = state.pending
            state.pending.removeAll()
            state.syncing = true
            log.append("hook \(batch)", thread: pthread_self())
            do {
                try loop.queueWork({ log.append("sync \(batch)", thread: pthread_self()) }) {
                    state.syncing = false
                    log.append("done \(batch)", thread: pthread_self())
                }
            } catch {
                log.append("queueWork failed: \(error)", thread: pthread_self())
            }
        }
        try loop.start()
        let ready = DispatchSemaphore(value: 0)
        loop.post { loopThread = pthread_self(); state.pending.append(1); state.pending.append(2); ready.signal() }
        ready.wait()
        #expect(eventually(within: 20) { log.entries.contains("done [1, 2]") }, "\(log.entries)")
        loop.post { state.pending.append(3) }
        #expect(eventually(within: 20) { log.entries.contains("done [3]") }, "\(log.entries)")
        loop.stop()
        #expect(log.entries == ["hook [1, 2]", "sync [1, 2]", "done [1, 2]", "hook [3]", "sync [3]", "done [3]"])
        let threads = log.threads
        #expect(pthread_equal(threads[0], loopThread) != 0 && pthread_equal(threads[2], loopThread) != 0,
                "the hook and the completion must run on the loop thread")
        #expect(pthread_equal(threads[1], loopThread) == 0, "the sync ran on the loop thread, not the pool")
    }
}

/// What the loop recorded, with the thread each entry was made on.
final class EventLog: @unchecked Sendable {  // guarded by `lock`
    let lock = NSLock()
    private var _entries: [String] = []
    private var _threads: [pthread_t] = []
    func append(_ entry: String, thread: pthread_t) { lock.withLock { _entries.append(entry); _threads.append(thread) } }
    var count: Int { lock.withLock { _entries.count } }
    var entries: [String] { lock.withLock { _entries } }
    var threads: [pthread_t] { lock.withLock { _threads } }
}

/// Loop-thread state of the commit test (touched only on the loop thread).
final class CommitState: @unchecked Sendable {
    var pending: [Int] = []
    var syncing = false
}
