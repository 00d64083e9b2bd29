// The partner-postback dispatcher: a thread of its own running a libuv loop that drives libcurl's
// multi-socket interface. Every tick it reads conversions the request loops have published (it
// never blocks them: they only append to their logs), plans a job for each that an affiliate wants
// to hear about, and starts due attempts within the per-endpoint and total caps. Each outcome is
// appended to the delivery log and group-committed with one fdatasync per loop iteration.
import CTrackstarCurl
import DequeModule
import TrackstarCore
import TrackstarExport
import TrackstarIO
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// Runs partner postbacks. Public methods may be called from any thread.
public final class Dispatcher: @unchecked Sendable {  // loop state is touched on the loop thread only
    public let config: DeliveryConfig
    let source: ExportSource
    let log: DeliveryLog
    let positions: DeliveryPositions
    let message: @Sendable (String) -> Void
    /// Messages an operator must act on (a paused endpoint).
    let warn: @Sendable (String) -> Void
    /// How often new conversions are looked for and due jobs started.
    let tickMillis: UInt64

    // Loop-thread state.
    var plan: DeliveryPlan
    var ledger: DeliveryLedger
    var due = DueSchedule()
    /// Jobs due (or blocked) per endpoint, oldest first.
    var ready: [String: Deque<UInt64>] = [:]
    var inFlightByEndpoint: [String: Int] = [:]
    var transfers: [UInt: Transfer] = [:]
    /// Conversions with an attempt running: never two at once for one postback.
    var attemptsRunning: Set<UInt64> = []
    var idleHandles: [UnsafeMutableRawPointer] = []
    var scanned: [UInt64]
    var logDirty = false
    var positionsDirty = false
    /// A group commit is running on libuv's thread pool (at most one at a time).
    var syncing = false
    var shuttingDown = false
    var syncTarget = SyncTarget(count: 0, byteEnd: 0, scanned: [])
    var syncError: StoreError?
    var storageFailing = false
    var random = SystemRandomNumberGenerator()

    /// The dispatcher's loop (TrackstarIO's: the only module that touches libuv) and the curl
    /// transfers it drives; made at start.
    var loop: LoopThread?
    var curl: CurlMulti?
    var running = false

    // Cross-thread: a snapshot for readers.
    var stopping = false
    var mutex = pthread_mutex_t()
    var published = DeliverySnapshot()

    /// Opens the delivery log and rebuilds the dispatcher's state from it.
    public init(config: TrackstarConfig, source: ExportSource, tickMillis: UInt64 = 50,
                message: @escaping @Sendable (String) -> Void,
                warn: (@Sendable (String) -> Void)? = nil) throws(StoreError) {
        self.config = config.delivery
        self.source = source
        self.message = message
        self.warn = warn ?? message
        self.tickMillis = tickMillis
        plan = DeliveryPlan(config)
        log = try DeliveryLog(dataDir: config.storage.dataDir)
        for note in log.notes { message(note) }
        ledger = DeliveryLedger.replay(log, pauseAfter: config.delivery.pauseAfter)
        positions = DeliveryPositions(directory: log.directory)
        let stored = positions.load()
        let replayed = ledger
        scanned = (0..<source.shardCount).map { shard in
            max(shard < stored.count ? stored[shard] : 0, replayed.queuedThrough[shard] ?? 0)
        }
        for job in ledger.pending.values { due.schedule(job.conversionID, at: job.dueMillis) }
        pthread_mutex_init(&mutex, nil)
        if !ledger.pending.isEmpty || ledger.records > 0 {
            message("deliveries: \(ledger.pending.count) pending, \(ledger.endpoints.values.filter(\.paused).count) paused endpoints, \(log.count) log records")
        }
        publishSnapshot()
    }

