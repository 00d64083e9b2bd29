// The dispatcher's transfers: one libcurl easy handle per attempt (pooled), driven by TrackstarIO's
// `CurlMulti` on the loop thread; when it ends, the outcome becomes an `attempt` record (and, after
// too many failures in a row, a `pause` record), and the endpoint's freed slot is filled.
import CTrackstarCurl
import TrackstarCore
import TrackstarConfiguration
import TrackstarStore

extension Dispatcher {
    /// Starts an attempt of conversion `id`'s `job` unless one is already running; its URL is read
    /// back from the job's `queued` record in the log. An option curl refuses ends the attempt at
    /// once, as a failed attempt (no HTTP status, curl's code) named in the log and in the attempt
    /// record's detail.
    func begin(_ id: UInt64, _ job: PendingDelivery) {
        guard !attemptsRunning.contains(id) else { return }
        // A tick may start dozens of attempts and a poll finish as many: the core goes back every
        // 200 µs or so, so a click loop the scheduler tick preempted for this thread never waits for
        // a whole burst (nor for the next tick).
        BackgroundPriority.yieldIfDue()
        let pooled = idleHandles.popLast()
        guard let easy = pooled ?? curl_easy_init() else { return }
        let queued = log.entry(at: job.queuedAt)
        let transfer = Transfer(id: id, job: job, affID: queued?.record.affID ?? 0, endpointName: ledger.endpointName(job.endpoint),
                                url: queued?.detail ?? "", easy: easy, started: WallClock.nowMillis())
        if let failure = Dispatcher.configure(transfer, config: config, handleOptions: pooled == nil) {
            let detail = "\(failure.call) failed: \(String(cString: curl_easy_strerror(failure.code)))"
            message("deliveries: cannot start a postback to \(transfer.endpointName) for conversion \(id): \(detail)")
            curl_easy_cleanup(easy)  // not pooled: its options may be half set
            record(transfer, result: failure.code, status: 0, micros: 0, detail: detail, now: WallClock.nowMillis())
            return
        }
        transfers[UInt(bitPattern: easy)] = transfer
        attemptsRunning.insert(id)
        inFlightByEndpoint[job.endpoint, default: 0] += 1
        if curl?.add(easy) != true {
            transfers[UInt(bitPattern: easy)] = nil
            attemptsRunning.remove(id)
            inFlightByEndpoint[job.endpoint, default: 1] -= 1
            curl_easy_cleanup(easy)
            reschedule(id, at: WallClock.nowMillis() + 1000)
        }
    }

