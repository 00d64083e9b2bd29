// The admin listener's connection handler: parses requests in place with the same HTTP parser as the
// public listener, answers them from the route table (AdminRoutes.swift), and writes the answers.
// It runs on the admin loop only, which serves operators, not clicks, so it may allocate.
import TrackstarCore
import TrackstarHTTP
import TrackstarIO

/// Serves the admin routes. Touched only on the admin loop's thread (`attach` arrives through its mailbox).
final class AdminHandler: ConnectionHandler, @unchecked Sendable {
    let readiness: Readiness
    let routes: [AdminRoute]
    /// Set once the server has started (nil while recovering): the engine and its metrics page.
    private(set) var engine: Engine?
    private(set) var metricsPage: MetricsPage?
    /// The management API's state (ApiRoutes.swift), set with the engine.
    private(set) var api: ApiContext?
    /// Runs operator status changes on the request loops (ConversionOperator.swift), set with the engine.
    private(set) var operatorUpdates: OperatorUpdates?
    let limits = HTTPLimits(maxRequestLineBytes: 8192, maxHeaderBytes: 16_384, maxHeaderCount: 64, maxBodyBytes: 65_536)
    /// Room for the largest answer: a page of catalog objects, a report, the console or the OpenAPI document.
    let maxResponseBytes = RequestHandler.metricsCapacity + 256 * 1024
    var date = DateHeader()

    init(readiness: Readiness, routes: [AdminRoute] = AdminRoutes.all) {
        self.readiness = readiness
        self.routes = routes
    }

    /// On the admin loop: the server has started; /metrics and the storage check can use the engine.
    func attach(_ engine: Engine, operatorUpdates: OperatorUpdates, api: ApiContext? = nil) {
        self.engine = engine
        metricsPage = MetricsPage(engine: engine)
        self.operatorUpdates = operatorUpdates
        self.api = api
    }

    /// Nil when the node is ready for traffic, else why not.
    func readinessReason(_ request: AdminRequest) -> String? {
        readiness.notReadyReason(lastStorageFailureMillis: engine?.lastStorageFailureMillis.load(ordering: .relaxed),
                                 nowMillis: request.nowMillis, writesStopped: engine?.writesStopped ?? false)
    }

    func process(_ input: UnsafeRawBufferPointer, output: inout ByteWriter, context: ConnectionContext) -> ProcessOutcome {
        var offset = 0
        while offset < input.count {
            if output.capacity - output.count < maxResponseBytes {
                return ProcessOutcome(consumed: offset, close: false, outputFull: true)
            }
            let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
            var continueWanted = false
            switch HTTPParser.parse(rest, limits: limits, continueWanted: &continueWanted) {
            case .incomplete:
                if continueWanted { output.append("HTTP/1.1 100 Continue\r\n\r\n") }  // see HTTPParser.parse
                return ProcessOutcome(consumed: offset, close: false, outputFull: false)
            case .failure(let error):
                write(.text(error.status, "\(error.reason)\n"), headOnly: false, keepAlive: false, nowMillis: context.nowMillis, to: &output)
                return ProcessOutcome(consumed: input.count, close: true, outputFull: false, refused: true)
            case .complete(let head) where head.lacksRequiredHost:
                write(.text(400, "missing Host header (HTTP/1.1 requires one)\n"), headOnly: false, keepAlive: false,
                      nowMillis: context.nowMillis, to: &output)
                return ProcessOutcome(consumed: input.count, close: true, outputFull: false, refused: true)
            case .complete(let head):
                var request = AdminRequest(
                    method: head.method, path: text(head.path, in: rest), query: text(head.query, in: rest),
                    body: Array(head.body.bytes(in: rest)), nowMillis: context.nowMillis)
                AdminHeaders.read(rest, into: &request)
                request.peer = context.peer
                write(respond(request), headOnly: head.method == .head, keepAlive: head.keepAlive,
                      nowMillis: context.nowMillis, to: &output)
                offset += head.totalLength
                if !head.keepAlive { return ProcessOutcome(consumed: offset, close: true, outputFull: false) }
            }
        }
        return ProcessOutcome(consumed: offset, close: false, outputFull: false)
    }

