// TrackstarIO without the server: a ServerGroup of real loops on an ephemeral loopback port, driven by
// a line-echo handler, on every receive path this kernel offers. Covered: answers in order, the
// mailbox, the sweep timer (idle and header timeouts) and the after-iteration group commit.
import Foundation
import Testing
import TrackstarCore
import TrackstarIO
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("loops over loopback")
struct LoopServerTests {
    /// Lines split across sends and pipelined in one send are answered whole and in order.
    @Test(arguments: testedBackends)
    func answersSplitAndPipelinedLinesInOrder(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        defer { group.stop() }
        #expect(group.backend == backend)
        let client = try LoopbackClient(port: group.port)
        client.send("he")
        client.send("llo\none\ntw")
        client.send("o\nthree\n")
        let answer = client.read { $0.hasSuffix("echo three\n") }
        #expect(answer.text == "echo hello\necho one\necho two\necho three\n")
        client.send("bye\n")
        let last = client.readUntilClosed()
        #expect(last.text == "echo bye\n")
        #expect(last.closed, "the handler asked to close, the client never saw the end of the stream")
    }

    /// Work posted from another thread runs on the loop's own thread (the one that runs the handler),
    /// every item once, in the order it was posted.
    @Test(arguments: testedBackends)
    func theMailboxRunsPostedWorkOnTheLoopInOrder(_ backend: ServerIO) throws {
        let handler = LineEchoHandler()
        let group = try startGroup([handler], backend: backend)
        defer { group.stop() }
        let client = try LoopbackClient(port: group.port)
        client.send("x\n")
        #expect(client.read { $0 == "echo x\n" }.text == "echo x\n")
        let loopThread = try #require(handler.processThreads.first)

        let recorder = PostRecorder()
        let items = 2000
        let poster = Thread {
            for i in 0..<items { group.onEveryLoop { loop in recorder.record(item: i, loop: loop) } }
        }
        poster.start()
        #expect(eventually(within: 20) { recorder.count == items }, "\(recorder.count) of \(items) posted items ran")
        #expect(recorder.items == Array(0..<items), "posted work ran out of order")
        #expect(recorder.loops == Set([0]))
        #expect(recorder.threads.allSatisfy { pthread_equal($0, loopThread) != 0 }, "posted work ran off the loop thread")
    }

    /// With several loops, `onEveryLoop` reaches each one, passing its own index.
    @Test func onEveryLoopReachesEachLoop() throws {
        let group = try startGroup([LineEchoHandler(), LineEchoHandler(), LineEchoHandler()], backend: .epoll)
        defer { group.stop() }
        #expect(group.loopCount == 3)
        let recorder = PostRecorder()
        group.onEveryLoop { loop in recorder.record(item: loop, loop: loop) }
        #expect(eventually(within: 20) { recorder.count == 3 })
        #expect(recorder.loops == Set([0, 1, 2]))
        #expect(Set(recorder.threads.map { UInt($0) }).count == 3, "two loops ran on one thread")
    }

    /// The sweep timer closes a connection idle for longer than idle_timeout (and not before it was
    /// answered).
    @Test(arguments: testedBackends)
    func theSweepClosesAnIdleConnection(_ backend: ServerIO) throws {
        var limits = ConnectionLimits()
        limits.idleTimeoutMillis = 1000
        let group = try startGroup([LineEchoHandler()], backend: backend, limits: limits)
        defer { group.stop() }
        let client = try LoopbackClient(port: group.port)
        client.send("ping\n")
        let answer = client.readUntilClosed()
        #expect(answer.text == "echo ping\n")
        #expect(answer.closed, "an idle connection stayed open past idle_timeout")
        #expect(eventually(within: 10) { group.connectionCount.load(ordering: .relaxed) == 0 })
    }

