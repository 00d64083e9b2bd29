// Where a click goes when its offer cannot take it (issue 14): the offer's `redirect_offer_id` chain
// (each offer's own pause, targeting and caps apply), else a trafficback URL — the last tried offer's,
// the requested offer's, the smart link's, the affiliate's, `[server]`'s — else the offer's
// `fallback_url`. Each such click is recorded with its reason and destination (ClickTraffic.swift).
import Atomics
import TrackstarCore
import TrackstarIO
import TrackstarStore

extension RequestHandler {
    /// A redirect chain longer than this stops and uses a URL (the loader refuses cycles; this
    /// bounds a chain whatever a configuration built in code holds).
    static let maxRedirectHops = 8

    /// Whether `offer` takes this click now: paused, then targeting, then caps — the last takes a unit
    /// of every cap it passes (`take`: false for HEAD, which records nothing and so takes nothing).
    /// A plain offer costs three tests.
    @inline(__always)
    func admits(_ offer: OfferRuntime, affID: UInt32, facts: ClickFacts, nowMillis: Int64, take: Bool) -> TrafficReason {
        if offer.paused { return .offerPaused }
        if !offer.targeting.isEmpty {
            let mismatch = offer.targeting.mismatch(facts)
            if mismatch != .none { return mismatch }
        }
        if take && !takesClick(offer, affID: affID, nowMillis: nowMillis) { return .capReached }
        return .none
    }

    /// Takes a click unit of every cap of `offer` (its own and the affiliate's), all or nothing;
    /// true when it has none. Written with `if let`, not `Optional.map` with a closure: through the
    /// closure `OfferCaps.take` was called, not inlined (callgrind).
    @inline(__always)
    func takesClick(_ offer: OfferRuntime, affID: UInt32, nowMillis: Int64) -> Bool {
        guard let caps = offer.caps, caps.hasClickCaps else { return true }
        return caps.take(.dailyClicks, affiliate: affID, nowMillis: nowMillis)
    }

    /// Whether a paused offer's click has a trafficback destination (else it keeps the behaviour it
    /// had before issue 14: `fallback_url` without a record, or 404).
    func hasTrafficback(_ offer: OfferRuntime, _ affiliate: AffiliateRuntime) -> Bool {
        offer.redirectOfferID != 0 || offer.trafficback != nil || affiliate.trafficback != nil || catalog.serverTrafficback != nil
    }

    /// Sends a click `requested` cannot take (for `reason`) down its redirect chain, else to a
    /// trafficback URL; records it (GET) with the reason and destination. No destination: 404 naming
    /// the reason.
    func divert(_ exchange: Exchange, requested: OfferRuntime, affiliate: AffiliateRuntime, reason: TrafficReason,
                address: PeerAddress, facts: inout ClickFacts, smartLink: SmartLinkRuntime? = nil, to out: inout ByteWriter) {
        let now = exchange.context.nowMillis
        let take = exchange.head.method == .get
        metrics.trafficback.count(reason)
        var last = requested
        var hops = 0
        while smartLink == nil, last.redirectOfferID != 0, hops < RequestHandler.maxRedirectHops, let next = catalog.offer(last.redirectOfferID) {
            hops += 1
            // A bot lands only on an offer that takes bots (`bot_action = "flag"`).
            if reason != .bot || next.botAction == .flag, admits(next, affID: affiliate.id, facts: facts, nowMillis: now, take: take) == .none {
                facts.traffic = ClickTraffic(reason: reason, destination: .offer, requestedOffer: requested.id)
                return land(exchange, offer: next, affID: affiliate.id, address: address, facts: &facts, to: &out)
            }
            last = next
        }
        let destination: TrafficDestination
        let template: URLTemplate
        if let url = last.trafficback { (destination, template) = (.offerTrafficback, url) }
        else if let url = requested.trafficback { (destination, template) = (.offerTrafficback, url) }
        else if let url = smartLink?.trafficback { (destination, template) = (.smartLinkTrafficback, url) }
        else if let url = affiliate.trafficback { (destination, template) = (.affiliateTrafficback, url) }
        else if let url = catalog.serverTrafficback { (destination, template) = (.serverTrafficback, url) }
        else if let url = requested.fallback { (destination, template) = (.offerFallback, url) }
        else {
            return refuseClick(exchange, .notFound, .clickOfferPaused, reason.name, "the offer cannot take this click and no trafficback_url is configured",
                               field: .offerID, to: &out)
        }
        facts.traffic = ClickTraffic(reason: reason, destination: destination, requestedOffer: requested.id, smartlink: smartLink?.id ?? 0)
        land(exchange, offer: requested, affID: affiliate.id, address: address, facts: &facts, trafficback: template, to: &out)
    }

