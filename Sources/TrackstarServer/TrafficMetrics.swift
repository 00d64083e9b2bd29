// /metrics for traffic control (issue 14): clicks sent to trafficback by reason, and each cap's
// limit and the units used in its current window (day and month in the offer's time zone).
import TrackstarCore
import TrackstarStore

extension MetricsWriter {
    func writeTraffic(_ w: inout ByteWriter) {
        let loops = engine.metrics
        metric(&w, "trackstar_trafficback_clicks_total", "counter",
               "Clicks their offer could not take (paused, capped, targeting, bot with bot_action fallback, no eligible smart-link offer), by reason.",
               TrafficReason.allCases.dropFirst().map { reason in
                   (PrometheusText.label("reason", "\(reason.name)"), loops.reduce(0) { $0 &+ $1.trafficback.read(reason) })
               })
        let catalog = engine.catalog
        let now = WallClock.nowMillis()
        var used: [(String, UInt64)] = []
        var limits: [(String, UInt64)] = []
        for offer in catalog.offers.values.sorted(by: { $0.id < $1.id }) {
            guard let caps = offer.caps else { continue }
            let windows = caps.zone.windows(now)
            var plans: [(UInt32, CapPlan)] = caps.offer.map { [(UInt32(0), $0)] } ?? []
            plans += zip(caps.affiliateIDs, caps.affiliatePlans).map { ($0, $1) }
            for (affiliate, plan) in plans {
                for counter in CapCounter.allCases where plan.limit(counter) != .max {
                    let labels = "offer=\"\(offer.id)\",aff=\"\(affiliate)\",cap=\"\(counter.key)\""
                    used.append((labels, plan.line.used(counter, window: CapPlan.window(counter, windows))))
                    limits.append((labels, plan.limit(counter)))
                }
            }
        }
        metric(&w, "trackstar_cap_used", "gauge",
               "Units taken of each cap in its current window (aff=\"0\": the offer's own caps).", used)
        metric(&w, "trackstar_cap_limit", "gauge", "Each configured cap's limit.", limits)
    }
}
