// The dispatcher's decisions as plain functions: which attempt results end a postback (delivered,
// failed for good, given up), which retry, and when consecutive failures pause an endpoint (counted
// by the ledger from the records the dispatcher appends).
import Testing
import TrackstarCore
@testable import TrackstarDelivery

@Suite("delivery outcomes")
struct DeliveryOutcomeTests {
    static let maxAttempts = 4

    @Test func every2xxIsDeliveredEvenOnTheLastAttempt() {
        for status in 200..<300 {
            for attempt in [1, Self.maxAttempts - 1, Self.maxAttempts] {
                #expect(DeliveryOutcome.of(status: status, attempt: attempt, maxAttempts: Self.maxAttempts) == .delivered,
                        "status \(status), attempt \(attempt)")
            }
        }
    }

    @Test func a4xxFailsForGoodAtOnceExcept408And429() {
        for status in 400..<500 where status != 408 && status != 429 {
            #expect(DeliveryOutcome.of(status: status, attempt: 1, maxAttempts: Self.maxAttempts) == .failed, "status \(status)")
            #expect(DeliveryOutcome.of(status: status, attempt: Self.maxAttempts, maxAttempts: Self.maxAttempts) == .failed,
                    "status \(status) on the last attempt")
        }
    }

    /// 408 and 429 are the partner asking for time: retried like a server error.
    @Test(arguments: [408, 429])
    func timeoutAndTooManyRequestsRetry(_ status: Int) {
        #expect(DeliveryOutcome.of(status: status, attempt: 1, maxAttempts: Self.maxAttempts) == .retry)
        #expect(DeliveryOutcome.of(status: status, attempt: Self.maxAttempts - 1, maxAttempts: Self.maxAttempts) == .retry)
        #expect(DeliveryOutcome.of(status: status, attempt: Self.maxAttempts, maxAttempts: Self.maxAttempts) == .gaveUp)
    }

    /// 5xx, and no answer at all (status 0: refused connection, DNS failure, timeout), retry until
    /// the attempt limit, which gives up.
    @Test(arguments: [0, 500, 502, 503, 504, 599])
    func serverErrorsAndTransportErrorsRetryUntilTheLimit(_ status: Int) {
        for attempt in 1..<Self.maxAttempts {
            #expect(DeliveryOutcome.of(status: status, attempt: attempt, maxAttempts: Self.maxAttempts) == .retry,
                    "attempt \(attempt)")
        }
        #expect(DeliveryOutcome.of(status: status, attempt: Self.maxAttempts, maxAttempts: Self.maxAttempts) == .gaveUp)
        #expect(DeliveryOutcome.of(status: status, attempt: Self.maxAttempts + 1, maxAttempts: Self.maxAttempts) == .gaveUp)
    }

    /// Statuses that are neither success nor a client error (1xx, a 3xx left after curl's three
    /// redirects, nonsense) are treated as a failed attempt worth retrying.
    @Test(arguments: [100, 199, 301, 304, 399, 600, 999])
    func otherStatusesRetry(_ status: Int) {
        #expect(DeliveryOutcome.of(status: status, attempt: 1, maxAttempts: Self.maxAttempts) == .retry)
        #expect(DeliveryOutcome.of(status: status, attempt: Self.maxAttempts, maxAttempts: Self.maxAttempts) == .gaveUp)
    }

    @Test func aLimitOfOneAttemptGivesUpOnTheFirstFailure() {
        #expect(DeliveryOutcome.of(status: 503, attempt: 1, maxAttempts: 1) == .gaveUp)
        #expect(DeliveryOutcome.of(status: 0, attempt: 1, maxAttempts: 1) == .gaveUp)
        #expect(DeliveryOutcome.of(status: 404, attempt: 1, maxAttempts: 1) == .failed)
        #expect(DeliveryOutcome.of(status: 204, attempt: 1, maxAttempts: 1) == .delivered)
    }

    /// Attempts folded into the ledger as the dispatcher appends them; after each, would the
    /// endpoint be paused? Failures of every kind count, a delivery resets the count, a paused
    /// endpoint is not paused again, and a resume starts the count afresh.
    @Test func consecutiveFailuresPauseAnEndpoint() {
        let pauseAfter = 3
        let endpoint = "https://partner.example"
        var ledger = DeliveryLedger(pauseAfter: pauseAfter)
        var time: Int64 = 1_000
        func record(_ kind: DeliveryRecordKind, _ outcome: AttemptOutcome? = nil, conversion: UInt64 = 1) -> Bool {
            time += 1
            var r = DeliveryRecord(kind: kind, conversionID: conversion, timeMillis: time)
            r.outcome = outcome
            r.attempt = 1
            ledger.apply(DeliveryEntry(record: r, endpoint: endpoint, detail: ""))
            guard let outcome, let state = ledger.endpoints[endpoint] else { return false }
            return DeliveryOutcome.pausesEndpoint(state, after: outcome, pauseAfter: pauseAfter)
        }
        #expect(!record(.attempt, .retry))
        #expect(!record(.attempt, .failed, conversion: 2))
        #expect(!record(.attempt, .delivered, conversion: 3), "a delivery never pauses")
        #expect(ledger.endpoints[endpoint]?.consecutiveFailures == 0, "a delivery resets the count")
        #expect(!record(.attempt, .retry))
        #expect(!record(.attempt, .gaveUp))
        #expect(record(.attempt, .retry, conversion: 4), "the third failure in a row pauses")
        _ = record(.pause)
        #expect(ledger.endpoints[endpoint]?.paused == true)
        #expect(!record(.attempt, .retry, conversion: 5), "a paused endpoint is not paused again")
        _ = record(.resume)
        #expect(ledger.endpoints[endpoint]?.consecutiveFailures == 0)
        #expect(!record(.attempt, .retry))
        #expect(!record(.attempt, .retry))
        #expect(record(.attempt, .retry), "after a resume, pauseAfter new failures pause again")
    }

    @Test func pausingIsDecidedFromTheStateAlone() {
        var state = EndpointState(endpoint: "e")
        state.consecutiveFailures = 19
        #expect(!DeliveryOutcome.pausesEndpoint(state, after: .retry, pauseAfter: 20))
        state.consecutiveFailures = 20
        #expect(DeliveryOutcome.pausesEndpoint(state, after: .retry, pauseAfter: 20))
        #expect(DeliveryOutcome.pausesEndpoint(state, after: .failed, pauseAfter: 20))
        #expect(DeliveryOutcome.pausesEndpoint(state, after: .gaveUp, pauseAfter: 20))
        #expect(!DeliveryOutcome.pausesEndpoint(state, after: .delivered, pauseAfter: 20))
        state.paused = true
        #expect(!DeliveryOutcome.pausesEndpoint(state, after: .retry, pauseAfter: 20))
    }
    // How long a retry waits (the backoff) is tested in DeliveryLogTests.backoffDoublesWithJitterUpToTheCap.

    /// Retry-After on 429 and 503 sets the wait (bounded by retry_max_delay); elsewhere, or absent,
    /// the backoff decides.
    @Test func retryAfterSetsTheWaitOn429And503Only() {
        let backoff: Int64 = 60_000, ceiling: Int64 = 3_600_000
        func delay(_ status: Int, _ seconds: Int64) -> Int64 {
            DeliveryOutcome.retryDelay(status: status, retryAfterSeconds: seconds, backoffMillis: backoff, maxDelayMillis: ceiling)
        }
        #expect(delay(429, 2) == 2_000)
        #expect(delay(503, 120) == 120_000)
        #expect(delay(429, 0) == backoff)            // absent or unreadable
        #expect(delay(503, 0) == backoff)
        #expect(delay(429, 86_400) == ceiling)       // a day, bounded by retry_max_delay
        #expect(delay(503, Int64.max / 10) == ceiling)  // no overflow
        #expect(delay(500, 2) == backoff)            // other statuses ignore it
        #expect(delay(408, 2) == backoff)
        #expect(delay(0, 2) == backoff)
    }
}
