// What the click path knows about a click beyond its parameters — country and network, device, OS
// and browser family, bot reason, uniqueness — and what it does with it: bots are diverted as the
// offer's `bot_action` says, uniqueness is decided in the shared index, addresses are truncated
// before they are written when `[privacy] anonymize_ip = "truncate"`.
import TrackstarCore
import TrackstarIO
import TrackstarStore

/// One click's enrichment, on the stack; the names point into the classifier's tables (immutable
/// while the loop holds its `Enrichment`).
struct ClickFacts {
    var head = ClickEnrichmentHead.none
    var asn: UInt32 = 0
    var fingerprint: UInt64 = 0
    var os = UnsafeRawBufferPointer(start: nil, count: 0)
    var browser = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Where the click went and why, when not simply to its offer (ClickTraffic.swift, issue 14).
    var traffic = ClickTraffic.plain
    /// The city's name from a MaxMind City file (a view into the loop's `GeoDatabase`); empty: unknown.
    var city = UnsafeRawBufferPointer(start: nil, count: 0)

    /// The ninth variable field of the click record.
    var tail: ClickEnrichmentTail { ClickEnrichmentTail(asn: asn, fingerprint: fingerprint, os: os, browser: browser, traffic: traffic, city: city) }

    /// `{country}`: the two letters, or nothing when unknown.
    func writeCountry(into writer: inout ByteWriter) {
        guard head.country != 0 else { return }
        writer.append(UInt8(truncatingIfNeeded: head.country))
        writer.append(UInt8(truncatingIfNeeded: head.country >> 8))
    }
}

/// `[privacy] anonymize_ip = "truncate"`.
enum Anonymize {
    /// IPv4 to its /24, IPv6 to its /48 (the IPv4-mapped prefix is kept).
    @inline(__always)
    static func truncate(_ address: PeerAddress) -> PeerAddress {
        if address.isIPv4 { return PeerAddress(high: 0, low: address.low & 0xFFFF_FFFF_FFFF_FF00) }
        return PeerAddress(high: address.high & 0xFFFF_FFFF_FFFF_0000, low: 0)
    }
}

extension RequestHandler {
    /// A click with a bot reason whose offer does not just flag it: `fallback` sends it down the
    /// trafficback chain with reason `bot` (redirect_offer_id, trafficback URLs, finally the offer's
    /// `fallback_url`, which the loader requires), recorded like any diverted click (issue 14);
    /// `refuse` answers 404 and records nothing. Both count in `trackstar_bot_clicks_total`.
    func divertBot(_ exchange: Exchange, offer: OfferRuntime, affiliate: AffiliateRuntime, address: PeerAddress,
                   facts: inout ClickFacts, to out: inout ByteWriter) {
        if offer.botAction == .fallback {
            metrics.count(.botsFallback)
            return divert(exchange, requested: offer, affiliate: affiliate, reason: .bot, address: address, facts: &facts, to: &out)
        }
        metrics.count(.botsRefused)
        refuse(exchange, .notFound, "not_found", "no landing page for this click", to: &out)
    }

    /// Decides the unique flag of a click about to be recorded: the fingerprint of (offer, full
    /// address, user agent) in the shared unique index (UniqueClicks.swift).
    func markUnique(_ exchange: Exchange, offer: OfferRuntime, address: PeerAddress, facts: inout ClickFacts) {
        guard !engine.enrichmentOff else { return }  // measurement hook (Engine.enrichmentOff)
        let unique = engine.unique
        let userAgent = exchange.bytes(exchange.head.userAgent, limit: 512)
        let fingerprint = unique.fingerprint(offer: offer.id, high: address.high, low: address.low, userAgent: userAgent)
        facts.fingerprint = fingerprint
        switch unique.record(fingerprint, windowMillis: offer.uniqueWindowMillis, nowMillis: exchange.context.nowMillis) {
        case .unique:
            facts.head.unique = true
            metrics.count(.uniqueClicks)
        case .repeated:
            facts.head.unique = false
        case .indexFull:
            facts.head.unique = true  // cannot remember it: say unique rather than hide a visitor
            metrics.count(.uniqueIndexFull)
            metrics.count(.uniqueClicks)
        }
    }

    /// Whether stored addresses are truncated (`[privacy] anonymize_ip`, fixed at start).
    var anonymizeAddresses: Bool { engine.anonymizeAddresses }
}
