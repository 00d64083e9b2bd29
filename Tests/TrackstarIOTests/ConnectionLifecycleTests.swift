// A connection's life with the per-connection cuts of issue 21 item 3, on every receive path: the
// listener defers accepts until a request arrives (TCP_DEFER_ACCEPT), yet a client that connects and
// waits is still served; on io_uring the first receive is one-shot and the socket is closed by a
// request in the ring, so every close must still release the server's socket, also at shutdown.
import Foundation
import Testing
import TrackstarCore
import TrackstarIO
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("connection lifecycle over loopback")
struct ConnectionLifecycleTests {
    /// The listener carries TCP_DEFER_ACCEPT (read back from the server's listening socket, as the
    /// TCP_NODELAY test reads its accepted sockets): the kernel queues a connection for accept only
    /// once its first data arrives.
    @Test(arguments: testedBackends)
    func theListenerDefersAcceptsUntilARequestArrives(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        defer { group.stop() }
        let fd = try #require(listeningSocket(port: group.port), "no listening socket found on the group's port")
        var seconds: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(fd, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, &seconds, &length) == 0)
        #expect(seconds > 0, "the listener does not defer accepts")
    }

    /// A client that connects and only sends its request well after the deferral (1 s) has run out
    /// is accepted without data and still answered, its request arriving in pieces; the connection
    /// then stays usable for more requests (the one-shot first receive hands over to a multishot one
    /// on io_uring). The wait before sending is the slow client under test, not synchronisation.
    @Test(arguments: testedBackends)
    func aRequestSentLongAfterConnectingIsAnswered(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        defer { group.stop() }
        let client = try LoopbackClient(port: group.port)
        Thread.sleep(forTimeInterval: 2.5)
        #expect(client.bytesWaiting() == 0)
        client.send("hel")
        client.send("lo\n")
        #expect(client.read { $0.hasSuffix("echo hello\n") }.text == "echo hello\n")
        for i in 0..<20 {
            client.send("again \(i)\n")
            #expect(client.read { $0.hasSuffix("\n") }.text == "echo again \(i)\n")
        }
        client.send("bye\n")
        let last = client.readUntilClosed()
        #expect(last.text == "echo bye\n" && last.closed, "\(last)")
    }

    /// A connection that connects and never sends is accepted once the deferral runs out and then
    /// closed by the header timeout with the handler's timeout answer, as without the deferral.
    @Test(arguments: testedBackends)
    func aConnectionThatSendsNothingIsTimedOut(_ backend: ServerIO) throws {
        var limits = ConnectionLimits()
        limits.headerTimeoutMillis = 1000
        let group = try startGroup([LineEchoHandler()], backend: backend, limits: limits)
        defer { group.stop() }
        let silent = try LoopbackClient(port: group.port)
        let quiet = silent.readUntilClosed(seconds: 20)
        #expect(quiet.text == "408 timeout\n")
        #expect(quiet.closed, "a silent connection was never closed")
        #expect(serverSocket(local: group.port, remote: silent.localPort) == nil, "the server still holds the socket")
        #expect(eventually(within: 10) { group.connectionCount.load(ordering: .relaxed) == 0 })
    }

    /// One connection per request, many times over (the shape of real clicks): each is answered, the
    /// server closes it first, and its socket is gone from the server by the time the client sees the
    /// end of the stream, whether the answer left the receive armed or not (a request split in two
    /// sends leaves a multishot receive to cancel on io_uring; a whole one leaves nothing).
    @Test(arguments: testedBackends)
    func eachClosedConnectionReleasesItsSocket(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        defer { group.stop() }
        for i in 0..<60 {
            let client = try LoopbackClient(port: group.port)
            var expected = "echo one \(i)\necho bye\n"
            if i % 3 == 2 {
                client.send("one \(i)\nb")
                #expect(client.read { $0.hasSuffix("\n") }.text == "echo one \(i)\n")
                client.send("ye\n")
                expected = "echo bye\n"
            } else {
                client.send("one \(i)\nbye\n")
            }
            let answer = client.readUntilClosed()
            #expect(answer.text == expected && answer.closed, "connection \(i): \(answer)")
            #expect(serverSocket(local: group.port, remote: client.localPort) == nil, "connection \(i) still open on the server")
        }
        #expect(eventually(within: 10) { group.connectionCount.load(ordering: .relaxed) == 0 })
    }

    /// The last answers before a close are sent with MSG_MORE so the FIN joins them; every byte of
    /// them still arrives, also when they are many (pipelined lines ending in `bye`, sent from another
    /// thread while this one reads, so the server's output can outgrow the socket's buffer and finish
    /// through a pending write).
    @Test(arguments: testedBackends)
    func manyAnswersBeforeACloseAllArrive(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        defer { group.stop() }
        let client = try LoopbackClient(port: group.port)
        let lines = (0..<4000).map { "line \($0) " + String(repeating: "x", count: 60) }
        let text = lines.map { $0 + "\n" }.joined() + "bye\n"
        let fd = client.fd
        let bytes = Array(text.utf8)
        let sender = Thread {
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                sent += n
            }
        }
        sender.start()
        let answer = client.readUntilClosed(seconds: 30)
        #expect(answer.closed, "the connection was not closed after bye")
        let expected = lines.map { "echo " + $0 + "\n" }.joined() + "echo bye\n"
        #expect(answer.text.count == expected.count && answer.text == expected,
                "\(answer.text.count) of \(expected.count) bytes, ending \(answer.text.suffix(40))")
    }

    /// An answer that closes while more of the client's input is still in the socket is sent at
    /// once, not held for the FIN: closing a socket with unread data resets the connection, and a
    /// held answer would be lost with it (as a 413 with the body still arriving would be).
    @Test(arguments: testedBackends)
    func aClosingAnswerWithInputLeftInTheSocketStillArrives(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        defer { group.stop() }
        for i in 0..<5 {
            let client = try LoopbackClient(port: group.port)
            client.send("bye\n" + String(repeating: "z", count: 200_000))
            let answer = client.readUntilClosed()
            #expect(answer.text == "echo bye\n" && answer.closed, "connection \(i): \(answer.text.prefix(40))")
        }
    }

    /// Stopping the group closes its idle connections, and those closes reach the kernel even though
    /// the loop ends right after queueing them (on io_uring they are requests in the ring).
    @Test(arguments: testedBackends)
    func stoppingClosesIdleConnections(_ backend: ServerIO) throws {
        let group = try startGroup([LineEchoHandler()], backend: backend)
        let clients = try (0..<3).map { _ in try LoopbackClient(port: group.port) }
        for (i, client) in clients.enumerated() {
            client.send("hi \(i)\n")
            #expect(client.read { $0.hasSuffix("\n") }.text == "echo hi \(i)\n")
        }
        group.stop()
        for (i, client) in clients.enumerated() {
            let rest = client.readUntilClosed(seconds: 10)
            #expect(rest.closed && rest.text.isEmpty, "connection \(i) after the stop: \(rest)")
            #expect(serverSocket(local: group.port, remote: client.localPort) == nil, "connection \(i) still open on the server")
        }
    }
}

/// This process's listening TCP socket bound to `port` (the loops' listener; the tests' server runs
/// in the test process).
func listeningSocket(port: UInt16) -> Int32? {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
    for name in names {
        guard let fd = Int32(name) else { continue }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & 0o170000 == 0o140000 else { continue }  // S_ISSOCK
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening != 0 else { continue }
        if socketPort(fd, peer: false) == port { return fd }
    }
    return nil
}