    /// Sets an attempt's options on its easy handle: the call and code of the first that curl
    /// refuses, or nil when all were set. `handleOptions`: also the options every attempt shares
    /// (timeouts, redirects, protocols, user agent, CA file), set once on a new handle; a pooled one
    /// keeps them (see `recycle`).
    static func configure(_ transfer: Transfer, config: DeliveryConfig, handleOptions: Bool = true) -> (call: String, code: CURLcode)? {
        let easy = transfer.easy
        var failure: (call: String, code: CURLcode)?
        func check(_ option: String, _ result: Int32) {
            guard failure == nil, result != Int32(CURLE_OK.rawValue) else { return }
            failure = ("curl_easy_setopt(\(option))", CURLcode(rawValue: UInt32(bitPattern: result)))
        }
        check("CURLOPT_URL", transfer.url.withUnsafeBufferPointer { ts_curl_setopt_str(easy, CURLOPT_URL, $0.baseAddress) })
        check("CURLOPT_ERRORBUFFER", transfer.storage.setErrorBuffer(on: easy))
        check("CURLOPT_WRITEFUNCTION", transfer.storage.setWriteFunction(on: easy))
        guard handleOptions else { return failure }
        check("CURLOPT_NOSIGNAL", ts_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        check("CURLOPT_CONNECTTIMEOUT_MS", ts_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(config.connectTimeoutMillis)))
        check("CURLOPT_TIMEOUT_MS", ts_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(config.timeoutMillis)))
        check("CURLOPT_FOLLOWLOCATION", ts_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1))
        check("CURLOPT_MAXREDIRS", ts_curl_setopt_long(easy, CURLOPT_MAXREDIRS, 3))
        check("CURLOPT_PROTOCOLS_STR", ts_curl_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        check("CURLOPT_REDIR_PROTOCOLS_STR", ts_curl_setopt_str(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"))
        check("CURLOPT_USERAGENT", ts_curl_setopt_str(easy, CURLOPT_USERAGENT, "Trackstar-Postback/1"))
        if let caFile = config.caFile { check("CURLOPT_CAINFO", ts_curl_setopt_str(easy, CURLOPT_CAINFO, caFile)) }
        return failure
    }

    /// An attempt ended: decide and record its outcome, then refill the endpoint's slots.
    func finished(_ easy: UnsafeMutableRawPointer, _ result: CURLcode) {
        guard let transfer = transfers.removeValue(forKey: UInt(bitPattern: easy)) else { return }
        BackgroundPriority.yieldIfDue()  // as in `begin`
        let job = transfer.job
        attemptsRunning.remove(transfer.id)
        inFlightByEndpoint[job.endpoint, default: 1] -= 1
        let now = WallClock.nowMillis()
        // 1. What the partner answered: its status, or curl's error (a status curl cannot report
        //    counts as no answer, named in the detail).
        var code = result, status = 0, detail: String
        if result == CURLE_OK {
            var answered = 0
            let info = CURLcode(rawValue: UInt32(bitPattern: ts_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &answered)))
            if info == CURLE_OK {
                status = answered
                detail = transfer.storage.excerptText
            } else {
                code = info
                detail = "curl_easy_getinfo(CURLINFO_RESPONSE_CODE) failed: \(String(cString: curl_easy_strerror(info)))"
                message("deliveries: postback to \(transfer.endpointName) for conversion \(transfer.id): \(detail)")
            }
        } else {
            detail = transfer.storage.errorText(result)
        }
        // 2. How long it took: curl's total time, else the time measured here.
        var micros: Int64 = 0
        let timed = CURLcode(rawValue: UInt32(bitPattern: ts_curl_getinfo_off(easy, CURLINFO_TOTAL_TIME_T, &micros)))
        if timed != CURLE_OK && !latencyInfoFailed {
            latencyInfoFailed = true  // once: it fails the same way for every attempt
            message("deliveries: curl_easy_getinfo(CURLINFO_TOTAL_TIME_T) failed: \(String(cString: curl_easy_strerror(timed))); "
                + "attempt latencies are measured by the dispatcher instead")
        }
        // 3. A partner's Retry-After (0 when absent or unreadable; curl parses seconds and dates).
        var retryAfter: Int64 = 0
        if status == 429 || status == 503,
           CURLcode(rawValue: UInt32(bitPattern: ts_curl_getinfo_off(easy, CURLINFO_RETRY_AFTER, &retryAfter))) != CURLE_OK {
            retryAfter = 0
        }
        // 4. The handle goes back to the pool, the outcome into the log, and the freed slot is filled.
        recycle(easy)
        record(transfer, result: code, status: status, micros: timed == CURLE_OK ? micros : 0, detail: detail, now: now,
               retryAfterSeconds: retryAfter)
        startReady(job.endpoint)
    }

    /// Keeps an easy handle for the next attempt (at most 64 are kept), its shared options set and
    /// its pointers into the finished attempt's `TransferStorage` cleared; curl_easy_reset and
    /// setting every option again cost more than the rest of an attempt's user-space work.
    func recycle(_ easy: UnsafeMutableRawPointer) {
        guard idleHandles.count < 64, TransferStorage.detach(from: easy) else { curl_easy_cleanup(easy); return }
        idleHandles.append(easy)
    }

    /// Appends an attempt's `attempt` record (and a `pause` record when it makes too many failures in
    /// a row); `micros` 0 means the latency is the time since the attempt started.
    /// `retryAfterSeconds` is the partner's `Retry-After` (0: none), honoured on 429 and 503.
    func record(_ transfer: Transfer, result: CURLcode, status: Int, micros: Int64, detail: String, now: Int64,
                retryAfterSeconds: Int64 = 0) {
        let job = transfer.job, endpoint = transfer.endpointName
        let attempt = Int(job.attempts) + 1
        let outcome = DeliveryOutcome.of(status: status, attempt: attempt, maxAttempts: config.maxAttempts)
        var record = DeliveryRecord(kind: .attempt, conversionID: transfer.id, timeMillis: now)
        record.affID = transfer.affID
        record.attempt = UInt8(clamping: attempt)
        record.httpStatus = UInt16(clamping: status)
        record.curlCode = UInt16(clamping: Int(result.rawValue))
        record.latencyMicros = UInt32(clamping: micros > 0 ? micros : (now - transfer.started) * 1000)
        record.outcome = outcome
        if outcome == .retry {
            record.nextMillis = now + DeliveryOutcome.retryDelay(status: status, retryAfterSeconds: retryAfterSeconds,
                                                                 backoffMillis: backoff(afterAttempt: attempt),
                                                                 maxDelayMillis: config.retryMaxDelayMillis)
        }
        if !append(record, endpoint: endpoint, detail: detail) {
            reschedule(transfer.id, at: now + 1000)  // the outcome could not be recorded; try again later
            return
        }
        if let state = ledger.endpoints[endpoint], DeliveryOutcome.pausesEndpoint(state, after: outcome, pauseAfter: config.pauseAfter) {
            var pause = DeliveryRecord(kind: .pause, conversionID: 0, timeMillis: now)
            pause.affID = transfer.affID
            if append(pause, endpoint: endpoint, detail: "paused after \(state.consecutiveFailures) failures in a row") {
                warn("deliveries: endpoint \(endpoint) paused after \(state.consecutiveFailures) failed attempts in a row; last: \(detail.prefix(120)); resume it with trackstar deliveries --resume")
            }
        }
    }
}

/// One attempt in flight: the job as it was when the attempt started, and its URL read from the log.
final class Transfer {
    let id: UInt64
    let job: PendingDelivery
    let affID: UInt32
    let endpointName: String
    let easy: UnsafeMutableRawPointer
    let started: Int64
    let url: [CChar]
    /// What curl writes into for this attempt (see its invariants).
    let storage = TransferStorage()

    init(id: UInt64, job: PendingDelivery, affID: UInt32, endpointName: String, url: String, easy: UnsafeMutableRawPointer, started: Int64) {
        self.id = id; self.job = job; self.affID = affID; self.endpointName = endpointName; self.easy = easy; self.started = started
        self.url = Array(url.utf8CString)
    }
}
