// The state the delivery log describes: pending jobs, endpoints (paused or not, their recent
// failures), and counts per affiliate and endpoint. The dispatcher keeps one up to date as it
// appends; a restart rebuilds one by replaying the live generation, and `trackstar deliveries`
// (the history) by replaying the archive and then the live generation.

/// A conversion's postback that has not reached a final outcome, in 16 bytes because a partner that
/// is down for a day can leave millions waiting: the URL and the affiliate stay in the log, in the
/// job's `queued` (or `requeued`) record at `queuedAt`.
public struct PendingDelivery: Sendable, Equatable {
    /// The due time in ms (low 56 bits) and the attempts made so far (high 8).
    private var dueAndAttempts: UInt64
    /// The log sequence of the job's record (low 40 bits) and the endpoint's number (high 24).
    private var placeAndEndpoint: UInt64

    /// The most endpoints a ledger can number (24 bits), and the longest log it can point into (40 bits).
    public static let endpointLimit: UInt32 = 1 << 24
    public static let sequenceLimit: UInt64 = 1 << 40

    public init(dueMillis: Int64, queuedAt: UInt64, endpoint: UInt32, attempts: UInt8) {
        precondition(endpoint < PendingDelivery.endpointLimit && queuedAt < PendingDelivery.sequenceLimit)
        dueAndAttempts = 0
        placeAndEndpoint = queuedAt | UInt64(endpoint) << 40
        self.dueMillis = dueMillis
        self.attempts = attempts
    }

    /// When the next attempt is due (Unix ms; times before 1970 or after year 1 million read as clamped).
    public var dueMillis: Int64 {
        get { Int64(dueAndAttempts & (1 << 56 - 1)) }
        set { dueAndAttempts = dueAndAttempts & ~(1 << 56 - 1) | UInt64(min(max(newValue, 0), 1 << 56 - 1)) }
    }

    /// Attempts made so far.
    public var attempts: UInt8 {
        get { UInt8(dueAndAttempts >> 56) }
        set { dueAndAttempts = dueAndAttempts & (1 << 56 - 1) | UInt64(newValue) << 56 }
    }

    /// The sequence of the job's `queued` or `requeued` record in the log being replayed (the live
    /// generation, for the dispatcher), whose detail is the URL to send and whose `affID` is the job's.
    public var queuedAt: UInt64 {
        get { placeAndEndpoint & (PendingDelivery.sequenceLimit - 1) }
        set {
            precondition(newValue < PendingDelivery.sequenceLimit)
            placeAndEndpoint = placeAndEndpoint & ~(PendingDelivery.sequenceLimit - 1) | newValue
        }
    }

    /// The endpoint's number in the ledger's table (`DeliveryLedger.endpointName`).
    public var endpoint: UInt32 { UInt32(placeAndEndpoint >> 40) }
}

/// A postback that ended without being delivered.
public struct FailedDelivery: Sendable, Equatable {
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
public struct FailedJob: Sendable, Equatable {
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
public struct AttemptSummary: Sendable, Equatable {
    public var timeMillis: Int64
    public var httpStatus: Int
    public var curlCode: Int
    public var detail: String
}

/// What the log says about one endpoint.
public struct EndpointState: Sendable, Equatable {
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
public struct AffiliateDeliveries: Sendable, Equatable {
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

/// How a replay reads carried records (compaction's copies, see `DeliveryRecord.carried`).
public enum DeliveryReplay: Sendable {
    /// The live generation alone: carried records are the state (a restart).
    case live
    /// The archive, then the live generation: carried records repeat what the archive holds, so
    /// only a carried job's new place in the live log is taken from them (`trackstar deliveries`).
    case history
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
    /// Pending postbacks per endpoint number, kept as records are applied.
    var pendingPerEndpoint: [UInt32: Int] = [:]
    /// Endpoint names by number, and numbers by name (interned: a pending job holds the number).
    var endpointNames: [String] = []
    var endpointNumbers: [String: UInt32] = [:]
    /// Postbacks failed for good and not queued again since, by conversion id (in the live
    /// generation: those since the last compaction; the rest are in the archive).
    public internal(set) var failedJobs: [UInt64: FailedJob] = [:]
    /// Failed postbacks moved to the archive by compaction and not queued again since.
    public internal(set) var archivedFailed = 0
    /// Conversions queued again (`requeued` records) in the live generation: the archive's failed
    /// index still lists them until the next compaction writes a new one.
    public internal(set) var requeuedSinceCompaction: Set<UInt64> = []
    /// Retry requests carried out: request id → postbacks it queued again.
    public internal(set) var retryRequests: [String: Int] = [:]
    /// Postbacks queued again by retry requests.
    public internal(set) var requeued = 0
    /// Conversions of affiliates not in the configuration, for which nothing was sent.
    public internal(set) var skippedUnknownAffiliate = 0
    let pauseAfter: Int
    let failureMemory: Int
    /// Live or history (see `DeliveryReplay`).
    var mode: DeliveryReplay = .live
    /// Where the URLs of pending jobs are read (at a final failure, for `failedJobs`); nil: none.
    var urls: DeliveryLog?

