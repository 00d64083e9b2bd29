// What compaction carries from one generation of the delivery log into the next, and how a replay
// reads it back: each pending job (its URL and where it stands), paused endpoints, the most recent
// failures, retry requests, and tallies that set the counts. Replaying the carried records alone
// rebuilds the ledger the dispatcher had; the finished history itself moves to the archive.
import TrackstarCore

extension DeliveryLedger {
    /// What a tally record counts (its `attempt` byte).
    enum TallySubject: UInt8 { case endpoint = 1, affiliate = 2, totals = 3, membership = 4 }

    /// Folds in a carried record: the live state in `.live`; in `.history` only a job's new place.
    mutating func applyCarried(_ entry: DeliveryEntry) {
        let record = entry.record
        if record.kind == .queued || record.kind == .requeued {
            if var job = pending[record.conversionID] {  // history: the job the archive holds, now in the live log
                job.queuedAt = entry.sequence
                pending[record.conversionID] = job
            } else {
                queue(entry, attempts: record.attempt)
            }
            return
        }
        guard mode == .live else { return }
        switch record.kind {
        case .attempt: applyAttempt(entry)  // a recent failure; its counts are set again by the tallies after it
        case .pause, .retryRequest:
            var copy = entry
            copy.record.carried = false
            records -= 1
            apply(copy)
        case .tally: applyTally(entry)
        default: break
        }
    }