    /// Finds the route: 404 for an unknown path, 405 with `Allow` for a known path's other methods.
    func respond(_ request: AdminRequest) -> AdminResponse {
        if request.path == Api.prefix || request.path.hasPrefix(Api.prefix + "/") { return Api.respond(request, self) }
        if request.path == "/" || request.path == "/console" { return ConsolePage.respond(request) }
        let matching = routes.filter { $0.matches(request.path) }
        guard !matching.isEmpty else {
            return .text(404, "no such endpoint; try " + routes.map(\.path).joined(separator: ", ") + "\n")
        }
        let method = request.method == .head ? .get : request.method
        guard let route = matching.first(where: { $0.method == method }) else {
            var response = AdminResponse.text(405, "method not allowed\n")
            response.headers = [("Allow", matching.map { AdminHandler.name($0.method) }.joined(separator: ", "))]
            return response
        }
        return route.answer(request, self)
    }

    /// Writes the status line, headers and (unless HEAD) the body; a response that does not fit the
    /// output is replaced by a short 503.
    func write(_ response: AdminResponse, headOnly: Bool, keepAlive: Bool, nowMillis: Int64, to out: inout ByteWriter) {
        let start = out.count
        out.appendText("HTTP/1.1 \(response.status) \(AdminResponse.phrase(response.status))\r\n")
        date.append(nowMillis: nowMillis, to: &out)
        out.appendText("Content-Type: \(response.contentType)\r\nContent-Length: \(response.body.count)\r\nCache-Control: no-store\r\n")
        for header in response.headers { out.appendText("\(header.name): \(header.value)\r\n") }
        if !keepAlive { out.append("Connection: close\r\n") }
        out.append("\r\n")
        if !headOnly { response.body.withUnsafeBytes { out.append($0) } }
        if out.overflowed && response.status != 503 {
            out.truncate(to: start)
            write(.text(503, "the answer did not fit this connection's output; retry\n"), headOnly: headOnly,
                  keepAlive: keepAlive, nowMillis: nowMillis, to: &out)
        }
    }

    func text(_ range: ByteRange, in buffer: UnsafeRawBufferPointer) -> String {
        String(decoding: range.bytes(in: buffer), as: UTF8.self)
    }

    static func name(_ method: HTTPMethod) -> String {
        switch method {
        case .get: "GET, HEAD"
        case .head: "HEAD"
        case .post: "POST"
        case .other: "OTHER"
        }
    }

    func timeoutResponse(output: inout ByteWriter) {
        write(.text(408, "request not received in time\n"), headOnly: false, keepAlive: false, nowMillis: WallClock.nowMillis(), to: &output)
    }

    func overloadResponse(output: inout ByteWriter) {
        write(.text(503, "too many admin connections; retry shortly\n"), headOnly: false, keepAlive: false,
              nowMillis: WallClock.nowMillis(), to: &output)
    }

    /// Every answer is held until the loop's check phase (the same iteration when nothing waits), so
    /// that an API write's answer goes only once every request loop has taken the change: a client
    /// that clicks right after the 200 meets the new catalog on any loop. The admin loop never blocks.
    var holdsResponses: Bool { true }

    /// False while a catalog change posted to the request loops is not yet on all of them (at most
    /// `ApplyTimes.patienceMicros`); the last loop to take it wakes this loop to ask again.
    var heldAnswersMayGo: Bool {
        api?.applyTimes.everyLoopHasTheLatest(nowMicros: MonotonicClock.micros()) ?? true
    }

    func collectDirtyFiles(into files: inout FileList) {}
}

/// The /metrics text of an engine, rendered into a scratch buffer of its own (for the admin loop).
final class MetricsPage: MetricsWriter {
    let engine: Engine
    private let scratch: UnsafeMutableRawPointer

    init(engine: Engine) {
        self.engine = engine
        scratch = .allocate(byteCount: RequestHandler.metricsCapacity, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// The page's bytes, or nil when it outgrew the scratch buffer.
    func render() -> [UInt8]? {
        var writer = ByteWriter(base: scratch, capacity: RequestHandler.metricsCapacity)
        writeMetrics(to: &writer)
        return writer.overflowed ? nil : Array(writer.written)
    }
}

/// Whatever writes the /metrics page (Metrics.swift): the public handler without `[admin]`, and the admin one.
protocol MetricsWriter: AnyObject {
    var engine: Engine { get }
}

extension RequestHandler: MetricsWriter {}