    /// Starts the dispatcher's loop thread, below the request loops in priority (nice 10): when the
    /// cores are busy, clicks win and deliveries drain slower.
    public func start() throws(IOError) {
        guard !running else { return }
        let loop = try LoopThread(name: "deliveries", niceness: 10)
        // These closures hold the dispatcher while it runs; stop releases them (LoopThread drops its
        // bodies once the thread ends, and shutdown drops the curl driver).
        curl = try CurlMulti(on: loop, maxPerHost: config.maxPerEndpoint, maxTotal: config.maxInFlight) { [self] easy, result in
            finished(easy, CURLcode(rawValue: UInt32(bitPattern: result)))
        }
        try loop.repeating(every: tickMillis) { [self] in onTick() }
        loop.afterEachIteration { [self] in commit() }
        self.loop = loop
        try loop.start()
        running = true
    }

    /// Stops the thread: attempts in flight are abandoned (their jobs stay pending and are retried
    /// after the next start; the partner may see that attempt twice, which the delivery log shows).
    public func stop() {
        guard running, let loop else { return }
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_mutex_unlock(&mutex)
        loop.stop { [self] in shutdown() }
        running = false
    }

    /// Runs `work` on the loop thread (dropped once stopping).
    func post(_ work: @escaping (Dispatcher) -> Void) {
        loop?.post { [self] in work(self) }
    }

    /// On the loop thread, as it stops: drop transfers, make the last commit, close curl's handles.
    func shutdown() {
        for (_, transfer) in transfers {
            curl?.remove(transfer.easy)
            curl_easy_cleanup(transfer.easy)
        }
        transfers.removeAll()
        attemptsRunning.removeAll()
        for easy in idleHandles { curl_easy_cleanup(easy) }
        idleHandles.removeAll()
        shuttingDown = true
        if !syncing { finalCommit() }  // else when the running commit returns
        curl?.close()
        curl = nil
    }

    // MARK: Operator actions (any thread)

    /// Replaces the routing after a configuration reload (jobs already queued keep their URLs).
    public func replacePlan(_ config: TrackstarConfig) {
        let plan = DeliveryPlan(config)
        post { $0.plan = plan }
    }

    /// Resumes a paused endpoint; `completion` gets whether it was paused (on the dispatcher thread).
    public func resume(endpoint: String, completion: @escaping @Sendable (Bool) -> Void) {
        post { dispatcher in completion(dispatcher.resumeNow(endpoint)) }
    }

    /// Resumes a paused endpoint and waits for the dispatcher's answer (at most `timeoutMillis`):
    /// true if it was paused, false if not, nil if the dispatcher did not answer in time.
    public func resume(endpoint: String, timeoutMillis: Int64) -> Bool? {
        let answer = DispatcherAnswer<Bool>()
        resume(endpoint: endpoint) { answer.set($0) }
        return answer.wait(timeoutMillis: timeoutMillis)
    }

    /// Carries out a retry request on the dispatcher thread and waits for its result (at most
    /// `timeoutMillis`; nil if the dispatcher did not answer in time — the request may still be carried
    /// out, and sending it again with the same id is safe).
    public func retryFailed(_ selection: RetrySelection, timeoutMillis: Int64) -> RetryResult? {
        let answer = DispatcherAnswer<RetryResult>()
        post { dispatcher in answer.set(dispatcher.retryNow(selection)) }
        return answer.wait(timeoutMillis: timeoutMillis)
    }

    func retryNow(_ selection: RetrySelection) -> RetryResult {
        let now = Clock.nowMillis()
        let result = DeliveryRetry.run(selection, ledger: ledger, nowMillis: now, render: { job in
            let shard = Int((job.conversionID - 1) >> 40), sequence = (job.conversionID - 1) & (1 << 40 - 1)
            guard shard < self.source.shardCount, let row = self.source.conversion(shard: shard, sequence: sequence),
                  let (endpoint, url, _) = self.render(row) else { return nil }
            return (endpoint, url)
        }, append: { record, endpoint, detail in self.append(record, endpoint: endpoint, detail: detail) })
        if !result.repeated {
            message("deliveries: retry request \(selection.requestID) (\(selection.summary)) queued \(result.requeued) failed postbacks again"
                + (result.notRouted.isEmpty ? "" : "; \(result.notRouted.count) have no postback in the current configuration"))
        }
        promoteDue(now: now)
        for endpoint in ready.keys { startReady(endpoint) }
        publishSnapshot()
        return result
    }

