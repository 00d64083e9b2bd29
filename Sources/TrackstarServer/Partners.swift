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

    static func metricsText(_ snapshot: DeliverySnapshot) -> String {
        var text = "# HELP trackstar_partner_queue Partner postbacks waiting for delivery (pending, not yet final).\n"
            + "# TYPE trackstar_partner_queue gauge\ntrackstar_partner_queue \(snapshot.pending)\n"
            + "# HELP trackstar_partner_in_flight Partner postback attempts running now.\n"
            + "# TYPE trackstar_partner_in_flight gauge\ntrackstar_partner_in_flight \(snapshot.inFlight)\n"
        text += "# HELP trackstar_partner_deliveries_total Partner postbacks by final outcome.\n# TYPE trackstar_partner_deliveries_total counter\n"
        let delivered = snapshot.endpoints.reduce(0) { $0 + $1.delivered }
        let failed = snapshot.endpoints.reduce(0) { $0 + $1.failed }
        text += "trackstar_partner_deliveries_total{outcome=\"delivered\"} \(delivered)\n"
        text += "trackstar_partner_deliveries_total{outcome=\"failed\"} \(failed)\n"
        text += "# HELP trackstar_partner_skipped_total Conversions recorded without a partner postback, by reason "
            + "(unknown_affiliate: the affiliate is no longer in the configuration).\n# TYPE trackstar_partner_skipped_total counter\n"
            + "trackstar_partner_skipped_total{reason=\"unknown_affiliate\"} \(snapshot.skippedUnknownAffiliate)\n"
        text += "# HELP trackstar_partner_requeued_total Failed partner postbacks queued again by retry requests.\n"
            + "# TYPE trackstar_partner_requeued_total counter\ntrackstar_partner_requeued_total \(snapshot.requeued)\n"
        text += "# HELP trackstar_partner_attempts_total Partner postback attempts made.\n# TYPE trackstar_partner_attempts_total counter\n"
        text += "trackstar_partner_attempts_total \(snapshot.endpoints.reduce(0) { $0 + $1.attempts })\n"
        text += "# HELP trackstar_partner_endpoint_paused Whether an endpoint is paused after repeated failures (1) or not (0).\n"
            + "# TYPE trackstar_partner_endpoint_paused gauge\n"
        for endpoint in snapshot.endpoints {
            text += "trackstar_partner_endpoint_paused{endpoint=\"\(endpoint.endpoint)\"} \(endpoint.paused ? 1 : 0)\n"
        }
        text += "# HELP trackstar_partner_endpoint_pending Partner postbacks pending per endpoint.\n# TYPE trackstar_partner_endpoint_pending gauge\n"
        for endpoint in snapshot.endpoints {
            text += "trackstar_partner_endpoint_pending{endpoint=\"\(endpoint.endpoint)\"} \(snapshot.pendingByEndpoint[endpoint.endpoint] ?? 0)\n"
        }
        return text
    }
}
