// `trackstar deliveries`: success rate, pending, paused endpoints and the last error per endpoint,
// read from the delivery log (a running server's too: reading changes nothing on disk).
import TrackstarCore
import TrackstarStore

/// Text and JSON renderings of a delivery ledger.
public enum DeliveryReport {
    /// Human-readable tables. `affiliate` limits them to one affiliate; `failed` adds the failures.
    public static func table(_ ledger: DeliverySnapshot, affiliate: UInt32?, failed: Bool) -> String {
        var out = ""
        let endpoints = ledger.endpoints.filter { affiliate == nil || $0.affiliates.contains(affiliate!) }
            .sorted { $0.endpoint < $1.endpoint }
        let paused = endpoints.filter(\.paused)
        out += "endpoints (\(endpoints.count), \(paused.count) paused)\n"
        var rows = [["ENDPOINT", "STATE", "PENDING", "DELIVERED", "FAILED", "ATTEMPTS", "LAST ERROR"]]
        for endpoint in endpoints {
            rows.append([endpoint.endpoint, endpoint.paused ? "PAUSED" : "active", String((ledger.pendingByEndpoint[endpoint.endpoint] ?? 0)),
                         String(endpoint.delivered), String(endpoint.failed), String(endpoint.attempts),
                         endpoint.lastError.map(errorText) ?? "-"])
        }
        out += columns(rows)
        out += "\naffiliates\n"
        rows = [["AFFILIATE", "QUEUED", "DELIVERED", "FAILED", "PENDING", "SUCCESS", "AVG ATTEMPT"]]
        for entry in ledger.affiliates where affiliate == nil || entry.affID == affiliate {
            let average = entry.attempts == 0 ? "-" : milliseconds(entry.latencyMicrosTotal / Int64(entry.attempts))
            rows.append([String(entry.affID), String(entry.queued), String(entry.delivered), String(entry.failed),
                         String(entry.pending), percent(entry.successRate), average])
        }
        out += columns(rows)
        out += "\n\(ledger.failedNow) failed for good and not sent again (trackstar deliveries --retry-failed), "
            + "\(ledger.requeued) re-queued by retry requests, \(ledger.skippedUnknownAffiliate) conversions of removed affiliates not sent\n"
        if failed {
            let failures = ledger.failures.filter { affiliate == nil || $0.affID == affiliate }
            out += "\nfailed deliveries (\(failures.count), most recent last)\n"
            rows = [["CONVERSION", "AFFILIATE", "ENDPOINT", "ATTEMPTS", "WHEN (UTC)", "OUTCOME", "STATUS", "DETAIL"]]
            for failure in failures {
                rows.append([String(failure.conversionID), String(failure.affID), failure.endpoint, String(failure.attempts),
                             timestamp(failure.timeMillis), failure.outcome.name, failure.httpStatus == 0 ? "-" : String(failure.httpStatus),
                             String(failure.detail.prefix(80))])
            }
            out += columns(rows)
        }
        return out
    }

    /// One JSON object: endpoints, affiliates and (with `failed`) failures.
    public static func json(_ ledger: DeliverySnapshot, affiliate: UInt32?, failed: Bool) -> String {
        var parts: [String] = []
        let endpoints = ledger.endpoints.filter { affiliate == nil || $0.affiliates.contains(affiliate!) }
            .sorted { $0.endpoint < $1.endpoint }
        parts.append("\"endpoints\":[" + endpoints.map { endpoint in
            var fields = ["\"endpoint\":\(quote(endpoint.endpoint))", "\"paused\":\(endpoint.paused)",
                          "\"pending\":\((ledger.pendingByEndpoint[endpoint.endpoint] ?? 0))", "\"delivered\":\(endpoint.delivered)",
                          "\"failed\":\(endpoint.failed)", "\"attempts\":\(endpoint.attempts)",
                          "\"consecutive_failures\":\(endpoint.consecutiveFailures)"]
            if let error = endpoint.lastError {
                fields.append("\"last_error\":{\"time\":\(quote(timestamp(error.timeMillis))),\"http_status\":\(error.httpStatus),\"detail\":\(quote(error.detail))}")
            }
            return "{" + fields.joined(separator: ",") + "}"
        }.joined(separator: ",") + "]")
        let affiliates = ledger.affiliates.filter { affiliate == nil || $0.affID == affiliate }
        parts.append("\"affiliates\":[" + affiliates.map { entry in
            "{\"aff_id\":\(entry.affID),\"queued\":\(entry.queued),\"delivered\":\(entry.delivered),\"failed\":\(entry.failed),"
                + "\"pending\":\(entry.pending),\"success_rate\":\(entry.successRate)}"
        }.joined(separator: ",") + "]")
        if failed {
            parts.append("\"failures\":[" + ledger.failures.filter { affiliate == nil || $0.affID == affiliate }.map { failure in
                "{\"conversion_id\":\(failure.conversionID),\"aff_id\":\(failure.affID),\"endpoint\":\(quote(failure.endpoint)),"
                    + "\"attempts\":\(failure.attempts),\"time\":\(quote(timestamp(failure.timeMillis))),\"outcome\":\"\(failure.outcome.name)\","
                    + "\"http_status\":\(failure.httpStatus),\"detail\":\(quote(failure.detail))}"
            }.joined(separator: ",") + "]")
        }
        parts.append("\"pending\":\(ledger.pending),\"in_flight\":\(ledger.inFlight),\"failed_now\":\(ledger.failedNow),"
            + "\"requeued\":\(ledger.requeued),\"skipped_unknown_affiliate\":\(ledger.skippedUnknownAffiliate)")
        return "{" + parts.joined(separator: ",") + "}\n"
    }

    static func errorText(_ error: AttemptSummary) -> String {
        let what = error.httpStatus > 0 ? "HTTP \(error.httpStatus)" : "no answer"
        return "\(timestamp(error.timeMillis)) \(what): \(error.detail.prefix(60))"
    }

    static func percent(_ rate: Double) -> String {
        let tenths = Int((rate * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }

    static func milliseconds(_ micros: Int64) -> String { "\(micros / 1000).\(micros % 1000 / 100) ms" }

    /// `YYYY-MM-DD HH:MM:SS` in UTC.
    static func timestamp(_ millis: Int64) -> String { UTCTime.text(millis: millis, style: .spaced) }

    static func quote(_ text: String) -> String { JSONText.quoted(text) }

    static func columns(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = Array(repeating: 0, count: first.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// Appends a resume record to the log of a server that is not running (the caller holds the
    /// writer's lock by having opened `log` as writer). False when the endpoint is not paused.
    public static func resumeOffline(_ log: DeliveryLog, endpoint: String, nowMillis: Int64) -> Bool {
        let ledger = DeliveryLedger.replay(log, pauseAfter: Int.max)
        guard ledger.endpoints[endpoint]?.paused == true else { return false }
        let ok = log.append(DeliveryRecord(kind: .resume, conversionID: 0, timeMillis: nowMillis), endpoint: endpoint,
                            detail: "resumed by an operator (offline)")
        return ok && log.sync() == nil
    }
}
