// One loop's request handler: parses every complete request in a read, routes it, and writes the
// answers. Owns the loop's scratch memory, so nothing on the request path allocates.
import TrackstarCore
import TrackstarHTTP
import TrackstarIO
import TrackstarStore

/// Serves `/click`, `/postback` and `/healthz` for one loop (and so one shard).
/// Touched only on its loop's thread (reload reaches it through the loop's mailbox), hence unchecked.
final class RequestHandler: ConnectionHandler, @unchecked Sendable {
    let engine: Engine
    let shard: Int
    /// This loop's tables (`engine.clicks[shard]` and so on), held directly: reading a class
    /// reference out of an array retains and releases it on every request.
    let clickTable: RecordTable
    let conversionTable: RecordTable
    let refusalTable: RecordTable
    /// The mutable per-loop state, behind a pointer (see `HandlerState`).
    let state: UnsafeMutablePointer<HandlerState>
    /// Longest template the output buffers were sized for; a reload with a longer one needs a restart.
    let templateBudget: Int
    let limits: HTTPLimits
    let maxValueBytes: Int
    let nameScratch: UnsafeMutableRawBufferPointer
    /// Room for per-request bytes: a JSON body's escaped names and values while its unmapped members
    /// are kept as extras (`ExtrasWriter.addJSON`).
    let scratch: UnsafeMutableRawBufferPointer
    /// The current request's learned facts (`Exchange.facts`), reset for each request.
    let exchangeFacts: UnsafeMutablePointer<ExchangeFacts>
    /// The member names of a JSON postback body, to refuse a repeated one.
    let jsonNames = JSONNameSet()
    let maxResponseBytes: Int
    let metrics: LoopMetrics
    /// Where the /metrics body is built before its length is known.
    let metricsScratch: UnsafeMutableRawPointer
    static let metricsCapacity = 64 * 1024

    // The fields of `state`, by their old names. Accessing a `var` stored in a class costs a dynamic
    // exclusivity check (`swift_beginAccess`, ~40 instructions, several per request in callgrind);
    // through the `let` pointer there is none. Only this loop's thread touches them.

    /// This loop's catalog; replaced on this loop's thread when the configuration is reloaded.
    var catalog: Catalog {
        _read { yield state.pointee.catalog }
        set { state.pointee.install(newValue) }
    }
    var responses: ResponseWriter {
        _read { yield state.pointee.responses }
        _modify { yield &state.pointee.responses }
    }
    var params: Params {
        _read { yield state.pointee.params }
        _modify { yield &state.pointee.params }
    }
    var lastStorageLogMillis: Int64 {
        get { state.pointee.lastStorageLogMillis }
        set { state.pointee.lastStorageLogMillis = newValue }
    }

    init(engine: Engine, shard: Int) {
        let server = engine.config.server
        self.engine = engine
        self.shard = shard
        clickTable = engine.clicks[shard]
        conversionTable = engine.conversions[shard]
        refusalTable = engine.refusals[shard]
        self.limits = HTTPLimits(maxRequestLineBytes: server.maxRequestLineBytes, maxHeaderBytes: server.maxHeaderBytes,
                                 maxHeaderCount: server.maxHeaderCount, maxBodyBytes: server.maxBodyBytes)
        self.maxValueBytes = server.maxValueBytes
        self.metrics = engine.metrics[shard]
        self.metricsScratch = .allocate(byteCount: RequestHandler.metricsCapacity, alignment: 8)
        let bodyCapacity = 4096 + 8 * server.maxValueBytes
        let catalog = engine.catalog
        state = .allocate(capacity: 1)
        state.initialize(to: HandlerState(
            catalog: catalog,
            responses: ResponseWriter(bodyBase: .allocate(byteCount: bodyCapacity, alignment: 8), bodyCapacity: bodyCapacity),
            params: Params(storage: .allocate(byteCount: Params.storageBytes(slotSize: server.maxValueBytes), alignment: 8),
                           slotSize: server.maxValueBytes),
            enrich: LoopEnrichment(sources: engine.enrichment, cache: engine.enrichment.makeCache())))
        nameScratch = .allocate(byteCount: 64, alignment: 8)
        scratch = .allocate(byteCount: 4096, alignment: 8)
        exchangeFacts = .allocate(capacity: 1)
        exchangeFacts.initialize(to: ExchangeFacts())
        // A redirect holds the template plus every value percent-encoded (3 bytes per byte).
        templateBudget = max(catalog.longestTemplate, 4096)
        maxResponseBytes = 1024 + bodyCapacity + templateBudget + 3 * 10 * server.maxValueBytes
    }

