// Re-sending partner postbacks that failed for good (a 4xx, or the retry limit): an operator's
// request selects them by endpoint, affiliate, failure time or conversion id and queues each again,
// with its stored URL or one rendered from the current configuration. Each is a `requeued` record in
// the delivery log, followed by one `retryRequest` record naming the request, so the same request
// carried out twice queues nothing the second time.
import TrackstarCore
import TrackstarStore

/// Which failed postbacks an operator's retry request selects; every given criterion must match.
public struct RetrySelection: Sendable, Equatable {
    /// `scheme://host:port` the postbacks failed at.
    public var endpoint: String?
    public var affID: UInt32?
    /// Failed at or after this time (Unix ms).
    public var fromMillis: Int64?
    /// Failed before this time (Unix ms).
    public var toMillis: Int64?
    public var conversionID: UInt64?
    /// Render each URL again from the current configuration instead of re-sending the stored one.
    public var rerender = false
    /// Names the request: a request carried out once is not carried out again (1–64 of `A-Z a-z 0-9 - _`).
    public var requestID: String

    public init(requestID: String) { self.requestID = requestID }

    /// Why the selection cannot be used, or nil.
    public var problem: String? {
        if !RetrySelection.isValidRequestID(requestID) { return "request: expected 1 to 64 letters, digits, '-' or '_'" }
        if endpoint == nil && affID == nil && fromMillis == nil && toMillis == nil && conversionID == nil {
            return "say which failed postbacks to send again: endpoint, affiliate, from/to or conversion"
        }
        if let fromMillis, let toMillis, fromMillis >= toMillis { return "from must be before to" }
        return nil
    }

    public static func isValidRequestID(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count) && text.utf8.allSatisfy {
            ByteWriter.isUnreserved($0) && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "~")
        }
    }

    func matches(_ job: FailedJob) -> Bool {
        (endpoint == nil || job.endpoint == endpoint) && (affID == nil || job.affID == affID)
            && (fromMillis == nil || job.failedAtMillis >= fromMillis!) && (toMillis == nil || job.failedAtMillis < toMillis!)
            && (conversionID == nil || job.conversionID == conversionID)
    }

    /// The selection as one line, for the log record and messages.
    var summary: String {
        var parts: [String] = []
        if let endpoint { parts.append("endpoint=\(endpoint)") }
        if let affID { parts.append("affiliate=\(affID)") }
        if let fromMillis { parts.append("from=\(fromMillis)") }
        if let toMillis { parts.append("to=\(toMillis)") }
        if let conversionID { parts.append("conversion=\(conversionID)") }
        if rerender { parts.append("rerender") }
        return parts.joined(separator: " ")
    }
}

/// What a retry request did.
public struct RetryResult: Sendable, Equatable {
    public var requestID: String
    /// Postbacks queued again (by this request, or by its first run when `repeated`).
    public var requeued: Int
    /// Selected, but the current configuration sends nothing for them (only with `rerender`); left failed.
    public var notRouted: [UInt64] = []
    /// The request had been carried out before: nothing was queued now.
    public var repeated = false
    /// The log refused a record (disk full): the rest stay failed; the same request may be sent again.
    public var storageFailed = false

    /// One line for the operator.
    public var text: String {
        if repeated { return "retry request \(requestID) was already carried out: it queued \(requeued) postbacks; nothing queued again\n" }
        var text = "retry request \(requestID): queued \(requeued) failed postbacks again\n"
        if !notRouted.isEmpty {
            text += "\(notRouted.count) left failed: the current configuration sends no postback for conversions "
                + notRouted.prefix(20).map(String.init).joined(separator: ", ") + (notRouted.count > 20 ? ", …" : "") + "\n"
        }
        if storageFailed { text += "the delivery log refused a record (disk full?); send the same request again\n" }
        return text
    }

    /// The result as a JSON object.
    public var json: String {
        "{\"request\":\(JSONText.quoted(requestID)),\"requeued\":\(requeued),\"repeated\":\(repeated),"
            + "\"not_routed\":[\(notRouted.map(String.init).joined(separator: ","))],\"storage_failed\":\(storageFailed)}\n"
    }
}

/// Carries out retry requests against a ledger, appending through the caller (the dispatcher online,
/// or the CLI holding the log's lock offline).
public enum DeliveryRetry {
    /// Queues the selected failed postbacks again. `render` gives the current endpoint and URL of a
    /// conversion (nil: nothing is sent for it now); it is asked only with `selection.rerender`.
    /// `append` writes one record to the log and folds it into `ledger`; false when the disk refuses.
    public static func run(_ selection: RetrySelection, ledger: DeliveryLedger, nowMillis: Int64,
                           render: (FailedJob) -> (endpoint: String, url: String)?,
                           append: (DeliveryRecord, _ endpoint: String, _ detail: String) -> Bool) -> RetryResult {
        run(selection, retryRequests: ledger.retryRequests, jobs: ledger.failedJobs.values.filter(selection.matches),
            nowMillis: nowMillis, render: render, append: append)
    }

