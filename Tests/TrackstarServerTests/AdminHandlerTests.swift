// In-process tests of the admin listener's pieces: the readiness reasons in order, and the handler's
// routing (404, 405 with Allow, HEAD, pipelining) with a route added the way later endpoints will be.
import Testing
@testable import TrackstarServer
import TrackstarCore
import TrackstarIO

@Suite struct AdminHandlerTests {
    @Test func readinessReasonsFollowTheLifeCycle() {
        let readiness = Readiness(loops: 2)
        let now: Int64 = 1_000_000
        #expect(readiness.notReadyReason(lastStorageFailureMillis: nil, nowMillis: now) == "recovering")
        readiness.enter(.starting)
        #expect(readiness.notReadyReason(lastStorageFailureMillis: 0, nowMillis: now) == "starting")
        readiness.enter(.serving)
        readiness.loopIsRunning()
        #expect(readiness.notReadyReason(lastStorageFailureMillis: 0, nowMillis: now) == "starting: 1 of 2 loops running")
        readiness.loopIsRunning()
        #expect(readiness.notReadyReason(lastStorageFailureMillis: 0, nowMillis: now) == nil)
        #expect(readiness.notReadyReason(lastStorageFailureMillis: now - 4_999, nowMillis: now)?.hasPrefix("storage_unavailable") == true)
        #expect(readiness.notReadyReason(lastStorageFailureMillis: now - 5_000, nowMillis: now) == nil)
        readiness.enter(.stopping)
        #expect(readiness.notReadyReason(lastStorageFailureMillis: 0, nowMillis: now) == "stopping")
    }

    /// A handler with one extra route, added the way `POST /deliveries/resume` was.
    func handler() -> AdminHandler {
        let resume = AdminRoute(.post, "/example/echo") { request, _ in
            .text(200, "resumed \(request.query) \(String(decoding: request.body, as: UTF8.self))\n")
        }
        return AdminHandler(readiness: Readiness(loops: 1), routes: AdminRoutes.all + [resume])
    }

    /// Runs `requests` through `process` as one read and returns the output text and the outcome.
    func run(_ handler: AdminHandler, _ requests: String) -> (String, ProcessOutcome) {
        let output = UnsafeMutableRawPointer.allocate(byteCount: 2 * handler.maxResponseBytes, alignment: 8)
        defer { output.deallocate() }
        var writer = ByteWriter(base: output, capacity: 2 * handler.maxResponseBytes)
        let bytes = Array(requests.utf8)
        let outcome = bytes.withUnsafeBytes {
            handler.process($0, output: &writer, context: ConnectionContext(peer: .unknown, loopIndex: 0, nowMillis: 1_000_000))
        }
        return (String(decoding: writer.written, as: UTF8.self), outcome)
    }

    @Test func routesAnswerAndUnknownPathsAndMethodsAreRefused() {
        let admin = handler()
        let (text, outcome) = run(admin, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /example/echo?partner=3 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nnow!"
            + "GET /example/echo HTTP/1.1\r\nHost: a\r\n\r\n"
            + "HEAD /readyz HTTP/1.1\r\nHost: a\r\n\r\n"
            + "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(outcome.close && !outcome.outputFull)
        let answers = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0) }
        #expect(answers.count == 5, "\(text)")
        guard answers.count == 5 else { return }
        #expect(answers[0].hasPrefix("200 OK\r\n") && answers[0].hasSuffix("\r\n\r\nok\n"))
        #expect(answers[1].hasPrefix("200 OK\r\n") && answers[1].hasSuffix("\r\n\r\nresumed partner=3 now!\n"), "\(answers[1])")
        #expect(answers[2].hasPrefix("405 Method Not Allowed\r\n") && answers[2].contains("\r\nAllow: POST\r\n"))
        // Not attached to an engine yet: recovering, and HEAD carries the length but no body.
        #expect(answers[3].hasPrefix("503 Service Unavailable\r\n") && answers[3].contains("Content-Length: 22\r\n")
                && answers[3].hasSuffix("\r\n\r\n"), "\(answers[3])")
        #expect(answers[4].hasPrefix("404 Not Found\r\n") && answers[4].contains("Connection: close\r\n"))
        #expect(answers[4].contains("/metrics, /healthz, /readyz, /deliveries, /deliveries/resume, /deliveries/retry, /conversions/{id}/status, /example/echo"), "\(answers[4])")
    }

    @Test func metricsBeforeTheServerStartedIsUnavailable() {
        let (text, _) = run(handler(), "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(text)")
        #expect(text.hasSuffix("not started yet: recovering\n"), "\(text)")
    }

    @Test func aMalformedRequestIsAnswered400AndClosesTheConnection() {
        let (text, outcome) = run(handler(), "GET /healthz HTTP/1.1\nHost: a\n\n")
        #expect(outcome.close)
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
    }
}
