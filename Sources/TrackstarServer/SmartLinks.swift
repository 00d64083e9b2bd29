// Smart links (issue 14): `GET /s/{slug}` and `/click?smartlink=ID` send a click to one eligible offer
// of the link (active, targeting matches, under its caps) chosen by weight within the best priority
// that has one; an offer that turns out capped leaves the draw and its share goes to the others.
import TrackstarCore
import TrackstarConfiguration
import TrackstarHTTP
import TrackstarIO
import TrackstarStore

/// One smart link, entries sorted by priority (lower first). Immutable.
final class SmartLinkRuntime: Sendable {
    let id: UInt32
    let slug: [UInt8]
    let offerIDs: [UInt32]
    let weights: [UInt64]
    let priorities: [Int]
    let trafficback: URLTemplate?
    /// At most this many entries (the draw marks refused entries in one 64-bit mask).
    static let maxEntries = 64

    init(_ config: SmartLinkConfig) throws(URLTemplate.CompileError) {
        id = config.id
        slug = Array(config.slug.utf8)
        let entries = config.offers.prefix(SmartLinkRuntime.maxEntries).enumerated()
            .sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
        offerIDs = entries.map(\.offerID)
        weights = entries.map { UInt64($0.weight) }
        priorities = entries.map(\.priority)
        trafficback = try config.trafficbackURL.map { (url) throws(URLTemplate.CompileError) in try URLTemplate(url, allowed: Macro.clickMacros) }
    }
}

/// Every smart link, found by id or slug by a linear scan (a node has a few dozen links; a slug
/// compare is a length check and a memcmp).
struct SmartLinkTable: Sendable {
    let links: [SmartLinkRuntime]

    init(_ configs: [SmartLinkConfig]) throws(URLTemplate.CompileError) {
        var links: [SmartLinkRuntime] = []
        for config in configs { links.append(try SmartLinkRuntime(config)) }
        self.links = links
    }

    func link(id: UInt32) -> SmartLinkRuntime? {
        for link in links where link.id == id { return link }
        return nil
    }

    func link(slug: UnsafeRawBufferPointer) -> SmartLinkRuntime? {
        for link in links where Bytes.equal(link.slug, slug) { return link }
        return nil
    }
}

/// A counter-based generator (SplitMix64): the loop's next click sequence and the time make the
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
        smartLinkClick(exchange, link: link, to: &out)
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
        smartLinkClick(exchange, link: link, to: &out)
    }

    /// 1. The affiliate (as for /click; without an offer there is no fallback). 2. Enrich. 3. Draw
    /// among the eligible entries of the best priority; a capped draw leaves and the draw repeats.
    /// 4. None eligible: trafficback with reason `no_eligible_offer`.
    func smartLinkClick(_ exchange: Exchange, link: SmartLinkRuntime, to out: inout ByteWriter) {
        guard let affID = clickID(.affID, exchange, to: &out) else { return }
        exchange.affiliateID = affID
        guard let affiliate = catalog.affiliate(affID) else {
            return refuseClick(exchange, .notFound, .clickUnknownAffiliate, "unknown_affiliate", "no affiliate with this id", field: .affID, to: &out)
        }
        if affiliate.paused {
            return refuseClick(exchange, .notFound, .clickAffiliatePaused, "affiliate_paused", "affiliate is paused", field: .affID, to: &out)
        }
        let address = clientAddress(exchange)
        var facts = enrich(exchange, address: address)
        if facts.head.botReason != .none { metrics.count(.botsFlagged) }
        let now = exchange.context.nowMillis
        let take = exchange.head.method == .get
        var refused: UInt64 = 0
        var random = SplitMix.mix(clickTable.reservedCount ^ UInt64(shard) << 56 ^ UInt64(bitPattern: now) << 8)
        var start = 0
        while start < link.offerIDs.count {
            var end = start
            while end < link.offerIDs.count && link.priorities[end] == link.priorities[start] { end += 1 }
            while true {
                var total: UInt64 = 0
                for i in start..<end where refused & (1 << UInt64(i)) == 0 {
                    if let offer = catalog.offer(link.offerIDs[i]), !offer.paused, offer.targeting.mismatch(facts) == .none {
                        total += link.weights[i]
                    } else {
                        refused |= 1 << UInt64(i)
                    }
                }
                if total == 0 { break }
                var pick = random % total
                random = SplitMix.mix(random)
                var chosen = start
                for i in start..<end where refused & (1 << UInt64(i)) == 0 {
                    if pick < link.weights[i] { chosen = i; break }
                    pick -= link.weights[i]
                }
                let offer = catalog.offer(link.offerIDs[chosen])!
                if !take || offer.caps.map({ !$0.hasClickCaps || $0.take(.dailyClicks, affiliate: affID, nowMillis: now) }) ?? true {
                    exchange.offerID = offer.id
                    facts.traffic = ClickTraffic(reason: .none, destination: .offer, requestedOffer: offer.id, smartlink: link.id)
                    return land(exchange, offer: offer, affID: affID, address: address, facts: &facts, to: &out)
                }
                refused |= 1 << UInt64(chosen)
            }
            start = end
        }
        guard let first = link.offerIDs.first.flatMap({ catalog.offer($0) }) else {
            return refuseClick(exchange, .notFound, .clickUnknownOffer, "unknown_offer", "the smart link lists no configured offer", to: &out)
        }
        exchange.offerID = first.id
        divert(exchange, requested: first, affiliate: affiliate, reason: .noEligibleOffer, address: address, facts: &facts,
               smartLink: link, to: &out)
    }
}