    public init(pauseAfter: Int, failureMemory: Int = 1000) {
        self.pauseAfter = pauseAfter
        self.failureMemory = failureMemory
    }

    /// The endpoint's number, added to the table if new.
    mutating func intern(_ endpoint: String) -> UInt32 {
        if let number = endpointNumbers[endpoint] { return number }
        precondition(endpointNames.count < Int(PendingDelivery.endpointLimit), "more than 16,777,216 partner endpoints")
        let number = UInt32(endpointNames.count)
        endpointNames.append(endpoint)
        endpointNumbers[endpoint] = number
        return number
    }

    /// The name of endpoint number `number`.
    public func endpointName(_ number: UInt32) -> String { endpointNames[Int(number)] }

    /// The number of a known endpoint.
    public func endpointNumber(_ endpoint: String) -> UInt32? { endpointNumbers[endpoint] }

    /// Pending postbacks per endpoint name.
    public var pendingByEndpoint: [String: Int] {
        Dictionary(uniqueKeysWithValues: pendingPerEndpoint.map { (endpointName($0.key), $0.value) })
    }

    /// Folds one record into the state.
    public mutating func apply(_ entry: DeliveryEntry) {
        records += 1
        let record = entry.record
        if record.carried {
            applyCarried(entry)
            return
        }
        switch record.kind {
        case .queued, .requeued:
            queue(entry, attempts: 0)
            if failedJobs.removeValue(forKey: record.conversionID) == nil && record.kind == .requeued && archivedFailed > 0 {
                archivedFailed -= 1  // it had failed before the last compaction
            }
            affiliates[record.affID, default: AffiliateDeliveries(affID: record.affID)].queued += 1
            if record.kind == .queued { planned(record.conversionID) } else {
                requeued += 1
                requeuedSinceCompaction.insert(record.conversionID)
            }
        case .skipped:
            skippedUnknownAffiliate += 1
            planned(record.conversionID)
        case .retryRequest:
            let words = entry.detail.split(separator: " ", maxSplits: 2)
            if words.count >= 2, let count = Int(words[1]) { retryRequests[String(words[0])] = count }
        case .attempt:
            applyAttempt(entry)
        case .pause:
            endpoints[entry.endpoint, default: EndpointState(endpoint: entry.endpoint)].paused = true
            endpoints[entry.endpoint]!.pausedAtMillis = record.timeMillis
        case .resume:
            endpoints[entry.endpoint, default: EndpointState(endpoint: entry.endpoint)].paused = false
            endpoints[entry.endpoint]!.pausedAtMillis = 0  // as compaction carries it: no pause, no time
            endpoints[entry.endpoint]!.consecutiveFailures = 0
        case .tally:
            break  // only ever carried
        }
    }

