// How one postback attempt's result decides what happens next: delivered, retried later, failed for
// good or given up, and whether the endpoint is paused. Pure functions, so every case is tested
// without a partner or a dispatcher thread; the dispatcher records what they decide.

/// The dispatcher's decisions about a finished attempt.
enum DeliveryOutcome {
    /// The outcome of attempt number `attempt` (1-based) that got HTTP `status` (0: no answer, a
    /// transport error such as a refused connection or a timeout).
    /// - 2xx: delivered.
    /// - 4xx other than 408 (timeout) and 429 (too many requests): the partner refused the postback;
    ///   sending it again would be refused again, so it fails for good.
    /// - Everything else (408, 429, 5xx, no answer, and any other status): retried with backoff, or
    ///   given up once `maxAttempts` attempts were made.
    static func of(status: Int, attempt: Int, maxAttempts: Int) -> AttemptOutcome {
        switch status {
        case 200..<300: .delivered
        case 400..<500 where status != 408 && status != 429: .failed
        default: attempt >= maxAttempts ? .gaveUp : .retry
        }
    }

    /// The wait before the next attempt after a retried one: a 429 or 503 that carried
    /// `Retry-After` (`retryAfterSeconds` > 0, curl's parse of seconds or an HTTP date) waits that
    /// long, never longer than `maxDelayMillis`; anything else waits `backoffMillis`.
    static func retryDelay(status: Int, retryAfterSeconds: Int64, backoffMillis: Int64, maxDelayMillis: Int64) -> Int64 {
        guard status == 429 || status == 503, retryAfterSeconds > 0 else { return backoffMillis }
        let (millis, overflow) = retryAfterSeconds.multipliedReportingOverflow(by: 1000)
        return overflow ? maxDelayMillis : min(millis, maxDelayMillis)
    }

    /// Whether an endpoint is paused after an attempt with `outcome` was recorded into `state`
    /// (its `consecutiveFailures` already counts that attempt): a failure of any kind that makes
    /// `pauseAfter` or more in a row at an endpoint not already paused.
    static func pausesEndpoint(_ state: EndpointState, after outcome: AttemptOutcome, pauseAfter: Int) -> Bool {
        !state.paused && outcome != .delivered && state.consecutiveFailures >= pauseAfter
    }
}
