// Smart links (issue 14): `GET /s/{slug}` and `/click?smartlink=ID` send a click to one eligible offer
// of the link (active, targeting matches, under its caps; for a bot, also `bot_action = "flag"`) chosen
// by weight within the best priority that has one; an offer that turns out capped leaves the draw and
// its share goes to the others. A link is compiled against its catalog's offers (SmartLinkEntries).
import TrackstarCore
import TrackstarConfiguration
import TrackstarHTTP
import TrackstarIO
import TrackstarStore

/// One smart link, compiled against one catalog's offers. Immutable.
final class SmartLinkRuntime: @unchecked Sendable {  // immutable; entries hold unretained offers of its catalog
    let id: UInt32
    let slug: [UInt8]
    let trafficback: URLTemplate?
    /// Entries sorted by priority (lower first), with their groups of equal priority.
    let entries: SmartLinkEntries
    /// The entries' offers, held strongly and never read on the click path: the entries' unretained
    /// references stay valid for as long as the link lives, whichever catalog holds it.
    private let owners: [OfferRuntime]
    /// At most this many entries (the draw marks refused entries in one 64-bit mask).
    static let maxEntries = 64

    /// - Parameter offers: the catalog's compiled offers; an entry naming none is left out (the
    ///   loader refuses such a link; a configuration built in code may still hold one).
    init(_ config: SmartLinkConfig, offers: [UInt32: OfferRuntime]) throws(URLTemplate.CompileError) {
        id = config.id
        slug = Array(config.slug.utf8)
        let sorted = config.offers.prefix(SmartLinkRuntime.maxEntries).enumerated()
            .sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
        trafficback = try config.trafficbackURL.map { (url) throws(URLTemplate.CompileError) in try URLTemplate(url, allowed: Macro.clickMacros) }
        let compiled = sorted.compactMap { entry in
            offers[entry.offerID].map { (offer: $0, weight: UInt64(entry.weight), priority: entry.priority) }
        }
        owners = compiled.map(\.offer)
        // Last: nothing may throw once the entries' memory is allocated (deinit frees it).
        entries = SmartLinkEntries(compiled)
    }

    /// Whether an entry's offer is `id` (a catalog change to that offer compiles the link again).
    func names(offer id: UInt32) -> Bool { owners.contains { $0.id == id } }

    deinit { entries.deallocate() }
}

/// Every smart link, found by id or slug by a linear scan (a node has a few dozen links; a slug
/// compare is a length check and a few bytes) over plain memory (`SmartLinkSlots`).
struct SmartLinkTable: @unchecked Sendable {  // immutable; `slots` is `storage`'s memory
    let links: [SmartLinkRuntime]
    /// Owns `slots`; the table holds the links, so the slots' unretained links stay valid.
    private let storage: SmartLinkSlots
    /// `storage.slots` and `.count`, copied so that a look-up loads no class reference.
    private let slots: UnsafePointer<SmartLinkSlots.Slot>
    private let slotCount: Int

    init(_ configs: [SmartLinkConfig], offers: [UInt32: OfferRuntime]) throws(URLTemplate.CompileError) {
        var links: [SmartLinkRuntime] = []
        for config in configs { links.append(try SmartLinkRuntime(config, offers: offers)) }
        self.links = links
        storage = SmartLinkSlots(links)
        slots = UnsafePointer(storage.slots)
        slotCount = storage.count
    }

    /// The link with this id, unretained: valid while this table lives (a loop's catalog, which holds
    /// it, is replaced only between requests). `takeUnretainedValue()` for a strong reference.
    @inline(__always)
    func link(id: UInt32) -> Unmanaged<SmartLinkRuntime>? { SmartLinkSlots.link(id: id, in: slots, count: slotCount) }

    /// The link with this slug, unretained (as `link(id:)`).
    @inline(__always)
    func link(slug: UnsafeRawBufferPointer) -> Unmanaged<SmartLinkRuntime>? {
        SmartLinkSlots.link(slug: slug, in: slots, count: slotCount)
    }
}

extension LoopMetrics {
    /// Clicks this loop recorded so far: with the time, the smart-link draw's seed. A relaxed load of
    /// the loop's own word (`clickTable.reservedCount`, as before, is a call into TrackstarStore with
    /// a dynamic exclusivity check: ~50 instructions).
    var clicksSoFar: UInt64 { LoopMetrics.read(counters + Counter.clicks.rawValue) }
}