    /// A request that stalls half-way, and a connection that never sends, both get the handler's
    /// timeout answer once header_timeout passes, and are closed.
    @Test(arguments: testedBackends)
    func theSweepAnswersAStalledRequestWithTheTimeoutResponse(_ backend: ServerIO) throws {
        var limits = ConnectionLimits()
        limits.headerTimeoutMillis = 1000
        let group = try startGroup([LineEchoHandler()], backend: backend, limits: limits)
        defer { group.stop() }
        let stalled = try LoopbackClient(port: group.port)
        let silent = try LoopbackClient(port: group.port)
        stalled.send("done\nhalf a li")
        let answer = stalled.readUntilClosed()
        #expect(answer.text == "echo done\n408 timeout\n")
        #expect(answer.closed)
        let quiet = silent.readUntilClosed()
        #expect(quiet.text == "408 timeout\n")
        #expect(quiet.closed)
    }

    /// Group commit: with `holdsResponses`, an answer is not sent until the after-iteration barrier
    /// has synced the handler's dirty files and `durabilityBarrierFinished` returned true. The handler
    /// holds the loop inside the barrier's completion; nothing may have reached the client by then.
    @Test(arguments: testedBackends)
    func heldAnswersWaitForTheBarrierSync(_ backend: ServerIO) throws {
        let file = try TemporaryFile()
        let gate = DispatchSemaphore(value: 0)
        let handler = LineEchoHandler(holdsResponses: true, dirtyFile: file.fd, barrierGate: gate)
        let group = try startGroup([handler], backend: backend)
        var opened = false
        defer { if !opened { gate.signal() }; group.stop() }
        let client = try LoopbackClient(port: group.port)
        client.send("one\ntwo\n")
        #expect(eventually(within: 20) { handler.barriersEntered == 1 }, "no durability barrier ran")
        #expect(client.bytesWaiting() == 0, "an answer was sent before its barrier finished")
        gate.signal()
        opened = true
        let answer = client.read { $0.hasSuffix("echo two\n") }
        #expect(answer.text == "echo one\necho two\n")
        #expect(handler.barrierErrors == [0])
        // The next request is held by a barrier of its own.
        gate.signal()
        client.send("three\n")
        #expect(client.read { $0.hasSuffix("echo three\n") }.text == "echo three\n")
        #expect(handler.barrierErrors == [0, 0])
    }

    /// A barrier whose sync fails (FileSync's injected EIO) sends none of the held answers: each held
    /// request is answered with the handler's sync-failure response and the connection is closed.
    @Test(arguments: testedBackends)
    func aFailedBarrierSyncAnswersEveryHeldRequestWithTheFailure(_ backend: ServerIO) throws {
        let file = try TemporaryFile()
        let failFlag = try TemporaryFile()  // exists: every sync fails
        let handler = LineEchoHandler(holdsResponses: true, dirtyFile: file.fd)
        let group = try startGroup([handler], backend: backend, fileSync: FileSync(failWhileExists: failFlag.path))
        defer { group.stop() }
        let client = try LoopbackClient(port: group.port)
        client.send("one\ntwo\n")
        let answer = client.readUntilClosed()
        #expect(answer.text == "503 not durable\n503 not durable\n")
        #expect(answer.closed)
        #expect(handler.barrierErrors == [EIO])
    }

    /// A handler that reports no dirty file needs no sync: held answers go at the end of the iteration.
    @Test(arguments: testedBackends)
    func heldAnswersWithNothingToSyncGoAtOnce(_ backend: ServerIO) throws {
        let handler = LineEchoHandler(holdsResponses: true)
        let group = try startGroup([handler], backend: backend)
        defer { group.stop() }
        let client = try LoopbackClient(port: group.port)
        client.send("a\n")
        #expect(client.read { $0 == "echo a\n" }.text == "echo a\n")
        #expect(handler.barriersEntered == 0)
    }

