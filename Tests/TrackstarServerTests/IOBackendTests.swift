// The two receive paths, io_uring and epoll, against the behaviour every other live test assumes of
// either: closes reach the client (an io_uring receive holds its socket open until cancelled),
// requests split anywhere and pipelined are answered in order, a paused connection loses nothing, and
// closed connections are forgotten. `make test` also reruns every live test with TRACKSTAR_TEST_IO=epoll.
import Foundation
import Testing
import TrackstarCore
import TrackstarIO
import TrackstarTestSupport

/// The backends this machine can run: epoll always, io_uring when the kernel allows it.
let availableBackends: [String] = ServerIO.ioURingUnavailableReason == nil ? ["io_uring", "epoll"] : ["epoll"]

@Suite("receive paths", .serialized)
struct IOBackendTests {
    static let idleConfig = LiveServer.defaultConfig.replacingOccurrences(of: "[server]\n", with: "[server]\nidle_timeout = \"1s\"\n")

    static let click = "/click?offer_id=1&aff_id=7"

    @Test(arguments: availableBackends)
    func theListeningLineNamesTheReceivePath(_ io: String) throws {
        let server = try LiveServer(extraArguments: ["--io", io])
        #expect(server.startupOutput.contains("loops (\(io))"), "\(server.startupOutput)")
        #expect(try server.connect().get(Self.click).status == 302)
    }