    /// The state as of the last tick.
    public var snapshot: DeliverySnapshot {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return published
    }

    // MARK: Loop work

    func onTick() {
        let now = Clock.nowMillis()
        scanConversions(now: now)
        promoteDue(now: now)
        for endpoint in ready.keys { startReady(endpoint) }
        publishSnapshot()
    }

    /// Plans a job for each conversion published since the last tick that some partner wants.
    func scanConversions(now: Int64) {
        if scanned.count < source.shardCount { scanned += Array(repeating: 0, count: source.shardCount - scanned.count) }
        var budget = 20_000  // keep a tick short after a long outage
        for shard in 0..<scanned.count {
            let end = source.published(.conversions, shard: shard)
            while scanned[shard] < end && budget > 0 {
                let sequence = scanned[shard]
                if let row = source.conversion(shard: shard, sequence: sequence), !plan(row, now: now) { return }
                scanned[shard] = sequence + 1
                positionsDirty = true
                budget -= 1
            }
        }
    }

    /// Queues a conversion's postback if its affiliate wants it; false if the log refused the record.
    func plan(_ row: ConversionRow, now: Int64) -> Bool {
        guard let (endpoint, url, delay) = render(row) else {
            return plan.knowsAffiliate(row.affID) ? true : skipUnknownAffiliate(row, now: now)
        }
        var record = DeliveryRecord(kind: .queued, conversionID: row.id, timeMillis: now)
        record.affID = row.affID
        record.nextMillis = row.timeMillis + delay
        return append(record, endpoint: endpoint, detail: url)
    }

    /// The endpoint and URL the current plan sends for a conversion, or nil when it sends nothing.
    func render(_ row: ConversionRow) -> (endpoint: String, url: String, delayMillis: Int64)? {
        let event = source.event(offerID: row.offerID, index: row.eventIndex)
        guard let (template, delay) = plan.route(affID: row.affID, offerID: row.offerID, event: event, status: row.status) else {
            return nil
        }
        return (template.endpoint, template.render { macro in self.value(macro, row, event: event) }, delay)
    }

    /// A conversion whose affiliate is no longer configured: nothing is sent, and a `skipped` record
    /// makes the warning and the count happen once per conversion (a restart resumes after it).
    func skipUnknownAffiliate(_ row: ConversionRow, now: Int64) -> Bool {
        var record = DeliveryRecord(kind: .skipped, conversionID: row.id, timeMillis: now)
        record.affID = row.affID
        guard append(record, endpoint: "", detail: "affiliate \(row.affID) is not in the configuration") else { return false }
        warn("deliveries: no partner postback for conversion \(row.id): affiliate \(row.affID) is not in the configuration "
            + "(removed?); the conversion is recorded and reported as usual")
        return true
    }

    /// The bytes of one macro for a conversion.
    func value(_ macro: Macro, _ row: ConversionRow, event: String) -> [UInt8] {
        func bytes(_ buffer: UnsafeRawBufferPointer) -> [UInt8] { Array(buffer) }
        func text(_ string: String) -> [UInt8] { Array(string.utf8) }
        switch macro {
        case .clickID:
            let shard = Int(row.clickRef >> 40), sequence = row.clickRef & (1 << 40 - 1)
            return row.clickTimeMillis == 0 ? [] : text(source.clickID(shard: shard, sequence: sequence, mintMillis: row.clickTimeMillis))
        case .offerID: return text(String(row.offerID))
        case .affID: return text(String(row.affID))
        case .sub1: return bytes(row.click.sub1)
        case .sub2: return bytes(row.click.sub2)
        case .sub3: return bytes(row.click.sub3)
        case .sub4: return bytes(row.click.sub4)
        case .sub5: return bytes(row.click.sub5)
        case .affClickID: return bytes(row.click.affClickID)
        case .source: return bytes(row.click.source)
        case .timestamp: return text(String(row.timeMillis / 1000))
        case .conversionID: return text(String(row.id))
        case .event: return text(event)
        case .payout: return text(PartnerTemplate.money(row.payout))
        case .revenue: return text(PartnerTemplate.money(row.revenue))
        case .currency:
            return row.currency.0 == 0 ? [] : [row.currency.0, row.currency.1, row.currency.2]
        case .status: return text(row.status.name.description)
        case .txid: return bytes(row.txid)
        case .amount: return row.amount.map { text(PartnerTemplate.money($0)) } ?? []
        }
    }

