// The dispatcher as one of the server's log feeds: what retention must keep for it, and its figures
// for /metrics. It reads conversion logs from its committed scan position and, while planning a
// conversion, that conversion's click (the partner URL's click macros).
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

extension Dispatcher: LogFeed {
    public var feedName: String { "deliveries" }

    /// The largest planning backlog whose clicks are looked up for retention; beyond it, every click
    /// is held (conservative: retention waits until planning catches up).
    static let backlogScanLimit: UInt64 = 100_000

    /// Conversions: from the committed scan position. Clicks: from the oldest click that an
    /// unplanned conversion refers to, per click shard (nothing held when planning is caught up).
    /// Refusals: not read.
    public func retentionFloors(shards: Int) -> RetentionFloors {
        pthread_mutex_lock(&mutex)
        let committed = committedScan
        pthread_mutex_unlock(&mutex)
        var floors = RetentionFloors(shards: shards)
        var budget = Dispatcher.backlogScanLimit
        for shard in 0..<min(shards, source.shardCount) {
            let from = shard < committed.count ? committed[shard] : 0
            floors.conversions[shard] = from
            guard let table = source.table(.conversions, shard: shard) else { continue }
            let end = table.publishedCount
            guard end <= from || end - from <= budget else {
                return RetentionFloors(shards: shards, value: 0).with(conversions: committed, shards: shards)
            }
            var sequence = from
            while sequence < end {
                defer { sequence += 1 }
                guard let record = table.record(sequence) else { continue }
                var clickRef = ConversionRecord.clickRef(record)
                if ConversionRecord.kind(record) == .transition {  // its click is its conversion's
                    let id = TransitionRecord.conversionID(record)
                    guard id != 0, let conversion = source.table(.conversions, shard: Int((id - 1) >> 40))?.record((id - 1) & ClickID.maxSequence)
                    else { continue }
                    clickRef = ConversionRecord.clickRef(conversion)
                }
                let clickShard = Int(clickRef >> 40)
                if clickShard < shards { floors.clicks[clickShard] = min(floors.clicks[clickShard], clickRef & ClickID.maxSequence) }
            }
            budget -= end > from ? end - from : 0
        }
        return floors
    }

    /// The dispatcher's state in the Prometheus text format (endpoint labels escaped).
    public func metricsText() -> String { Dispatcher.metricsText(snapshot) }

    /// `snapshot` as Prometheus text.
    public static func metricsText(_ snapshot: DeliverySnapshot) -> String {
        var out = PrometheusText()
        out.metric("trackstar_partner_queue", type: "gauge", help: "Partner postbacks waiting for delivery (pending, not yet final).",
                   [("", snapshot.pending)])
        out.metric("trackstar_partner_in_flight", type: "gauge", help: "Partner postback attempts running now.", [("", snapshot.inFlight)])
        let delivered = snapshot.endpoints.reduce(0) { $0 + $1.delivered }
        let failed = snapshot.endpoints.reduce(0) { $0 + $1.failed }
        out.metric("trackstar_partner_deliveries_total", type: "counter", help: "Partner postbacks by final outcome.",
                   [(PrometheusText.label("outcome", "delivered"), delivered), (PrometheusText.label("outcome", "failed"), failed)])
        out.metric("trackstar_partner_skipped_total", type: "counter",
                   help: "Conversions recorded without a partner postback, by reason (unknown_affiliate: the affiliate is no longer in the configuration).",
                   [(PrometheusText.label("reason", "unknown_affiliate"), snapshot.skippedUnknownAffiliate)])
        out.metric("trackstar_partner_requeued_total", type: "counter", help: "Failed partner postbacks queued again by retry requests.",
                   [("", snapshot.requeued)])
        out.metric("trackstar_partner_attempts_total", type: "counter", help: "Partner postback attempts made.",
                   [("", snapshot.endpoints.reduce(0) { $0 + $1.attempts })])
        out.metric("trackstar_partner_endpoint_paused", type: "gauge", help: "Whether an endpoint is paused after repeated failures (1) or not (0).",
                   snapshot.endpoints.map { (PrometheusText.label("endpoint", $0.endpoint), $0.paused ? 1 : 0) })
        out.metric("trackstar_partner_endpoint_pending", type: "gauge", help: "Partner postbacks pending per endpoint.",
                   snapshot.endpoints.map { (PrometheusText.label("endpoint", $0.endpoint), snapshot.pendingByEndpoint[$0.endpoint] ?? 0) })
        return out.text
    }
}

extension RetentionFloors {
    /// These floors with the conversion floors set from `committed` (missing shards: 0).
    func with(conversions committed: [UInt64], shards: Int) -> RetentionFloors {
        var floors = self
        for shard in 0..<shards { floors.conversions[shard] = shard < committed.count ? committed[shard] : 0 }
        return floors
    }
}