    /// Sets the counts a tally carries.
    mutating func applyTally(_ entry: DeliveryEntry) {
        let record = entry.record
        let lines = entry.detail.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        var words: [Substring: Substring] = [:]
        for word in (lines.first ?? "").split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { continue }
            words[word[..<equals]] = word[word.index(after: equals)...]
        }
        func number(_ name: Substring) -> Int { words[name].flatMap { Int($0) } ?? 0 }
        switch TallySubject(rawValue: record.attempt) {
        case .endpoint:
            var state = endpoints[entry.endpoint] ?? EndpointState(endpoint: entry.endpoint)
            state.delivered = number("delivered"); state.failed = number("failed"); state.attempts = number("attempts")
            state.consecutiveFailures = number("consecutive_failures")
            state.lastError = record.timeMillis == 0 ? nil : AttemptSummary(
                timeMillis: record.timeMillis, httpStatus: Int(record.httpStatus), curlCode: Int(record.curlCode),
                detail: lines.count > 1 ? String(lines[1]) : "")
            endpoints[entry.endpoint] = state
        case .membership:
            endpoints[entry.endpoint, default: EndpointState(endpoint: entry.endpoint)].affiliates.insert(record.affID)
        case .affiliate:
            var counts = AffiliateDeliveries(affID: record.affID)
            counts.queued = number("queued"); counts.delivered = number("delivered"); counts.failed = number("failed")
            counts.attempts = number("attempts"); counts.latencyMicrosTotal = Int64(number("latency_us"))
            affiliates[record.affID] = counts
        case .totals:
            skippedUnknownAffiliate = number("skipped")
            requeued = number("requeued")
            archivedFailed = number("archived_failed")
            for pair in (words["queued_through"] ?? "").split(separator: ",") {
                let parts = pair.split(separator: ":")
                if parts.count == 2, let shard = Int(parts[0]), let through = UInt64(parts[1]) {
                    queuedThrough[shard] = max(queuedThrough[shard] ?? 0, through)
                }
            }
        case nil: break
        }
    }

    /// Calls `body` with each record compaction carries into the next generation, in replay order:
    /// retry requests, pauses, recent failures, pending jobs (URL read from `urls`, the live log),
    /// then the tallies (last, so that they set the counts the records before them touched).
    /// Stops early when `body` returns false (the disk refused a record).
    /// `archivedFailed`: the failed postbacks of the new generation's failed index (its tally).
    func forEachCarried(urls: DeliveryLog, nowMillis: Int64, archivedFailed: Int, _ body: (DeliveryEntry) -> Bool) -> Bool {
        func carried(_ kind: DeliveryRecordKind, _ id: UInt64, _ time: Int64, _ setup: (inout DeliveryRecord) -> Void = { _ in })
            -> DeliveryRecord {
            var record = DeliveryRecord(kind: kind, conversionID: id, timeMillis: time)
            record.carried = true
            setup(&record)
            return record
        }
        for (request, count) in retryRequests.sorted(by: { $0.key < $1.key }) {
            guard body(DeliveryEntry(record: carried(.retryRequest, 0, nowMillis), endpoint: "", detail: "\(request) \(count)")) else { return false }
        }
        for state in endpoints.values.sorted(by: { $0.endpoint < $1.endpoint }) where state.paused {
            guard body(DeliveryEntry(record: carried(.pause, 0, state.pausedAtMillis), endpoint: state.endpoint, detail: "paused")) else { return false }
        }
        for failure in failures {
            let record = carried(.attempt, failure.conversionID, failure.timeMillis) {
                $0.affID = failure.affID; $0.attempt = UInt8(clamping: failure.attempts)
                $0.httpStatus = UInt16(clamping: failure.httpStatus); $0.outcome = failure.outcome
            }
            guard body(DeliveryEntry(record: record, endpoint: failure.endpoint, detail: failure.detail)) else { return false }
        }
        for id in pending.keys.sorted() {
            let job = pending[id]!
            let queued = urls.entry(at: job.queuedAt)
            let record = carried(.queued, id, nowMillis) {
                $0.affID = queued?.record.affID ?? 0; $0.nextMillis = job.dueMillis; $0.attempt = job.attempts
            }
            guard body(DeliveryEntry(record: record, endpoint: endpointName(job.endpoint), detail: queued?.detail ?? "")) else { return false }
        }
        return forEachTally(nowMillis: nowMillis, archivedFailed: archivedFailed, body)
    }

    /// The tallies: one per endpoint (and one per affiliate posting there), one per affiliate, one of totals.
    func forEachTally(nowMillis: Int64, archivedFailed: Int, _ body: (DeliveryEntry) -> Bool) -> Bool {
        for state in endpoints.values.sorted(by: { $0.endpoint < $1.endpoint }) {
            var record = DeliveryRecord(kind: .tally, conversionID: 0, timeMillis: state.lastError?.timeMillis ?? 0)
            record.carried = true
            record.attempt = TallySubject.endpoint.rawValue
            record.httpStatus = UInt16(clamping: state.lastError?.httpStatus ?? 0)
            record.curlCode = UInt16(clamping: state.lastError?.curlCode ?? 0)
            let words = "delivered=\(state.delivered) failed=\(state.failed) attempts=\(state.attempts) "
                + "consecutive_failures=\(state.consecutiveFailures)"
            guard body(DeliveryEntry(record: record, endpoint: state.endpoint, detail: words + "\n" + (state.lastError?.detail ?? ""))) else { return false }
            for affiliate in state.affiliates.sorted() {  // one record each: a long list would not fit one detail
                var member = DeliveryRecord(kind: .tally, conversionID: 0, timeMillis: nowMillis)
                member.carried = true
                member.attempt = TallySubject.membership.rawValue
                member.affID = affiliate
                guard body(DeliveryEntry(record: member, endpoint: state.endpoint, detail: "")) else { return false }
            }
        }
        for counts in affiliates.values.sorted(by: { $0.affID < $1.affID }) {
            var record = DeliveryRecord(kind: .tally, conversionID: 0, timeMillis: nowMillis)
            record.carried = true
            record.attempt = TallySubject.affiliate.rawValue
            record.affID = counts.affID
            let words = "queued=\(counts.queued) delivered=\(counts.delivered) failed=\(counts.failed) attempts=\(counts.attempts) "
                + "latency_us=\(counts.latencyMicrosTotal)"
            guard body(DeliveryEntry(record: record, endpoint: "", detail: words)) else { return false }
        }
        var record = DeliveryRecord(kind: .tally, conversionID: 0, timeMillis: nowMillis)
        record.carried = true
        record.attempt = TallySubject.totals.rawValue
        let through = queuedThrough.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
        let words = "skipped=\(skippedUnknownAffiliate) requeued=\(requeued) archived_failed=\(archivedFailed) "
            + "queued_through=\(through)"
        return body(DeliveryEntry(record: record, endpoint: "", detail: words))
    }

    /// After compaction switched to a new generation: the pending jobs' carried records follow one
    /// another from `firstPending` in conversion order (as `forEachCarried` wrote them), the failed
    /// jobs are in the archive (`archivedFailed` of them in its index), and `records` counts the new generation's.
    mutating func compacted(firstPending: UInt64, records: UInt64, urls: DeliveryLog, archivedFailed: Int) {
        for (index, id) in pending.keys.sorted().enumerated() { pending[id]!.queuedAt = firstPending + UInt64(index) }
        self.archivedFailed = archivedFailed
        failedJobs.removeAll()
        requeuedSinceCompaction.removeAll()
        self.records = records
        self.urls = urls
    }
}