    /// Appends to the log and folds the record into the ledger; false when the disk refuses.
    func append(_ record: DeliveryRecord, endpoint: String, detail: String) -> Bool {
        guard log.append(record, endpoint: endpoint, detail: detail) else {
            if !storageFailing { message("deliveries: cannot append to the delivery log (disk full?); will retry") }
            storageFailing = true
            return false
        }
        storageFailing = false
        logDirty = true
        ledger.apply(DeliveryEntry(record: record, endpoint: endpoint, detail: detail))
        if record.kind == .queued || record.kind == .requeued || (record.kind == .attempt && record.outcome == .retry) {
            due.schedule(record.conversionID, at: record.nextMillis)
        }
        return true
    }

    /// Moves jobs whose time has come to their endpoint's ready queue.
    func promoteDue(now: Int64) {
        while let id = due.popDue(now: now, currentDue: { ledger.pending[$0]?.dueMillis }) {
            ready[ledger.pending[id]!.endpoint, default: []].append(id)
        }
    }

    /// Starts ready jobs of an endpoint while the caps allow and it is not paused.
    func startReady(_ endpoint: String) {
        guard ready[endpoint] != nil, ledger.endpoints[endpoint]?.paused != true else { return }
        while transfers.count < config.maxInFlight, inFlightByEndpoint[endpoint, default: 0] < config.maxPerEndpoint,
              let id = ready[endpoint]!.popFirst() {  // in place: the queue is never copied
            if let job = ledger.pending[id] { begin(job) }
        }
        if ready[endpoint]!.isEmpty { ready[endpoint] = nil }
    }