    /// Records the click (GET) under `offer` with its unique flag and traffic extension, and answers
    /// 302 to the offer's landing page, or to `trafficback` when given. A click whose record cannot
    /// be written gives back the cap unit it took.
    func land(_ exchange: Exchange, offer: OfferRuntime, affID: UInt32, address: PeerAddress, facts: inout ClickFacts,
              trafficback: URLTemplate? = nil, to out: inout ByteWriter) {
        if exchange.head.method == .get { markUnique(exchange, offer: offer, address: address, facts: &facts) }
        var values = ClickValues(params: params, offerID: offer.id, affID: affID, nowMillis: exchange.context.nowMillis, facts: facts)
        if exchange.head.method == .get {
            guard mint(exchange, offerID: offer.id, affID: affID, address: address, facts: facts, into: &values) else {
                if facts.traffic.countsAgainstCaps, let caps = offer.caps, caps.hasClickCaps {
                    caps.giveBack(.dailyClicks, affiliate: affID, nowMillis: exchange.context.nowMillis)
                }
                return storageFailure(exchange, table: clickTable, to: &out)
            }
            metrics.count(.clicks)
            if let change = params.adjustment { noteClickIssue(exchange, RequestHandler.clickReason(change), status: .found) }
        } else {
            metrics.count(.clicksHead)
        }
        if let trafficback {
            redirect(exchange, template: trafficback, values: values, to: &out)
        } else {
            redirect(exchange, offer: offer, fallback: false, values: values, to: &out)
        }
    }

    /// 302 to a trafficback template (rare: the template is passed by value).
    func redirect(_ exchange: Exchange, template: URLTemplate, values: ClickValues, to out: inout ByteWriter) {
        let start = out.count
        responses.head(.found, keepAlive: exchange.head.keepAlive, nowMillis: exchange.context.nowMillis, to: &out)
        out.append("Location: ")
        template.render(into: &out, values: values)
        out.append("\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n")
        if out.overflowed {
            out.truncate(to: start)
            refuseClick(exchange, .uriTooLong, .clickRedirectTooLong, "redirect_too_long", "the trafficback URL with these values is too long", to: &out)
        }
    }
}

extension OfferCaps {
    /// Gives back the unit `take` took at `nowMillis` (the click could not be recorded).
    func giveBack(_ first: CapCounter, affiliate: UInt32, nowMillis: Int64) {
        let windows = zone.windows(nowMillis)
        offer?.release(from: first, windows)
        plan(affiliate: affiliate)?.release(from: first, windows)
    }
}

/// Clicks sent to trafficback, by reason, counted by their loop only (relaxed load and store).
final class TrafficbackCounters: @unchecked Sendable {
    let words: UnsafeMutablePointer<UInt64.AtomicRepresentation>

    init() {
        words = .allocate(capacity: TrafficReason.allCases.count)
        words.initialize(repeating: .init(0), count: TrafficReason.allCases.count)
    }

    deinit { words.deallocate() }

    @inline(__always) func count(_ reason: TrafficReason) { LoopMetrics.bump(words + Int(reason.rawValue)) }
    func read(_ reason: TrafficReason) -> UInt64 { LoopMetrics.read(words + Int(reason.rawValue)) }
}
