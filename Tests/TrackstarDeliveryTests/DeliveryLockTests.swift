// The delivery log's writer lock: released when its writer goes, even while a child process (spawned
// by any thread of the same process) still holds a copy of the lock's file description.
import Foundation
import Testing
@testable import TrackstarDelivery
import TrackstarStore

@Suite("delivery log lock")
struct DeliveryLockTests {
    /// The flaky `aTornTailIsCutByTheWriterAndLeftAloneByAReader` failure ("deliveries is in use by
    /// another process") made deterministic: the child inherits the lock's description the way a
    /// process spawned by a concurrent test does until it execs.
    @Test func aReleasedLockIsFreeWhileAChildHoldsACopyOfIt() throws {
        let dir = NSTemporaryDirectory() + "trackstar-lock-\(UInt64.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        var child: pid_t = 0
        defer {  // the child's stdin ends: it exits
            close(pipe[1])
            var status: Int32 = 0
            if child > 0 { waitpid(child, &status, 0) }
        }
        do {
            let log = try DeliveryLog(dataDir: dir)
            let lockFD = try #require(log.lock?.fd)
            child = try Self.spawnHolding(lockFD, stdin: pipe[0], closing: pipe[1])
            #expect(throws: StoreError.self) { _ = try DeliveryLog(dataDir: dir) }
        }
        close(pipe[0])
        let writer = try DeliveryLog(dataDir: dir)  // the first writer is gone; the child still runs
        #expect(writer.append(DeliveryRecord(kind: .pause, conversionID: 0, timeMillis: 1), endpoint: "http://p:80", detail: ""))
        #expect(throws: StoreError.self) { _ = try DeliveryLog(dataDir: dir) }
    }

    /// Spawns `cat` reading `stdin` with `fd` duplicated as its descriptor 3 (dup2 clears
    /// close-on-exec, so the copy survives the exec); the pipe's write end stays the caller's alone.
    static func spawnHolding(_ fd: Int32, stdin: Int32, closing writeEnd: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_addclose(&actions, writeEnd)  // else the child never sees its input end
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 3)
        var pid: pid_t = 0
        let arguments = ["/bin/cat"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let code = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        try #require(code == 0)
        return pid
    }
}