    func begin(_ job: PendingDelivery) {
        guard !attemptsRunning.contains(job.conversionID), let easy = idleHandles.popLast() ?? curl_easy_init() else { return }
        let transfer = Transfer(job: job, easy: easy, started: Clock.nowMillis())
        transfer.url.withUnsafeBufferPointer { _ = ts_curl_setopt_str(easy, CURLOPT_URL, $0.baseAddress) }
        _ = ts_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = ts_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(config.connectTimeoutMillis))
        _ = ts_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(config.timeoutMillis))
        _ = ts_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1)
        _ = ts_curl_setopt_long(easy, CURLOPT_MAXREDIRS, 3)
        _ = ts_curl_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ts_curl_setopt_str(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        _ = ts_curl_setopt_str(easy, CURLOPT_USERAGENT, "Trackstar-Postback/1")
        if let caFile = config.caFile { _ = ts_curl_setopt_str(easy, CURLOPT_CAINFO, caFile) }
        _ = ts_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, transfer.errorBuffer)
        _ = ts_curl_setopt_write(easy, { data, size, count, user in
            let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            let total = size * count
            if let data, transfer.excerpt.count < Transfer.excerptLimit {
                let take = min(total, Transfer.excerptLimit - transfer.excerpt.count)
                data.withMemoryRebound(to: UInt8.self, capacity: take) {
                    transfer.excerpt.append(contentsOf: UnsafeBufferPointer(start: $0, count: take))
                }
            }
            return total
        }, Unmanaged.passUnretained(transfer).toOpaque())
        transfers[UInt(bitPattern: easy)] = transfer
        attemptsRunning.insert(job.conversionID)
        inFlightByEndpoint[job.endpoint, default: 0] += 1
        if curl?.add(easy) != true {
            transfers[UInt(bitPattern: easy)] = nil
            attemptsRunning.remove(job.conversionID)
            inFlightByEndpoint[job.endpoint, default: 1] -= 1
            curl_easy_cleanup(easy)
            reschedule(job.conversionID, at: Clock.nowMillis() + 1000)
        }
    }

    /// An attempt ended: decide and record its outcome, then refill the endpoint's slots.
    func finished(_ easy: UnsafeMutableRawPointer, _ result: CURLcode) {
        guard let transfer = transfers.removeValue(forKey: UInt(bitPattern: easy)) else { return }
        let job = transfer.job
        attemptsRunning.remove(job.conversionID)
        inFlightByEndpoint[job.endpoint, default: 1] -= 1
        let now = Clock.nowMillis()
        let status = result == CURLE_OK ? Int(ts_curl_response_code(easy)) : 0
        let micros = ts_curl_total_micros(easy)
        curl_easy_reset(easy)
        if idleHandles.count < 64 { idleHandles.append(easy) } else { curl_easy_cleanup(easy) }

        let attempt = job.attempts + 1
        let outcome = DeliveryOutcome.of(status: status, attempt: attempt, maxAttempts: config.maxAttempts)
        var record = DeliveryRecord(kind: .attempt, conversionID: job.conversionID, timeMillis: now)
        record.affID = job.affID
        record.attempt = UInt8(clamping: attempt)
        record.httpStatus = UInt16(clamping: status)
        record.curlCode = UInt16(clamping: Int(result.rawValue))
        record.latencyMicros = UInt32(clamping: micros > 0 ? micros : (now - transfer.started) * 1000)
        record.outcome = outcome
        if outcome == .retry { record.nextMillis = now + backoff(afterAttempt: attempt) }
        let detail = result == CURLE_OK ? transfer.excerptText : transfer.errorText(result)
        if !append(record, endpoint: job.endpoint, detail: detail) {
            reschedule(job.conversionID, at: now + 1000)  // the outcome could not be recorded; try again later
            return
        }
        if let state = ledger.endpoints[job.endpoint], DeliveryOutcome.pausesEndpoint(state, after: outcome, pauseAfter: config.pauseAfter) {
            var pause = DeliveryRecord(kind: .pause, conversionID: 0, timeMillis: now)
            pause.affID = job.affID
            if append(pause, endpoint: job.endpoint, detail: "paused after \(state.consecutiveFailures) failures in a row") {
                warn("deliveries: endpoint \(job.endpoint) paused after \(state.consecutiveFailures) failed attempts in a row; last: \(detail.prefix(120)); resume it with trackstar deliveries --resume")
            }
        }
        startReady(job.endpoint)
    }

    /// Puts a pending job back in the heap for `time` (an attempt that could not start or be recorded).
    func reschedule(_ id: UInt64, at time: Int64) {
        guard ledger.pending[id] != nil else { return }
        ledger.pending[id]!.dueMillis = time
        due.schedule(id, at: time)
    }

    /// Exponential backoff with jitter: base × 2^(n-1), capped, then a uniform draw in [½, 1] of it.
    func backoff(afterAttempt attempt: Int) -> Int64 {
        Dispatcher.backoff(afterAttempt: attempt, config: config, random: random.next())
    }

    /// The wait after `attempt` failed attempts, with `random` (any 64 bits) choosing the jitter.
    static func backoff(afterAttempt attempt: Int, config: DeliveryConfig, random: UInt64) -> Int64 {
        let exponent = min(attempt - 1, 40)
        let (scaled, overflow) = config.retryBaseMillis.multipliedReportingOverflow(by: Int64(1) << exponent)
        let ceiling = overflow ? config.retryMaxDelayMillis : min(scaled, config.retryMaxDelayMillis)
        let span = UInt64(ceiling - ceiling / 2) + 1
        return ceiling / 2 + Int64(random % span)
    }

    func resumeNow(_ endpoint: String) -> Bool {
        guard let state = ledger.endpoints[endpoint], state.paused else { return false }
        let record = DeliveryRecord(kind: .resume, conversionID: 0, timeMillis: Clock.nowMillis())
        guard append(record, endpoint: endpoint, detail: "resumed by an operator") else { return false }
        // The partner is fixed: postbacks waiting out a backoff go now too (those still inside their
        // postback_delay keep it). In memory only: after a restart they wait out their backoff again.
        let now = Clock.nowMillis()
        var retriedNow = 0
        for (id, job) in ledger.pending where job.endpoint == endpoint && job.attempts > 0 && job.dueMillis > now {
            reschedule(id, at: now)
            retriedNow += 1
        }
        message("deliveries: endpoint \(endpoint) resumed; \(retriedNow) postbacks waiting to retry go now")
        promoteDue(now: now)
        startReady(endpoint)
        publishSnapshot()
        return true
    }

    /// After each loop iteration (the loop thread's hook): starts a group commit on libuv's thread pool, one at a
    /// time, covering everything appended so far: an fdatasync of the log, then the positions file
    /// (written only once the queued records it counts are on disk). The loop goes on meanwhile.
    func commit() {
        guard logDirty || positionsDirty, !syncing, !shuttingDown else { return }
        syncTarget = SyncTarget(count: log.count, byteEnd: log.byteEnd, scanned: scanned)
        logDirty = false
        positionsDirty = false
        syncing = true
        do {
            try loop?.queueWork({ [self] in
                let target = syncTarget
                syncError = log.sync(count: target.count, byteEnd: target.byteEnd)
                if syncError == nil { positions.store(target.scanned) }
            }, completion: { [self] in committed() })
        } catch {
            // The thread pool refused the job: sync here instead (this iteration waits for it).
            message("deliveries: \(error.description); syncing on the dispatcher thread")
            syncError = log.sync(count: syncTarget.count, byteEnd: syncTarget.byteEnd)
            if syncError == nil { positions.store(syncTarget.scanned) }
            committed()
        }
    }

    func committed() {
        syncing = false
        if let error = syncError {
            message("deliveries: \(error.description)")
            logDirty = true  // try again after the next iteration
            positionsDirty = true
        }
        if shuttingDown { finalCommit() }
    }

    /// At stop, on the loop thread: whatever the last commit did not cover.
    func finalCommit() {
        if let error = log.sync(count: log.count, byteEnd: log.byteEnd) { message("deliveries: \(error.description)"); return }
        positions.store(scanned)
    }

    func publishSnapshot() {
        let snapshot = ledger.snapshot(inFlight: transfers.count, scanned: scanned)
        pthread_mutex_lock(&mutex)
        published = snapshot
        pthread_mutex_unlock(&mutex)
    }
}