    /// Each fresh connection's batches carry that connection's own peer address, as accepted (on
    /// io_uring the ring's accept writes it; on epoll it is asked for once a connection): clients
    /// from two loopback addresses take turns, each connection used for one line and closed, so
    /// pooled connections are reused with the other address.
    @Test(arguments: testedBackends)
    func eachFreshConnectionCarriesItsPeerAddress(_ backend: ServerIO) throws {
        let handler = LineEchoHandler()
        let group = try startGroup([handler], backend: backend)
        defer { group.stop() }
        let sources = ["127.0.0.2", "127.0.0.3"]
        var expected: [PeerAddress] = []
        for i in 0..<40 {
            let source = sources[i % 2]
            let client = try LoopbackClient(port: group.port, source: source)
            client.send("bye\n")
            let answer = client.readUntilClosed()
            #expect(answer.text == "echo bye\n" && answer.closed,
                    "connection \(i) from \(source):\(client.localPort): \(answer), receive error \(String(cString: strerror(client.lastError)))")
            expected.append(PeerAddress(high: 0, low: 0xffff_0000_0000 | UInt64(UInt32(bigEndian: inet_addr(source)))))
        }
        #expect(handler.peers == expected)
        #expect(eventually(within: 10) { group.connectionCount.load(ordering: .relaxed) == 0 })
    }

    /// TCP_NODELAY is set once, on the listener, and every accepted socket has it (Linux copies it
    /// from the listener at accept), on either receive path: answers are not held back by Nagle.
    @Test(arguments: testedBackends)
    func acceptedSocketsCarryTCPNoDelay(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        defer { group.stop() }
        for _ in 0..<3 {
            let client = try LoopbackClient(port: group.port)
            client.send("x\n")
            #expect(client.read { $0 == "echo x\n" }.text == "echo x\n")
            let fd = try #require(serverSocket(local: group.port, remote: client.localPort), "no server-side socket found")
            var flag: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &flag, &length) == 0)
            #expect(flag != 0, "the accepted socket lacks TCP_NODELAY")
        }
    }

    /// Once the group stopped, the port refuses connections: the listener is closed on either path
    /// (on io_uring the ring's pending accepts, which hold it, are cancelled).
    @Test(arguments: testedBackends)
    func aStoppedGroupNoLongerListens(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        let client = try LoopbackClient(port: group.port)
        client.send("bye\n")
        #expect(client.readUntilClosed().text == "echo bye\n")
        group.stop()
        #expect(throws: ClientError.self) { _ = try LoopbackClient(port: group.port) }
    }

    /// Where the kernel cannot run io_uring, the reason is recorded here (and io_uring is asked for
    /// in vain: the group refuses to start rather than fall back silently).
    @Test(.enabled(if: ServerIO.ioURingUnavailableReason != nil, "io_uring is available: its cases run above"))
    func ioURingUnavailableIsRefusedWithItsReason() throws {
        let reason = ServerIO.ioURingUnavailableReason ?? ""
        print("TrackstarIOTests: io_uring cases skipped: \(reason)")
        #expect(throws: IOError.self) { _ = try ServerGroup(host: "127.0.0.1", port: 0, handlers: [LineEchoHandler()],
                                                            limits: ConnectionLimits(), backend: .ioURing) }
    }
}

/// What posted work recorded, in the order it ran.
final class PostRecorder: @unchecked Sendable {  // guarded by `lock`
    let lock = NSLock()
    private var _items: [Int] = []
    private var _loops: Set<Int> = []
    private var _threads: [pthread_t] = []

    func record(item: Int, loop: Int) {
        let thread = pthread_self()
        lock.withLock { _items.append(item); _loops.insert(loop); _threads.append(thread) }
    }
    var count: Int { lock.withLock { _items.count } }
    var items: [Int] { lock.withLock { _items } }
    var loops: Set<Int> { lock.withLock { _loops } }
    var threads: [pthread_t] { lock.withLock { _threads } }
}

/// A file under /tmp, open for writing, removed at the end of the test.
final class TemporaryFile {
    let path: String
    let fd: Int32
    init() throws {
        var template = Array("/tmp/trackstar-io-test-XXXXXX".utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw ClientError(call: "mkstemp", code: errno) }
        path = String(cString: template)
        _ = "record\n".withCString { write(fd, $0, 7) }
    }
    deinit { Glibc.close(fd); unlink(path) }
}