    deinit {
        responses.bodyBase.deallocate()
        params.storage.deallocate()
        nameScratch.deallocate()
        scratch.deallocate()
        jsonNames.deallocate()
        exchangeFacts.deallocate()
        metricsScratch.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Answers requests until the input holds no complete one or the output is nearly full.
    func process(_ input: UnsafeRawBufferPointer, output: inout ByteWriter, context: ConnectionContext) -> ProcessOutcome {
        var offset = 0
        var answered = 0
        while offset < input.count {
            if output.capacity - output.count < maxResponseBytes {
                return ProcessOutcome(consumed: offset, close: false, outputFull: true, answered: answered)
            }
            let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
            var continueWanted = false
            switch HTTPParser.parse(rest, limits: limits, continueWanted: &continueWanted) {
            case .incomplete:
                // The head is in and the client waits before sending the body: invite it (once; see `parse`).
                if continueWanted { output.append("HTTP/1.1 100 Continue\r\n\r\n") }
                return ProcessOutcome(consumed: offset, close: false, outputFull: false, answered: answered)
            case .failure(let error):
                metrics.count(.badRequests)
                parseFailure(error, context: context, to: &output)
                return ProcessOutcome(consumed: input.count, close: true, outputFull: false, answered: answered + 1, refused: true)
            case .complete(let head):
                if head.lacksRequiredHost {
                    metrics.count(.badRequests)
                    parseFailure(.badRequest("missing Host header (HTTP/1.1 requires one)"), context: context, to: &output)
                    return ProcessOutcome(consumed: input.count, close: true, outputFull: false, answered: answered + 1, refused: true)
                }
                let started = MonotonicClock.micros()
                route(head, rest, context: context, to: &output)
                metrics.observe(micros: MonotonicClock.micros() - started)
                offset += head.totalLength
                answered += 1
                if !head.keepAlive { return ProcessOutcome(consumed: offset, close: true, outputFull: false, answered: answered) }
            }
        }
        return ProcessOutcome(consumed: offset, close: false, outputFull: false, answered: answered)
    }

    /// Dispatches on the path and method (methods are case-sensitive: `get` is not GET). Each path
    /// answers 405 with its own `Allow` for other methods. HEAD on /postback is 405: a postback
    /// records a conversion, and HEAD must have no side effects.
    func route(_ head: HTTPRequestHead, _ request: UnsafeRawBufferPointer, context: ConnectionContext, to out: inout ByteWriter) {
        let path = UnsafeRawBufferPointer(rebasing: request[Int(head.path.start)..<Int(head.path.end)])
        exchangeFacts.pointee = ExchangeFacts()  // a new request: nothing known yet
        let exchange = Exchange(head: head, request: request, context: context, facts: exchangeFacts)
        let readOnly = head.method == .get || head.method == .head
        if Route.click.matches(path) {
            guard readOnly else { return methodNotAllowed(exchange, allow: "GET, HEAD", "use GET or HEAD for /click", to: &out) }
            exchange.route = .click
            click(exchange, to: &out)
        } else if let slug = Route.smartLinkSlug(path) {
            guard readOnly else { return methodNotAllowed(exchange, allow: "GET, HEAD", "use GET or HEAD for /s/{slug}", to: &out) }
            exchange.route = .click
            smartLinkPath(exchange, slug: slug, to: &out)
        } else if Route.postback.matches(path) {
            guard head.method == .get || head.method == .post else {
                return methodNotAllowed(exchange, allow: "GET, POST",
                                        "use GET or POST for /postback (not HEAD: a postback records a conversion)", to: &out)
            }
            exchange.route = .postback
            postback(exchange, to: &out)
        } else if Route.metrics.matches(path) && engine.config.admin.publicMetrics {  // else on the admin listener only
            guard readOnly else { return methodNotAllowed(exchange, allow: "GET, HEAD", "use GET or HEAD for /metrics", to: &out) }
            serveMetrics(exchange, to: &out)
        } else if Route.healthz.matches(path) {
            guard readOnly else { return methodNotAllowed(exchange, allow: "GET, HEAD", "use GET or HEAD for /healthz", to: &out) }
            responses.json(.ok, keepAlive: head.keepAlive, headOnly: head.method == .head,
                           nowMillis: context.nowMillis, to: &out) { $0.append("{\"status\":\"ok\"}") }
        } else {
            refuse(exchange, .notFound, "not_found", "no such endpoint; try /click, /postback or /healthz", to: &out)
        }
    }

    /// GET /metrics: the Prometheus text format, built into its own scratch so its length is known.
    func serveMetrics(_ exchange: Exchange, to out: inout ByteWriter) {
        var body = ByteWriter(base: metricsScratch, capacity: RequestHandler.metricsCapacity)
        writeMetrics(to: &body)
        let start = out.count
        responses.head(.ok, keepAlive: exchange.head.keepAlive, nowMillis: exchange.context.nowMillis, to: &out)
        out.append("Content-Type: text/plain; version=0.0.4\r\nCache-Control: no-store\r\nContent-Length: ")
        out.appendDecimal(UInt64(body.count))
        out.append("\r\n\r\n")
        if exchange.head.method != .head { out.append(body.written) }
        if out.overflowed || body.overflowed {
            out.truncate(to: start)
            refuse(exchange, .unavailable, "busy", "metrics did not fit this connection's output; retry", to: &out)
        }
    }

    /// 405 with `Allow: allow` (the path's own methods).
    func methodNotAllowed(_ exchange: Exchange, allow: StaticString, _ message: StaticString, to out: inout ByteWriter) {
        responses.allow = allow
        refuse(exchange, .methodNotAllowed, "method_not_allowed", message, to: &out)
    }

    /// Writes a JSON refusal for the current request.
    func refuse(_ exchange: Exchange, _ status: HTTPStatus, _ reason: StaticString, _ message: StaticString,
                field: ParamField? = nil, offset: Int? = nil, to out: inout ByteWriter) {
        if exchange.route == .postback {
            let code = RefusalReason.named(reason)
            metrics.refused(code)
            logRefusal(exchange, status, code)
        } else if exchange.route == .click {
            metrics.count(.clicksRefused)
        }
        responses.refusal(status, reason: reason, message: message, detail: field?.name, offset: offset,
                          keepAlive: exchange.head.keepAlive, headOnly: exchange.head.method == .head,
                          nowMillis: exchange.context.nowMillis, to: &out)
    }

    /// A request that could not be parsed: answer with its status and close.
    func parseFailure(_ error: HTTPParseError, context: ConnectionContext, to out: inout ByteWriter) {
        let status = HTTPStatus(rawValue: error.status) ?? .badRequest
        responses.refusal(status, reason: "bad_request", message: error.reason, keepAlive: false, headOnly: false,
                          nowMillis: context.nowMillis, to: &out)
    }

    /// A record could not be written (disk full, I/O error): nothing was acknowledged. Answer 503 with
    /// Retry-After, and say so loudly in the log, at most once a second per loop. The next request
    /// tries again, so service resumes by itself when space returns.
    func storageFailure(_ exchange: Exchange, table: RecordTable, to out: inout ByteWriter) {
        if exchange.context.nowMillis - lastStorageLogMillis >= 1000 {
            lastStorageLogMillis = exchange.context.nowMillis
            engine.lastStorageFailureMillis.store(exchange.context.nowMillis, ordering: .relaxed)  // /readyz: a fact, no ordering
            Log.error("cannot append a record; answering 503 until writes succeed", [
                "shard": "\(shard)", "log": "\(table.name)", "reason": "\(table.lastError?.description ?? "table is at its segment limit")",
            ])
        }
        responses.retryAfter = true
        if engine.writesStopped {  // see SyncFailure.swift
            refuse(exchange, .unavailable, "storage_sync_failed",
                   "writes are stopped after a failed fsync; nothing was recorded; an operator must check the disk and restart", to: &out)
        } else {
            refuse(exchange, .unavailable, "storage_unavailable", "the record could not be stored; nothing was recorded, retry shortly", to: &out)
        }
        responses.retryAfter = false
    }

    /// Appends a refused postback (reason, status, raw parameters) to this loop's refusal log. Best
    /// effort: a refusal that cannot be stored is not worth refusing the answer for.
    func logRefusal(_ exchange: Exchange, _ status: HTTPStatus, _ reason: RefusalReason) {
        let table = refusalTable
        let query = exchange.bytes(exchange.head.query, limit: RefusalRecord.maxParamBytes)
        let body = exchange.head.method == .post
            ? exchange.bytes(exchange.head.body, limit: RefusalRecord.maxParamBytes - query.count) : UnsafeRawBufferPointer(start: nil, count: 0)
        let length = query.count + (body.isEmpty ? 0 : 1 + body.count)
        guard let (sequence, record) = table.reserveRecord() else { return }
        guard let (offset, bytes) = table.reserveBytes(length) else { return table.unreserveRecord() }
        if let q = query.baseAddress, !query.isEmpty { bytes.copyMemory(from: q, byteCount: query.count) }
        if let b = body.baseAddress, !body.isEmpty {
            bytes.storeBytes(of: UInt8(ascii: "&"), toByteOffset: query.count, as: UInt8.self)
            (bytes + query.count + 1).copyMemory(from: b, byteCount: body.count)
        }
        RefusalRecord.write(record, timeMillis: exchange.context.nowMillis, reason: reason, httpStatus: status.rawValue,
                            offerID: exchange.offerID, affID: exchange.affiliateID, varOffset: offset, varLength: length)
        RefusalRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: length))
        table.publish(count: sequence + 1)
    }

    var holdsResponses: Bool { engine.config.storage.fsync == .always }

    func collectDirtyFiles(into files: inout FileList) {
        clickTable.takeDirtyFiles(into: &files)
        conversionTable.takeDirtyFiles(into: &files)
        refusalTable.takeDirtyFiles(into: &files)
        // Whether this barrier covers records appended since the last one (see SyncFailure.swift).
        let appended = clickTable.reservedCount &+ conversionTable.reservedCount &+ refusalTable.reservedCount
        state.pointee.barrierCoversAppends = appended != state.pointee.appendsAtLastBarrier
        state.pointee.appendsAtLastBarrier = appended
    }

    func timeoutResponse(output: inout ByteWriter) {
        responses.refusal(.requestTimeout, reason: "timeout", message: "request not received in time",
                          keepAlive: false, headOnly: false, nowMillis: WallClock.nowMillis(), to: &output)
    }

    func overloadResponse(output: inout ByteWriter) {
        responses.refusal(.unavailable, reason: "overloaded", message: "too many connections; retry shortly",
                          keepAlive: false, headOnly: false, nowMillis: WallClock.nowMillis(), to: &output)
    }
}