    /// `Connection: close` and the idle timeout both close from the server's side: the client must see
    /// the end of the stream, which on io_uring needs the pending receive cancelled before close(2).
    @Test(arguments: availableBackends)
    func closesFromTheServerReachTheClient(_ io: String) throws {
        let server = try LiveServer(extraArguments: ["--io", io])
        let asked = try server.connect()
        asked.setReceiveTimeout(seconds: 10)
        asked.send("GET \(Self.click) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let answer = asked.readUntilClosed(seconds: 10)
        #expect(String(decoding: answer.bytes.prefix(12), as: UTF8.self) == "HTTP/1.1 302")
        #expect(answer.closed, "no end of stream after Connection: close")

        let idle = try LiveServer(config: Self.idleConfig, extraArguments: ["--io", io])
        let quiet = try idle.connect()
        quiet.setReceiveTimeout(seconds: 10)
        #expect(try quiet.get(Self.click).status == 302)
        #expect(quiet.readUntilClosed(seconds: 10).closed, "an idle connection was not closed after idle_timeout")
    }

    /// 300 pipelined clicks sent in pieces of 1 to 97 bytes: every one answered, in order.
    @Test(arguments: availableBackends)
    func requestsSplitAnywhereArePipelinedInOrder(_ io: String) throws {
        let server = try LiveServer(extraArguments: ["--io", io])
        let client = try RawClient(port: server.port, receiveBuffer: nil)
        var stream: [UInt8] = []
        for i in 0..<300 { stream += Array("GET \(Self.click)&sub1=p\(i) HTTP/1.1\r\nHost: t\r\n\r\n".utf8) }
        var offset = 0, piece = 1
        while offset < stream.count {
            let end = min(stream.count, offset + piece)
            client.sendAll(Array(stream[offset..<end]))
            offset = end
            piece = piece % 97 + 7
        }
        let (bytes, closed) = client.readResponses(300, until: Date().addingTimeInterval(60))
        let (codes, _) = statusCodes(ofBodilessResponses: bytes)
        #expect(codes.count == 300 && codes.allSatisfy { $0 == 302 } && !closed, "\(codes.count) answered, closed: \(closed)")
        let text = String(decoding: bytes, as: UTF8.self)
        let order = (0..<300).map { text.range(of: "&s1=p\($0)&")?.lowerBound }
        #expect(order.allSatisfy { $0 != nil }, "an answer is missing its sub1")
        #expect(zip(order, order.dropFirst()).allSatisfy { $0! < $1! }, "answers out of order")
    }

    /// 1 MiB of pipelined clicks from a client that reads only once it has sent them all (16 KiB receive
    /// buffer): the server pauses the connection while its answers back up, keeps what already
    /// arrived, and answers every request, in order, once the client reads.
    @Test(arguments: availableBackends)
    func aPausedConnectionLosesNothing(_ io: String) throws {
        let server = try LiveServer(extraArguments: ["--io", io])
        var stream: [UInt8] = []
        var count = 0
        while stream.count < 1 << 20 {
            stream += Array("GET \(Self.click)&sub1=q\(count) HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
            count += 1
        }
        let client = try RawClient(port: server.port, receiveBuffer: 16 * 1024)
        let sent = client.sendAllInBackground(stream)
        let (bytes, closed) = client.readResponses(count, until: Date().addingTimeInterval(120))
        let (codes, _) = statusCodes(ofBodilessResponses: bytes)
        #expect(codes.count == count && codes.allSatisfy { $0 == 302 }, "\(codes.count) of \(count) answered, closed: \(closed)")
        let last = String(decoding: bytes.suffix(400), as: UTF8.self)
        #expect(last.contains("&s1=q\(count - 1)&"), "the last answer is not the last request's")
        #expect(sent.wait(timeout: .now() + 60) == .success)
    }

    /// Eight provided buffers per loop (`TRACKSTAR_IO_URING_BUFFERS`) and four clients each sending
    /// 64 KiB of pipelined clicks at once: receives run out of buffers (the server counts them) and are
    /// re-armed, and every request on every connection is answered, in order.
    @Test(.enabled(if: ServerIO.ioURingUnavailableReason == nil))
    func receivesThatRunOutOfBuffersAreReArmed() throws {
        let server = try LiveServer(loops: 1, extraArguments: ["--io", "io_uring"], environment: ["TRACKSTAR_IO_URING_BUFFERS": "8"])
        let clients = try (0..<4).map { _ in try RawClient(port: server.port, receiveBuffer: nil) }
        var streams: [[UInt8]] = [], counts: [Int] = []
        for c in 0..<4 {
            var stream: [UInt8] = [], count = 0
            while stream.count < 64 * 1024 {
                stream += Array("GET \(Self.click)&sub1=c\(c)n\(count) HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
                count += 1
            }
            streams.append(stream); counts.append(count)
        }
        let sent = (0..<4).map { clients[$0].sendAllInBackground(streams[$0]) }
        for c in 0..<4 {
            let (bytes, closed) = clients[c].readResponses(counts[c], until: Date().addingTimeInterval(60))
            let (codes, _) = statusCodes(ofBodilessResponses: bytes)
            #expect(codes.count == counts[c] && codes.allSatisfy { $0 == 302 }, "client \(c): \(codes.count) of \(counts[c]) answered, closed: \(closed)")
            #expect(String(decoding: bytes.suffix(400), as: UTF8.self).contains("&s1=c\(c)n\(counts[c] - 1)&"))
            #expect(sent[c].wait(timeout: .now() + 60) == .success)
        }
        let page = try server.admin().get("/metrics").body
        let line = page.split(separator: "\n").first { $0.hasPrefix("trackstar_io_uring_out_of_buffers_total ") }
        let count = line.flatMap { Int($0.split(separator: " ").last!) } ?? 0
        #expect(count > 0, "no receive ran out of its 8 buffers: \(line ?? "no metric")")
    }

    /// 40 clients connect, click and leave: the open-connection gauge returns to the one asking.
    @Test(arguments: availableBackends)
    func closedConnectionsAreForgotten(_ io: String) throws {
        let server = try LiveServer(extraArguments: ["--io", io])
        for _ in 0..<40 {
            let client = try server.connect()
            #expect(try client.get(Self.click).status == 302)
        }
        let observer = try server.admin()  // the gauge counts the public listener's connections
        let settled = eventually(within: 10) {
            guard let page = try? observer.get("/metrics").body else { return false }
            return page.split(separator: "\n").contains { $0 == "trackstar_connections 0" }
        }
        #expect(settled, "the connection gauge did not return to 0")
    }

    /// A click's client address is the address its connection came from, taken at accept (by the
    /// ring's accept on io_uring): with 127.0.0.2 listed as a bot network and an offer that refuses
    /// bots, fresh connections from 127.0.0.2 and 127.0.0.3 take turns (so pooled connections are
    /// reused by the other address) and only the former's clicks are refused.
    @Test(arguments: availableBackends)
    func aFreshConnectionsClickCarriesItsOwnAddress(_ io: String) throws {
        let config = LiveServer.defaultConfig.replacingOccurrences(of: "[server]\n", with: "[bots]\nnetworks = [\"127.0.0.2/32\"]\n\n[server]\n") + """

            [[offers]]
            id = 30
            url = "https://thirty.example/?cid={click_id}"
            bot_action = "refuse"
            """
        let server = try LiveServer(config: config, extraArguments: ["--io", io])
        let browser = "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
        for i in 0..<20 {
            let source = i % 2 == 0 ? "127.0.0.2" : "127.0.0.3"
            let client = try TestConnection(port: server.port, source: source)
            let status = try client.get("/click?offer_id=30&aff_id=7", headers: browser + "Connection: close\r\n").status
            #expect(status == (source == "127.0.0.2" ? 404 : 302), "click \(i) from \(source): \(status)")
        }
    }

    @Test func anUnknownReceivePathIsAConfigProblem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.toml").path
        try (LiveServer.defaultConfig.replacingOccurrences(of: "[server]\n", with: "[server]\nio = \"kqueue\"\n"))
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try LiveServer.run(["check-config", path])
        #expect(result.status != 0)
        #expect((result.stdout + result.stderr).contains("server.io: expected \"auto\", \"io_uring\" or \"epoll\", got \"kqueue\""))
    }
}