    /// Queues `jobs` (the failed postbacks `selection` picked) again, unless a request of the same id
    /// was carried out before (`retryRequests`, the live ledger's: carried across compactions).
    public static func run(_ selection: RetrySelection, retryRequests: [String: Int], jobs: [FailedJob], nowMillis: Int64,
                           render: (FailedJob) -> (endpoint: String, url: String)?,
                           append: (DeliveryRecord, _ endpoint: String, _ detail: String) -> Bool) -> RetryResult {
        if let count = retryRequests[selection.requestID] {
            return RetryResult(requestID: selection.requestID, requeued: count, repeated: true)
        }
        var result = RetryResult(requestID: selection.requestID, requeued: 0)
        for job in jobs.sorted(by: { $0.conversionID < $1.conversionID }) {
            var target = (endpoint: job.endpoint, url: job.url)
            if selection.rerender {
                guard let rendered = render(job) else { result.notRouted.append(job.conversionID); continue }
                target = rendered
            }
            var record = DeliveryRecord(kind: .requeued, conversionID: job.conversionID, timeMillis: nowMillis)
            record.affID = job.affID
            record.nextMillis = nowMillis
            guard append(record, target.endpoint, target.url) else { result.storageFailed = true; return result }
            result.requeued += 1
        }
        var marker = DeliveryRecord(kind: .retryRequest, conversionID: 0, timeMillis: nowMillis)
        marker.affID = selection.affID ?? 0
        if !append(marker, selection.endpoint ?? "", "\(selection.requestID) \(result.requeued) \(selection.summary)") {
            result.storageFailed = true
        }
        return result
    }
}

extension DeliveryRetry {
    /// The failed postbacks `selection` picks: those that failed in the live generation (`ledger`,
    /// the live log's replay) and those of the archive's failed index not queued again since. By
    /// conversion id, a binary search of the index; otherwise one pass over the index (failures
    /// only), never over the archive. Without an index (an archive compacted by an earlier
    /// release) the whole history is replayed, as before.
    public static func select(_ selection: RetrySelection, ledger: DeliveryLedger, live: DeliveryLog) throws(StoreError) -> [FailedJob] {
        guard var index = try FailedIndex.open(of: live) else {
            return try DeliveryHistory.ledger(live: live, pauseAfter: Int.max).failedJobs.values.filter(selection.matches)
        }
        var jobs = ledger.failedJobs.values.filter(selection.matches)
        func stillFailed(_ job: FailedJob) -> Bool {
            selection.matches(job) && ledger.failedJobs[job.conversionID] == nil && ledger.pending[job.conversionID] == nil
                && !ledger.requeuedSinceCompaction.contains(job.conversionID)
        }
        if let id = selection.conversionID {
            if let job = index.job(id), stillFailed(job) { jobs.append(job) }
        } else {
            index.forEach { job in
                if stillFailed(job) { jobs.append(job) }
                return true
            }
        }
        return jobs
    }

    /// A retry request against the log of a server that is not running (the caller opened `log` as
    /// writer, so it holds the lock), selecting from the live generation and the archive's failed index.
    /// Re-sending with the stored URLs only: rendering needs the conversion logs and the running
    /// configuration, so `rerender` is for a running server.
    public static func runOffline(_ selection: RetrySelection, log: DeliveryLog, nowMillis: Int64) -> RetryResult {
        var ledger = DeliveryLedger.replay(log, pauseAfter: Int.max)
        guard let jobs = try? select(selection, ledger: ledger, live: log) else {
            var failed = RetryResult(requestID: selection.requestID, requeued: 0)
            failed.storageFailed = true
            return failed
        }
        var result = run(selection, retryRequests: ledger.retryRequests, jobs: jobs, nowMillis: nowMillis, render: { _ in nil }) {
            record, endpoint, detail in
            guard log.append(record, endpoint: endpoint, detail: detail) else { return false }
            ledger.apply(DeliveryEntry(record: record, endpoint: endpoint, detail: detail, sequence: log.count - 1))
            return true
        }
        if log.sync() != nil { result.storageFailed = true }
        return result
    }
}

/// A retry request that cannot be carried out, said so the operator can fix it.
public struct RetryRequestError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension RetrySelection {
    /// The parameter names a retry request uses, in the admin route and (as `--NAME`) in the CLI.
    public static let parameterNames = ["endpoint", "affiliate", "from", "to", "conversion", "rerender", "request"]

    /// Reads a selection from named parameters: `endpoint` (any URL on it), `affiliate`, `from` and
    /// `to` (UTC, `YYYY-MM-DD[ HH:MM[:SS]]`; a date alone as `to` includes that day), `conversion`,
    /// `rerender` (`1` or `true`) and `request` (a new random id when absent).
    public static func parse(_ value: (String) -> String?) throws(RetryRequestError) -> RetrySelection {
        let request = value("request") ?? newRequestID()
        var selection = RetrySelection(requestID: request)
        if let text = value("endpoint") {
            guard let endpoint = PartnerTemplate.endpoint(of: text) else {
                throw RetryRequestError("endpoint: expected scheme://host:port such as https://partner.example:443, got \(text)")
            }
            selection.endpoint = endpoint
        }
        if let text = value("affiliate") {
            guard let id = UInt32(text) else { throw RetryRequestError("affiliate: expected an affiliate id, got \(text)") }
            selection.affID = id
        }
        for name in ["from", "to"] {
            guard let text = value(name) else { continue }
            guard let (millis, dateOnly) = UTCTime.parse(text) else {
                throw RetryRequestError("\(name): expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] (UTC), got \(text)")
            }
            if name == "from" { selection.fromMillis = millis } else { selection.toMillis = dateOnly ? millis + UTCTime.dayMillis : millis }
        }
        if let text = value("conversion") {
            guard let id = UInt64(text), id > 0 else { throw RetryRequestError("conversion: expected a conversion id, got \(text)") }
            selection.conversionID = id
        }
        if let text = value("rerender") {
            guard ["1", "true", "0", "false"].contains(text) else { throw RetryRequestError("rerender: expected 1 or 0, got \(text)") }
            selection.rerender = text == "1" || text == "true"
        }
        if let problem = selection.problem { throw RetryRequestError(problem) }
        return selection
    }

    /// 16 random hex digits.
    public static func newRequestID() -> String {
        var random = SystemRandomNumberGenerator()
        let digits = String(random.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