/// A loop handler's mutable state, allocated once and reached through `RequestHandler.state`.
struct HandlerState {
    /// Replaced only through `install`, which also takes the postback tables below from it.
    private(set) var catalog: Catalog
    var responses: ResponseWriter
    var params: Params
    /// The enrichment sources and this loop's user-agent cache (EnrichClick.swift); swapped at SIGHUP.
    var enrich: LoopEnrichment
    var lastStorageLogMillis: Int64 = 0
    /// The catalog's postback name table and click-ID candidates as plain pointers (valid while
    /// `catalog` holds its `ProfileTable`): a postback reads them without a class reference, so
    /// without a retain and release each (callgrind: ~30 instructions apiece).
    private(set) var postbackNames: PostbackNames.Lookup
    private(set) var clickCandidates: UnsafePointer<Int>
    private(set) var clickCandidateCount: Int
    /// Records appended by this loop when the last durability barrier started, and whether the
    /// running one covers any appended since.
    var appendsAtLastBarrier: UInt64 = 0
    var barrierCoversAppends = false

    init(catalog: Catalog, responses: ResponseWriter, params: Params, enrich: LoopEnrichment) {
        self.catalog = catalog
        self.responses = responses
        self.params = params
        self.enrich = enrich
        postbackNames = catalog.profiles.names.lookup
        clickCandidates = UnsafePointer(catalog.profiles.clickCandidates)
        clickCandidateCount = catalog.profiles.clickCandidateCount
    }

