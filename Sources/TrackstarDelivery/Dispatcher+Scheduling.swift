// When the dispatcher starts attempts: each tick moves jobs whose due time has come (`DueSchedule`)
// to their endpoint's ready queue (a `Deque`, oldest first) and starts them within the per-endpoint
// and total caps; a failed attempt is due again after an exponential backoff with jitter.
import DequeModule
import TrackstarCore
import TrackstarConfiguration

extension Dispatcher {
    /// Every tick (the loop thread's repeating timer): plan new conversions, start what is due.
    func onTick() {
        let now = WallClock.nowMillis()
        watchPriority(now: now)
        watchPacing(now: now)
        scanConversions(now: now)
        promoteDue(now: now)
        for endpoint in readyEndpointsInTurn() { startReady(endpoint) }
        if compaction == nil { compactIfDue(now: now) } else if !slicePosted && !compactionWaitsForCommit { compactSlice() }
        publishSnapshot()
    }

    /// Moves jobs whose time has come to their endpoint's ready queue.
    func promoteDue(now: Int64) {
        while let id = due.popDue(now: now, currentDue: { ledger.pending[$0]?.dueMillis }) {
            ready[ledger.pending[id]!.endpoint, default: []].append(id)
        }
    }

    /// Starts ready jobs of an endpoint (by number) while the caps and the pacing budget allow and it
    /// is not paused.
    func startReady(_ endpoint: UInt32) {
        guard ready[endpoint] != nil, ledger.endpoints[ledger.endpointName(endpoint)]?.paused != true else { return }
        while transfers.count < config.maxInFlight, inFlightByEndpoint[endpoint, default: 0] < config.maxPerEndpoint,
              pacing.allows, let id = ready[endpoint]!.popFirst() {  // in place: the queue is never copied
            if let job = ledger.pending[id] { begin(id, job); pacing.spend() }
        }
        if ready[endpoint]!.isEmpty { ready[endpoint] = nil }
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
}
