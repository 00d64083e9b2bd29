// The dispatcher's transfers: one libcurl easy handle per attempt (pooled), driven by TrackstarIO's
// `CurlMulti` on the loop thread; when it ends, the outcome becomes an `attempt` record (and, after
// too many failures in a row, a `pause` record), and the endpoint's freed slot is filled.
import CTrackstarCurl
import TrackstarCore

extension Dispatcher {
    /// Starts an attempt of `job` unless one is already running.
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
