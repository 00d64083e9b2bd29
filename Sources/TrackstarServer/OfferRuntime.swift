// Offers, their events and affiliates as the click and postback paths read them, compiled once from
// configuration: templates pre-parsed, tokens and names as bytes (`Catalog` holds them by id).
import TrackstarCore
import TrackstarConfiguration
#if canImport(Glibc)
import Glibc
#endif

/// An offer as the click and postback paths use it. Immutable once built.
final class OfferRuntime: Sendable {
    let id: UInt32
    let template: URLTemplate
    let fallback: URLTemplate?
    let paused: Bool
    let clickLifetimeMillis: Int64
    /// How long an order id stays known (the offer's `txid_window`, else `[storage] txid_window`).
    let txidWindowMillis: Int64
    let minConversionDelayMillis: Int64
    let multipleConversions: Bool
    let token: [UInt8]?
    let allowedIPs: [CIDR]
    let currency: [UInt8]
    /// The currency of payout and revenue, packed as records store it (`Currency.code`).
    let currencyCode: UInt32
    /// Event 0 is `conversion` (the offer's own payout and revenue unless overridden); then the rest,
    /// in configuration order. Records store each event's stable `id`, not its position here.
    let events: [EventRuntime]
    /// Every event name the offer ever had, by stable id (from `DATA_DIR/events`).
    let eventNames: EventNames
    /// The sender profile its postbacks are read with (its `postback_profile`, else the server's).
    let profile: PostbackProfile
    /// What a click with a bot reason gets, and how long a repeat from one address and agent is
    /// not unique (ClickFacts.swift, UniqueClicks.swift).
    let botAction: BotAction
    let uniqueWindowMillis: Int64
    /// Traffic control (issue 14, TrafficRules.swift): caps (nil: none), targeting, where a click it
    /// cannot take goes (`redirect_offer_id`, 0: none; `trafficback_url`).
    let caps: OfferCaps?
    let targeting: Targeting
    let redirectOfferID: UInt32
    let trafficback: URLTemplate?

    /// - Parameter ids: the stable id of each of the offer's event names (`EventRegistry`).
    init(_ offer: OfferConfig, ids: [String: UInt8],
         defaultTxidWindowMillis: Int64 = StorageConfig().txidWindowMillis,
         profile: PostbackProfile = ProfileTable.builtinDefault.serverDefault, caps: OfferCaps? = nil) throws(URLTemplate.CompileError) {
        id = offer.id
        self.caps = caps
        targeting = Targeting(offer.targeting)
        redirectOfferID = offer.redirectOfferID ?? 0
        trafficback = try offer.trafficbackURL.map { (url) throws(URLTemplate.CompileError) in
            try URLTemplate(url, allowed: Macro.clickMacros)
        }
        self.profile = profile
        template = try URLTemplate(offer.url, allowed: Macro.clickMacros)
        fallback = try offer.fallbackURL.map { (url) throws(URLTemplate.CompileError) in
            try URLTemplate(url, allowed: Macro.clickMacros)
        }
        paused = offer.status == .paused
        clickLifetimeMillis = offer.clickLifetimeMillis
        txidWindowMillis = offer.txidWindowMillis ?? defaultTxidWindowMillis
        minConversionDelayMillis = offer.minConversionDelayMillis
        multipleConversions = offer.multipleConversions
        token = offer.token.map { Array($0.utf8) }
        allowedIPs = offer.allowedIPs
        currency = Array(offer.currency.utf8)
        currencyCode = Currency.code(Array(offer.currency.utf8)) ?? 0
        var events = [EventRuntime(name: Array("conversion".utf8), id: ids["conversion"] ?? 0, payout: offer.payout, revenue: offer.revenue)]
        for event in offer.events {
            let runtime = EventRuntime(name: Array(event.name.utf8), id: ids[event.name] ?? 0, payout: event.payout, revenue: event.revenue)
            if event.name == "conversion" { events[0] = runtime } else { events.append(runtime) }
        }
        self.events = events
        eventNames = EventNames(ids)
        botAction = offer.botAction
        uniqueWindowMillis = offer.uniqueWindowMillis
    }

    /// Until when the index keeps this offer's keys for a conversion at `nowMillis` of a click
    /// minted at `mintMillis`: the order id for its window, and the click + event pair at least as
    /// long (so a repeat within the window finds its key even after the click's lifetime) and at
    /// least until the click expires.
    @inline(__always)
    func keyExpiry(nowMillis: Int64, mintMillis: Int64) -> Int64 {
        max(nowMillis + txidWindowMillis, mintMillis + clickLifetimeMillis)
    }

    /// The index of the event named by `name`, or nil if the offer does not define it.
    func eventIndex(_ name: UnsafeRawBufferPointer) -> Int? {
        for (i, event) in events.enumerated() where Bytes.equal(event.name, name) { return i }
        return nil
    }

    /// True when no allowlist is set or `peer` is inside one of its networks.
    func allows(high: UInt64, low: UInt64) -> Bool {
        if allowedIPs.isEmpty { return true }
        for network in allowedIPs where CIDRMatch.contains(network, high: high, low: low) { return true }
        return false
    }
}

/// One event's name, stable id and amounts.
struct EventRuntime: Sendable {
    let name: [UInt8]
    /// What records and index keys store (`EventRegistry`); never changes for a name.
    let id: UInt8
    let payout: Micros
    let revenue: Micros
}

/// An affiliate as the request paths use it.
final class AffiliateRuntime: Sendable {
    let id: UInt32
    let paused: Bool
    /// Where its clicks go when their offer cannot take them and names no destination (issue 14).
    let trafficback: URLTemplate?
    init(_ affiliate: AffiliateConfig) throws(URLTemplate.CompileError) {
        id = affiliate.id
        paused = affiliate.status == .paused
        trafficback = try affiliate.trafficbackURL.map { (url) throws(URLTemplate.CompileError) in
            try URLTemplate(url, allowed: Macro.clickMacros)
        }
    }
}