/// What one group commit covers.
struct SyncTarget {
    var count: UInt64
    var byteEnd: UInt64
    var scanned: [UInt64]
}

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

/// What readers (the admin listener, /metrics) see of the dispatcher.
public struct DeliverySnapshot: Sendable {
    public var pending = 0
    public var inFlight = 0
    public var endpoints: [EndpointState] = []
    public var affiliates: [AffiliateDeliveries] = []
    public var pendingByEndpoint: [String: Int] = [:]
    public var failures: [FailedDelivery] = []
    /// Conversions read, per shard.
    public var scanned: [UInt64] = []
    /// Postbacks failed for good and not queued again (what a retry request can select).
    public var failedNow = 0
    /// Postbacks queued again by retry requests.
    public var requeued = 0
    /// Conversions of affiliates not in the configuration: recorded, but no postback sent.
    public var skippedUnknownAffiliate = 0
    public init() {}
}

/// One attempt in flight.
final class Transfer {
    static let excerptLimit = 200
    let job: PendingDelivery
    let easy: UnsafeMutableRawPointer
    let started: Int64
    let url: [CChar]
    var excerpt: [UInt8] = []
    let errorBuffer: UnsafeMutablePointer<CChar>

    init(job: PendingDelivery, easy: UnsafeMutableRawPointer, started: Int64) {
        self.job = job; self.easy = easy; self.started = started
        url = Array(job.url.utf8CString)
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }
    deinit { errorBuffer.deallocate() }

    /// The response's first bytes, printable ASCII only.
    var excerptText: String {
        String(decoding: excerpt.map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: " ") }, as: UTF8.self)
    }

    func errorText(_ result: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(result)) : detail
    }
}

/// Wall-clock milliseconds.
enum Clock {
    static func nowMillis() -> Int64 { StoppableThread.nowMillis() }
}