/// A counter-based generator (SplitMix64): the loop's click count so far and the time make the
/// seed, so a draw costs a few multiplies and needs no state shared between loops.
enum SplitMix {
    @inline(__always)
    static func mix(_ seed: UInt64) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RequestHandler {
    /// `GET /s/{slug}`: parameters as for /click (lenient), the smart link by its slug.
    func smartLinkPath(_ exchange: Exchange, slug: UnsafeRawBufferPointer, to out: inout ByteWriter) {
        params.reset()
        _ = params.collect(exchange.request, range: exchange.head.query, nameScratch: nameScratch, lenient: true)
        guard let link = catalog.smartLinks.link(slug: slug) else {
            return refuseClick(exchange, .notFound, .clickUnknownOffer, "unknown_smartlink", "no smart link with this slug", to: &out)
        }
        // Borrowed, not retained: the loop's catalog holds the link for the whole request.
        link._withUnsafeGuaranteedRef { smartLinkClick(exchange, link: $0, to: &out) }
    }

    /// `/click?smartlink=ID` (parameters already collected).
    func smartLinkParameter(_ exchange: Exchange, to out: inout ByteWriter) {
        guard let id = Decimal.parseUInt32(params.value(.smartlink)), id > 0 else {
            return refuseClick(exchange, .badRequest, .clickMalformedParameter, "malformed_parameter", "expected a positive integer",
                               field: .smartlink, to: &out)
        }
        guard let link = catalog.smartLinks.link(id: id) else {
            return refuseClick(exchange, .notFound, .clickUnknownOffer, "unknown_smartlink", "no smart link with this id",
                               field: .smartlink, to: &out)
        }
        link._withUnsafeGuaranteedRef { smartLinkClick(exchange, link: $0, to: &out) }
    }

    /// 1. The affiliate (as for /click; without an offer there is no fallback). 2. Enrich. 3. Per
    /// priority group, best first: the eligible entries (kept in the link when no entry of the group
    /// has targeting) and their total weight; draw by weight; a drawn offer whose caps refuse leaves
    /// the draw. 4. None eligible: a bot that offers with `bot_action` fallback or refuse would have
    /// taken is handled as they say (`botWithoutOffer`); else trafficback, reason `no_eligible_offer`.
    func smartLinkClick(_ exchange: Exchange, link: SmartLinkRuntime, to out: inout ByteWriter) {
        guard let affID = clickID(.affID, exchange, to: &out) else { return }
        exchange.affiliateID = affID
        guard let affiliate = catalog.affiliate(affID) else {
            return refuseClick(exchange, .notFound, .clickUnknownAffiliate, "unknown_affiliate", "no affiliate with this id", field: .affID, to: &out)
        }
        if affiliate.paused {
            return refuseClick(exchange, .notFound, .clickAffiliatePaused, "affiliate_paused", "affiliate is paused", field: .affID, to: &out)
        }
        let entries = link.entries
        guard entries.count > 0 else {
            return refuseClick(exchange, .notFound, .clickUnknownOffer, "unknown_offer", "the smart link lists no configured offer", to: &out)
        }
        let address = clientAddress(exchange)
        var facts = enrich(exchange, address: address)
        let bot = facts.head.botReason != .none
        let now = exchange.context.nowMillis
        let take = exchange.head.method == .get
        var random = SplitMix.mix(metrics.clicksSoFar ^ UInt64(shard) << 56 ^ UInt64(bitPattern: now) << 8)
        var group = 0
        while group < entries.groupCount {
            var (refused, total) = entries.eligible(group: group, bot: bot, facts: facts)
            while total > 0 {
                let chosen = entries.pick(group: group, refused: refused, below: random.multipliedFullWidth(by: total).high)
                random = SplitMix.mix(random)
                // The drawn offer, borrowed (no retain): its caps take the unit, then `land`.
                let landed = entries.withOffer(chosen) { offer -> Bool in
                    if take && !takesClick(offer, affID: affID, nowMillis: now) { return false }
                    if bot { metrics.count(.botsFlagged) }
                    exchange.offerID = offer.id
                    facts.traffic = ClickTraffic(reason: .none, destination: .offer, requestedOffer: offer.id, smartlink: link.id)
                    land(exchange, offer: offer, affID: affID, address: address, facts: &facts, to: &out)
                    return true
                }
                if landed { return }
                refused |= 1 << UInt64(chosen)
                total -= entries.weight(chosen)
            }
            group += 1
        }
        if bot, let action = entries.botActionWithoutOffer(facts) {
            return botWithoutOffer(exchange, link: link, action: action, affiliate: affiliate, address: address, facts: &facts, to: &out)
        }
        if bot { metrics.count(.botsFlagged) }
        let first = entries.offer(0)
        exchange.offerID = first.id
        divert(exchange, requested: first, affiliate: affiliate, reason: .noEligibleOffer, address: address, facts: &facts,
               smartLink: link, to: &out)
    }

    /// A bot that only offers with `bot_action` fallback or refuse would have taken: `fallback` (any
    /// such offer says so) sends it down the trafficback chain with reason `bot` (the smart link's
    /// trafficback_url, the affiliate's, the server's, finally that offer's fallback_url), recorded;
    /// `refuse` answers 404 and records nothing, as a bot on that offer gets.
    func botWithoutOffer(_ exchange: Exchange, link: SmartLinkRuntime, action: (offer: OfferRuntime, action: BotAction),
                         affiliate: AffiliateRuntime, address: PeerAddress, facts: inout ClickFacts, to out: inout ByteWriter) {
        exchange.offerID = action.offer.id
        if action.action == .fallback {
            metrics.count(.botsFallback)
            return divert(exchange, requested: action.offer, affiliate: affiliate, reason: .bot, address: address, facts: &facts,
                          smartLink: link, to: &out)
        }
        metrics.count(.botsRefused)
        refuse(exchange, .notFound, "not_found", "no landing page for this click", to: &out)
    }
}
