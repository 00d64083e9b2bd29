// One log line per refusal class per interval, never one per request: every `[log] summary_interval`
// a background thread reads the per-loop counters (relaxed loads, as /metrics does) and logs, for each
// postback refusal reason, refused clicks and unparseable requests whose count grew, that growth.
// The request path is untouched: it only bumps the counters it always bumped.
import Logging
import TrackstarCore
import TrackstarStore

/// The summary thread. `start` once, `stop` once (which logs what the last partial interval saw).
final class LogSummary: @unchecked Sendable {  // `previous` is touched only by the summary thread
    /// What a line is about: a postback refusal reason, or an error outcome of any request.
    enum Kind: Hashable {
        case postbacksRefused(RefusalReason)
        case clicksRefused
        case badRequests
        /// Optional postback fields that were unfilled templates (read as absent).
        case unfilledFields
    }

    let metrics: [LoopMetrics]
    let intervalMillis: Int64
    private let thread = StoppableThread()
    private var previous: [Kind: UInt64] = [:]

    init(metrics: [LoopMetrics], intervalMillis: Int64) {
        self.metrics = metrics
        self.intervalMillis = max(1, intervalMillis)
    }

    func start() {
        previous = totals()
        thread.start { [self] in run() }
    }

    /// Stops the thread after it has logged the counts of the interval in progress.
    func stop() { thread.stop() }

    private func run() {
        var intervalStart = WallClock.nowMillis()
        while true {
            let stopping = thread.sleep(until: intervalStart + intervalMillis)
            let now = WallClock.nowMillis()
            report(elapsedMillis: stopping ? now - intervalStart : intervalMillis)
            if stopping { return }
            // Keep a steady cadence; after a stall (suspended process), start afresh from now.
            intervalStart = now - intervalStart >= 2 * intervalMillis ? now : intervalStart + intervalMillis
        }
    }

    /// Logs one warning per kind whose count grew since the last report.
    private func report(elapsedMillis: Int64) {
        let current = totals()
        let seconds = LogSummary.seconds(elapsedMillis)
        for (kind, count) in LogSummary.growth(from: previous, to: current) {
            var metadata: Logger.Metadata = ["count": .stringConvertible(count), "interval_s": seconds]
            switch kind {
            case .postbacksRefused(let reason):
                metadata["reason"] = "\(reason.name)"
                Log.warning("postbacks refused", metadata)
            case .clicksRefused:
                Log.warning("clicks refused", metadata)
            case .badRequests:
                Log.warning("bad requests", metadata)
            case .unfilledFields:
                Log.warning("postback fields were unfilled templates, read as absent; fix the sender's postback template", metadata)
            }
        }
        previous = current
    }

    /// The counters summed over every loop.
    func totals() -> [Kind: UInt64] {
        func sum(_ word: (LoopMetrics) -> UnsafeMutablePointer<UInt64.AtomicRepresentation>) -> UInt64 {
            metrics.reduce(0) { $0 &+ LoopMetrics.read(word($1)) }
        }
        var totals: [Kind: UInt64] = [
            .clicksRefused: sum { $0.counters + LoopMetrics.Counter.clicksRefused.rawValue },
            .badRequests: sum { $0.counters + LoopMetrics.Counter.badRequests.rawValue },
            .unfilledFields: sum { $0.counters + LoopMetrics.Counter.postbackFieldsUnfilled.rawValue },
        ]
        for reason in RefusalReason.allCases {
            totals[.postbacksRefused(reason)] = sum { $0.refusals + Int(reason.rawValue) }
        }
        return totals
    }

    /// The kinds whose count grew, with the growth, in a stable order (clicks, bad requests, then
    /// postback reasons in their declared order).
    static func growth(from before: [Kind: UInt64], to after: [Kind: UInt64]) -> [(Kind, UInt64)] {
        let order: [Kind] = [.clicksRefused, .badRequests, .unfilledFields] + RefusalReason.allCases.map { .postbacksRefused($0) }
        return order.compactMap { kind in
            let grown = (after[kind] ?? 0) &- (before[kind] ?? 0)
            return grown > 0 && grown < 1 << 63 ? (kind, grown) : nil
        }
    }

    /// Whole seconds when the interval is whole, else with a tenth of a second.
    static func seconds(_ millis: Int64) -> Logger.MetadataValue {
        if millis % 1000 == 0 { return .stringConvertible(millis / 1000) }
        return .stringConvertible(Double((millis + 50) / 100) / 10)
    }
}