    /// Takes `catalog` (a reload), with its postback tables.
    mutating func install(_ catalog: Catalog) {
        self.catalog = catalog
        postbackNames = catalog.profiles.names.lookup
        clickCandidates = UnsafePointer(catalog.profiles.clickCandidates)
        clickCandidateCount = catalog.profiles.clickCandidateCount
    }
}

/// One request being answered: its parsed head, its bytes and its connection, and what the route
/// learned about it that a later refusal or issue record needs (`route`, `offerID`, `affiliateID`).
/// Everything per request is reached through the exchange passed along explicitly, none of it
/// through the handler. The learned facts sit behind a pointer into the loop's memory, reset when
/// the exchange is made, so the exchange stays a value passed by reference: as a `var` passed
/// `inout`, each pass on to the many by-value helpers copied its ~200 bytes (callgrind: +190
/// instructions a postback in `memcpy`).
struct Exchange {
    let head: HTTPRequestHead
    let request: UnsafeRawBufferPointer
    let context: ConnectionContext
    let facts: UnsafeMutablePointer<ExchangeFacts>

    /// The route answering it, once matched: a postback's refusals are counted and logged, a click's counted.
    var route: Route? {
        get { facts.pointee.route }
        nonmutating set { facts.pointee.route = newValue }
    }
    /// The offer and affiliate the request concerns, 0 until known (a click's parameters once read,
    /// the click a postback resolved to): its refusal or click-issue record carries them.
    var offerID: UInt32 {
        get { facts.pointee.offerID }
        nonmutating set { facts.pointee.offerID = newValue }
    }
    var affiliateID: UInt32 {
        get { facts.pointee.affiliateID }
        nonmutating set { facts.pointee.affiliateID = newValue }
    }
}

/// What a route learns about its request (see `Exchange`).
struct ExchangeFacts {
    var route: Route?
    var offerID: UInt32 = 0
    var affiliateID: UInt32 = 0
}

/// The fixed paths, matched without allocating.
enum Route {
    case click, postback, healthz, metrics

    var path: StaticString {
        switch self {
        case .click: "/click"
        case .postback: "/postback"
        case .healthz: "/healthz"
        case .metrics: "/metrics"
        }
    }

    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let p = path
        return p.utf8CodeUnitCount == bytes.count && memcmp(p.utf8Start, bytes.baseAddress!, bytes.count) == 0
    }
}

#if canImport(Glibc)
import Glibc
#endif
