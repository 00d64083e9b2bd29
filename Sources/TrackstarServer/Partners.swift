// Wires partner postbacks into the server: the dispatcher reads the engine's conversion logs
// (through the same ExportSource the reporting feed uses), follows configuration reloads, and
// shows its queue in /metrics.
import TrackstarCore
import TrackstarDelivery
import TrackstarExport
import TrackstarIO
import TrackstarStore

/// The server's partner-postback dispatcher.
final class PartnerFeed: @unchecked Sendable {  // set once in init
    let dispatcher: Dispatcher

    init(engine: Engine) throws(StartupError) {
        let codec = engine.codec, node = engine.node
        let source = ExportSource(
            clicks: engine.clicks, conversions: engine.conversions, refusals: engine.refusals,
            clickIDText: { shard, sequence, mintMillis in
                ReportFeed.clickIDText(codec, ClickID(node: node, shard: UInt8(shard), sequence: sequence,
                                                      mintMinute: ClickID.minute(unixMillis: mintMillis), keyID: 0))
            },
            eventName: { [weak engine] offerID, index in engine.map { ReportFeed.eventName($0.catalog, offerID, index) } ?? "conversion" },
            offerCurrency: { [weak engine] offerID in engine?.catalog.offer(offerID)?.currencyCode ?? 0 })
        do {
            dispatcher = try Dispatcher(config: engine.config, source: source, message: { Log.info($0) }, warn: { Log.warning($0) })
        } catch {
            throw StartupError("deliveries: \(error.description)")
        }
        engine.deliveries = dispatcher
        let previous = engine.extraMetrics
        engine.extraMetrics = { [dispatcher] in (previous?() ?? "") + PartnerFeed.metricsText(dispatcher.snapshot) }
    }

    func start() throws(StartupError) {
        do { try dispatcher.start() } catch { throw StartupError("deliveries: \(error.description)") }
    }
    func stop() { dispatcher.stop() }

    /// The dispatcher's state in the Prometheus text format (endpoint labels escaped).
    static func metricsText(_ snapshot: DeliverySnapshot) -> String {
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
