// The dispatcher's operator actions: a reload's new routing, resuming a paused endpoint and retry
// requests. The public calls may come from any thread; each runs on the dispatcher's loop thread
// through its mailbox, and the waiting forms block their caller (the admin listener) for at most a timeout.
import TrackstarCore
import TrackstarStore
import TrackstarConfiguration

extension Dispatcher {
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

    /// Carries out a retry request against the live log and the archive's failed index (failed
    /// postbacks leave the live log at compaction), appending to the live log.
    func retryNow(_ selection: RetrySelection) -> RetryResult {
        let now = WallClock.nowMillis()
        let jobs: [FailedJob]
        do { jobs = try DeliveryRetry.select(selection, ledger: ledger, live: log) } catch {
            message("deliveries: retry request \(selection.requestID): cannot read the delivery archive: \(error.description)")
            var failed = RetryResult(requestID: selection.requestID, requeued: 0)
            failed.storageFailed = true
            return failed
        }
        let result = DeliveryRetry.run(selection, retryRequests: ledger.retryRequests, jobs: jobs, nowMillis: now, render: { job in
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

    /// Resumes `endpoint` on the loop thread: a `resume` record, and its postbacks waiting out a
    /// backoff go now. False if it was not paused (or the record could not be written).
    func resumeNow(_ endpoint: String) -> Bool {
        guard let state = ledger.endpoints[endpoint], state.paused else { return false }
        let record = DeliveryRecord(kind: .resume, conversionID: 0, timeMillis: WallClock.nowMillis())
        guard append(record, endpoint: endpoint, detail: "resumed by an operator") else { return false }
        // The partner is fixed: postbacks waiting out a backoff go now too (those still inside their
        // postback_delay keep it). In memory only: after a restart they wait out their backoff again.
        let now = WallClock.nowMillis()
        var retriedNow = 0
        guard let number = ledger.endpointNumber(endpoint) else { return true }
        for (id, job) in ledger.pending where job.endpoint == number && job.attempts > 0 && job.dueMillis > now {
            reschedule(id, at: now)
            retriedNow += 1
        }
        message("deliveries: endpoint \(endpoint) resumed; \(retriedNow) postbacks waiting to retry go now")
        promoteDue(now: now)
        startReady(number)
        publishSnapshot()
        return true
    }
}
