// The state the delivery log describes: pending jobs, endpoints (paused or not, their recent
// failures), and counts per affiliate and endpoint. The dispatcher keeps one up to date as it
// appends; a restart and `trackstar deliveries` rebuild one by replaying the log.

/// A conversion's postback that has not reached a final outcome.
public struct PendingDelivery: Sendable {
    public var conversionID: UInt64
    public var affID: UInt32
    public var endpoint: String
    public var url: String
    /// Attempts made so far.
    public var attempts: Int
    /// When the next attempt is due.
    public var dueMillis: Int64
}

/// A postback that ended without being delivered.
public struct FailedDelivery: Sendable {
    public var conversionID: UInt64
    public var affID: UInt32
    public var endpoint: String
    public var attempts: Int
    public var timeMillis: Int64
    public var httpStatus: Int
    public var detail: String
    public var outcome: AttemptOutcome
}

/// A postback whose latest outcome is a final failure (`failed` or `gave_up`): what a retry request
/// may queue again.
public struct FailedJob: Sendable {
    public var conversionID: UInt64
    public var affID: UInt32
    public var endpoint: String
    /// The URL the failed attempts used.
    public var url: String
    /// When the last attempt failed.
    public var failedAtMillis: Int64
    public var outcome: AttemptOutcome
}

/// The last failed attempt at an endpoint.
public struct AttemptSummary: Sendable {
    public var timeMillis: Int64
    public var httpStatus: Int
    public var curlCode: Int
    public var detail: String
}

/// What the log says about one endpoint.
public struct EndpointState: Sendable {
    public var endpoint: String
    public var paused = false
    public var pausedAtMillis: Int64 = 0
    public var consecutiveFailures = 0
    public var delivered = 0
    public var failed = 0
    public var attempts = 0
    public var lastError: AttemptSummary? = nil
    /// Affiliates whose postbacks go here.
    public var affiliates: Set<UInt32> = []
    public init(endpoint: String) { self.endpoint = endpoint }
}

/// Counts for one affiliate.
public struct AffiliateDeliveries: Sendable {
    public var affID: UInt32
    public var queued = 0
    public var delivered = 0
    public var failed = 0
    public var attempts = 0
    public var latencyMicrosTotal: Int64 = 0
    public var pending: Int { queued - delivered - failed }
    /// Delivered share of the postbacks that reached an outcome (1 when none did yet).
    public var successRate: Double { delivered + failed == 0 ? 1 : Double(delivered) / Double(delivered + failed) }
}

/// The replayed state of the delivery log.
public struct DeliveryLedger: Sendable {
    public internal(set) var pending: [UInt64: PendingDelivery] = [:]
    public internal(set) var endpoints: [String: EndpointState] = [:]
    public internal(set) var affiliates: [UInt32: AffiliateDeliveries] = [:]
    /// The most recent final failures (at most `failureMemory`), oldest first.
    public internal(set) var failures: [FailedDelivery] = []
    /// Per shard, the highest conversion sequence queued + 1 (conversions are queued in order).
    public internal(set) var queuedThrough: [Int: UInt64] = [:]
    public internal(set) var records: UInt64 = 0
    /// Pending postbacks per endpoint, kept as records are applied.
    public internal(set) var pendingPerEndpoint: [String: Int] = [:]
    /// Postbacks failed for good and not queued again since, by conversion id.
    public internal(set) var failedJobs: [UInt64: FailedJob] = [:]
    /// Retry requests carried out: request id → postbacks it queued again.
    public internal(set) var retryRequests: [String: Int] = [:]
    /// Postbacks queued again by retry requests.
    public internal(set) var requeued = 0
    /// Conversions of affiliates not in the configuration, for which nothing was sent.
    public internal(set) var skippedUnknownAffiliate = 0
    let pauseAfter: Int
    let failureMemory: Int

    public init(pauseAfter: Int, failureMemory: Int = 1000) {
        self.pauseAfter = pauseAfter
        self.failureMemory = failureMemory
    }