    /// Makes a `queued` or `requeued` record's job pending (replacing an earlier one of the same conversion).
    mutating func queue(_ entry: DeliveryEntry, attempts: UInt8) {
        let record = entry.record
        let endpoint = intern(entry.endpoint)
        if let old = pending[record.conversionID] { pendingPerEndpoint[old.endpoint, default: 1] -= 1 }
        pendingPerEndpoint[endpoint, default: 0] += 1
        pending[record.conversionID] = PendingDelivery(dueMillis: record.nextMillis, queuedAt: entry.sequence, endpoint: endpoint,
                                                       attempts: attempts)
        endpoints[entry.endpoint, default: EndpointState(endpoint: entry.endpoint)].affiliates.insert(record.affID)
    }

    /// An attempt's outcome: counts, the endpoint's failure streak, and the job's next step.
    mutating func applyAttempt(_ entry: DeliveryEntry) {
        let record = entry.record
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
            remember(FailedDelivery(conversionID: record.conversionID, affID: record.affID, endpoint: entry.endpoint,
                                    attempts: Int(record.attempt), timeMillis: record.timeMillis,
                                    httpStatus: Int(record.httpStatus), detail: entry.detail, outcome: outcome))
        case .retry: break
        }
        endpoints[entry.endpoint] = endpoint
        affiliates[record.affID] = affiliate
        if outcome.isFinal {
            if let job = pending.removeValue(forKey: record.conversionID) {
                pendingPerEndpoint[job.endpoint, default: 1] -= 1
                if pendingPerEndpoint[job.endpoint] == 0 { pendingPerEndpoint[job.endpoint] = nil }
                if outcome != .delivered {
                    failedJobs[record.conversionID] = FailedJob(
                        conversionID: record.conversionID, affID: record.affID, endpoint: endpointName(job.endpoint),
                        url: urls?.detail(at: job.queuedAt) ?? "", failedAtMillis: record.timeMillis, outcome: outcome)
                }
            }
        } else if var job = pending[record.conversionID] {
            job.attempts = record.attempt
            job.dueMillis = record.nextMillis
            pending[record.conversionID] = job
        }
    }

    /// Keeps a final failure among the most recent `failureMemory`.
    mutating func remember(_ failure: FailedDelivery) {
        failures.append(failure)
        if failures.count > failureMemory { failures.removeFirst(failures.count - failureMemory) }
    }

    /// A conversion was planned (queued or skipped): conversions are planned in order per shard, so
    /// the scan resumes after the highest one.
    mutating func planned(_ conversionID: UInt64) {
        let shard = Int((conversionID - 1) >> 40)
        let sequence = (conversionID - 1) & (1 << 40 - 1)
        queuedThrough[shard] = max(queuedThrough[shard] ?? 0, sequence + 1)
    }

    /// Replays a whole log (for `.history`, call it for the archive, then for the live generation,
    /// on the same ledger: see `DeliveryHistory`).
    public static func replay(_ log: DeliveryLog, pauseAfter: Int) -> DeliveryLedger {
        var ledger = DeliveryLedger(pauseAfter: pauseAfter)
        ledger.replay(log, mode: .live)
        return ledger
    }

    /// Folds every record of `log` in, reading URLs from it.
    public mutating func replay(_ log: DeliveryLog, mode: DeliveryReplay) {
        self.mode = mode
        urls = log
        log.forEach { apply($0) }
    }

    /// The state as readers see it (costs the number of endpoints, affiliates and kept failures).
    public func snapshot(inFlight: Int = 0, scanned: [UInt64] = []) -> DeliverySnapshot {
        var snapshot = DeliverySnapshot()
        snapshot.pending = pending.count
        snapshot.inFlight = inFlight
        snapshot.endpoints = endpoints.values.sorted { $0.endpoint < $1.endpoint }
        snapshot.affiliates = affiliates.values.sorted { $0.affID < $1.affID }
        snapshot.pendingByEndpoint = pendingByEndpoint
        snapshot.failures = failures
        snapshot.scanned = scanned
        snapshot.failedNow = failedJobs.count + archivedFailed
        snapshot.requeued = requeued
        snapshot.skippedUnknownAffiliate = skippedUnknownAffiliate
        return snapshot
    }
}