    /// Folds one record into the state.
    public mutating func apply(_ entry: DeliveryEntry) {
        records += 1
        let record = entry.record
        switch record.kind {
        case .queued, .requeued:
            if pending[record.conversionID] == nil { pendingPerEndpoint[entry.endpoint, default: 0] += 1 }
            pending[record.conversionID] = PendingDelivery(
                conversionID: record.conversionID, affID: record.affID, endpoint: entry.endpoint, url: entry.detail,
                attempts: 0, dueMillis: record.nextMillis)
            failedJobs[record.conversionID] = nil
            affiliates[record.affID, default: AffiliateDeliveries(affID: record.affID)].queued += 1
            endpoints[entry.endpoint, default: EndpointState(endpoint: entry.endpoint)].affiliates.insert(record.affID)
            if record.kind == .queued { planned(record.conversionID) } else { requeued += 1 }
        case .skipped:
            skippedUnknownAffiliate += 1
            planned(record.conversionID)
        case .retryRequest:
            let words = entry.detail.split(separator: " ", maxSplits: 2)
            if words.count >= 2, let count = Int(words[1]) { retryRequests[String(words[0])] = count }
        case .attempt:
            guard let outcome = record.outcome else { return }
            var endpoint = endpoints[entry.endpoint] ?? EndpointState(endpoint: entry.endpoint)
            var affiliate = affiliates[record.affID] ?? AffiliateDeliveries(affID: record.affID)
            endpoint.attempts += 1
            affiliate.attempts += 1
            affiliate.latencyMicrosTotal += Int64(record.latencyMicros)
            if outcome == .delivered {
                endpoint.consecutiveFailures = 0
            } else {
                endpoint.consecutiveFailures += 1
                endpoint.lastError = AttemptSummary(timeMillis: record.timeMillis, httpStatus: Int(record.httpStatus),
                                                    curlCode: Int(record.curlCode), detail: entry.detail)
            }
            switch outcome {
            case .delivered: endpoint.delivered += 1; affiliate.delivered += 1
            case .failed, .gaveUp:
                endpoint.failed += 1; affiliate.failed += 1
                failures.append(FailedDelivery(conversionID: record.conversionID, affID: record.affID, endpoint: entry.endpoint,
                                               attempts: Int(record.attempt), timeMillis: record.timeMillis,
                                               httpStatus: Int(record.httpStatus), detail: entry.detail, outcome: outcome))
                if failures.count > failureMemory { failures.removeFirst(failures.count - failureMemory) }
            case .retry: break
            }
            endpoints[entry.endpoint] = endpoint
            affiliates[record.affID] = affiliate
            if outcome.isFinal {
                if let job = pending.removeValue(forKey: record.conversionID) {
                    pendingPerEndpoint[job.endpoint, default: 1] -= 1
                    if outcome != .delivered {
                        failedJobs[record.conversionID] = FailedJob(
                            conversionID: job.conversionID, affID: job.affID, endpoint: job.endpoint, url: job.url,
                            failedAtMillis: record.timeMillis, outcome: outcome)
                    }
                }
            } else if var job = pending[record.conversionID] {
                job.attempts = Int(record.attempt)
                job.dueMillis = record.nextMillis
                pending[record.conversionID] = job
            }
        case .pause:
            endpoints[entry.endpoint, default: EndpointState(endpoint: entry.endpoint)].paused = true
            endpoints[entry.endpoint]!.pausedAtMillis = record.timeMillis
        case .resume:
            endpoints[entry.endpoint, default: EndpointState(endpoint: entry.endpoint)].paused = false
            endpoints[entry.endpoint]!.consecutiveFailures = 0
        }
    }

    /// A conversion was planned (queued or skipped): conversions are planned in order per shard, so
    /// the scan resumes after the highest one.
    mutating func planned(_ conversionID: UInt64) {
        let shard = Int((conversionID - 1) >> 40)
        let sequence = (conversionID - 1) & (1 << 40 - 1)
        queuedThrough[shard] = max(queuedThrough[shard] ?? 0, sequence + 1)
    }

    /// Replays a whole log.
    public static func replay(_ log: DeliveryLog, pauseAfter: Int) -> DeliveryLedger {
        var ledger = DeliveryLedger(pauseAfter: pauseAfter)
        log.forEach { ledger.apply($0) }
        return ledger
    }

    /// The state as readers see it (costs the number of endpoints, affiliates and kept failures).
    public func snapshot(inFlight: Int = 0, scanned: [UInt64] = []) -> DeliverySnapshot {
        var snapshot = DeliverySnapshot()
        snapshot.pending = pending.count
        snapshot.inFlight = inFlight
        snapshot.endpoints = endpoints.values.sorted { $0.endpoint < $1.endpoint }
        snapshot.affiliates = affiliates.values.sorted { $0.affID < $1.affID }
        snapshot.pendingByEndpoint = pendingPerEndpoint
        snapshot.failures = failures
        snapshot.scanned = scanned
        snapshot.failedNow = failedJobs.count
        snapshot.requeued = requeued
        snapshot.skippedUnknownAffiliate = skippedUnknownAffiliate
        return snapshot
    }
}
