// The catalog the request paths read: offers and affiliates compiled from configuration
// (OfferRuntime.swift), smart links and the server's trafficback, with lookups by id without allocating.
import TrackstarCore
import TrackstarConfiguration

/// Every offer and affiliate by id.
final class Catalog: Sendable {
    let offers: [UInt32: OfferRuntime]
    let affiliates: [UInt32: AffiliateRuntime]
    /// Direct-indexed copies for ids below `denseLimit`, the common case: an array read instead of a
    /// hashed lookup on every click (callgrind showed the two Dictionary lookups at ~150 instructions).
    let denseOffers: [OfferRuntime?]
    let denseAffiliates: [AffiliateRuntime?]
    static let denseLimit: UInt32 = 1 << 16
    /// The longest attribution window of any offer: older clicks can be refused from the ID alone.
    let maxLifetimeMillis: Int64
    /// The longest order-id window (the server default or an offer's own).
    let maxTxidWindowMillis: Int64
    /// The longest template, in bytes (answers are sized for it).
    let longestTemplate: Int
    /// The shortest and longest `unique_window` of any offer (the default when there are none).
    let shortestUniqueWindowMillis: Int64
    let longestUniqueWindowMillis: Int64

    /// Event names of offers no longer configured, for conversions recorded while they were.
    let removedOfferEvents: [UInt32: EventNames]
    /// The sender profiles in use and their parameter names.
    let profiles: ProfileTable
    /// `[server] trafficback_url` and the smart links (issue 14).
    let serverTrafficback: URLTemplate?
    let smartLinks: SmartLinkTable
    /// The cap counters the offers' caps were compiled against (kept across reloads).
    let capBook: CapBook

    /// Compiles the configuration with event ids as a new data dir would give them (for checks and
    /// tools without a data dir; the server uses the data dir's `EventRegistry`).
    convenience init(_ config: TrackstarConfig, caps: CapBook = CapBook()) throws(ConfigProblem) {
        var events = EventRegistry()
        do { _ = try events.admit(config) } catch { throw ConfigProblem(line: 0, message: error.description) }
        try self.init(config, events: events, caps: caps)
    }

    /// Compiles the configuration; a template error names the offer. `events` must have admitted
    /// `config` (every configured event has an id).
    convenience init(_ config: TrackstarConfig, events: EventRegistry, caps book: CapBook = CapBook()) throws(ConfigProblem) {
        let profiles = ProfileTable(config)
        var offers: [UInt32: OfferRuntime] = [:]
        for offer in config.offers { offers[offer.id] = try Catalog.compile(offer, config, events: events, profiles: profiles, caps: book) }
        var affiliates: [UInt32: AffiliateRuntime] = [:]
        for affiliate in config.affiliates { affiliates[affiliate.id] = try Catalog.compile(affiliate) }
        try self.init(config, caps: book, profiles: profiles, offers: offers, affiliates: affiliates,
                      removedOfferEvents: Catalog.removedEvents(events, offers), smartLinks: nil)
    }

    /// `previous` with what `scope` names compiled again from `config` (a management API change):
    /// every other offer, affiliate and table is the same object, shared with `previous`.
    convenience init(updating previous: Catalog, _ config: TrackstarConfig, events: EventRegistry?, scope: CatalogChangeScope) throws(ConfigProblem) {
        var offers = previous.offers, affiliates = previous.affiliates
        var removed = previous.removedOfferEvents
        var smartLinks: SmartLinkTable? = previous.smartLinks
        let profilesInUse = Set([config.server.postbackProfile] + config.offers.compactMap(\.postbackProfile))
        switch scope {
        case .offer(let id) where profilesInUse == Set(previous.profiles.byName.keys) && events != nil:
            offers[id] = try config.offers.first { $0.id == id }.map { (offer) throws(ConfigProblem) in
                try Catalog.compile(offer, config, events: events!, profiles: previous.profiles, caps: previous.capBook)
            }
            removed = Catalog.removedEvents(events!, offers)
            // A smart link's entries point at its catalog's offer objects: a link naming this offer
            // is compiled again against the new one.
            if config.smartlinks.contains(where: { $0.offers.contains { $0.offerID == id } })
                || previous.smartLinks.links.contains(where: { $0.names(offer: id) }) { smartLinks = nil }
        case .affiliate(let id):
            affiliates[id] = try config.affiliates.first { $0.id == id }.map { (affiliate) throws(ConfigProblem) in try Catalog.compile(affiliate) }
        case .smartLinks: smartLinks = nil
        case .postbackRules, .bots: break
        default:  // profiles, an offer that changes the profiles in use, everything
            try self.init(config, events: events ?? EventRegistry(), caps: previous.capBook)
            return
        }
        try self.init(config, caps: previous.capBook, profiles: previous.profiles, offers: offers, affiliates: affiliates,
                      removedOfferEvents: removed, smartLinks: smartLinks, serverTrafficback: previous.serverTrafficback)
    }

    /// One offer compiled; a template error names the offer.
    static func compile(_ offer: OfferConfig, _ config: TrackstarConfig, events: EventRegistry, profiles: ProfileTable,
                        caps book: CapBook) throws(ConfigProblem) -> OfferRuntime {
        // The loader refuses more (a conversion record holds the event's id in one byte); this
        // keeps a config built in code from reaching a record it cannot represent.
        guard offer.events.count <= OfferConfig.maxEvents else {
            throw ConfigProblem(line: offer.line, message: "offers id \(offer.id): more than \(OfferConfig.maxEvents) events")
        }
        let caps = offer.caps.isEmpty && offer.affiliateCaps.isEmpty ? nil : try OfferCaps(offer, book: book)
        do {
            return try OfferRuntime(offer, ids: events.offers[offer.id] ?? [:], defaultTxidWindowMillis: config.storage.txidWindowMillis,
                                    profile: profiles.profile(offer.postbackProfile), caps: caps)
        } catch {
            throw ConfigProblem(line: offer.line, message: "offers id \(offer.id): url: \(error)")
        }
    }

    static func compile(_ affiliate: AffiliateConfig) throws(ConfigProblem) -> AffiliateRuntime {
        do { return try AffiliateRuntime(affiliate) } catch {
            throw ConfigProblem(line: affiliate.line, message: "affiliates id \(affiliate.id): trafficback_url: \(error)")
        }
    }

    /// Event names of offers in the registry but not in `offers`.
    static func removedEvents(_ events: EventRegistry, _ offers: [UInt32: OfferRuntime]) -> [UInt32: EventNames] {
        var removed: [UInt32: EventNames] = [:]
        for (offer, ids) in events.offers where offers[offer] == nil { removed[offer] = EventNames(ids) }
        return removed
    }

    /// The compiled parts, with the lookups and bounds derived from them; `smartLinks` and
    /// `serverTrafficback` nil are compiled from `config`.
    init(_ config: TrackstarConfig, caps book: CapBook, profiles: ProfileTable, offers: [UInt32: OfferRuntime],
         affiliates: [UInt32: AffiliateRuntime], removedOfferEvents: [UInt32: EventNames], smartLinks: SmartLinkTable?,
         serverTrafficback: URLTemplate?? = nil) throws(ConfigProblem) {
        self.profiles = profiles
        capBook = book
        do {
            self.serverTrafficback = try serverTrafficback ?? config.server.trafficbackURL.map { (url) throws(URLTemplate.CompileError) in
                try URLTemplate(url, allowed: Macro.clickMacros)
            }
            // Compiled against these offers (issue 14); nil when an offer a link names was recompiled.
            self.smartLinks = try smartLinks ?? SmartLinkTable(config.smartlinks, offers: offers)
        } catch {
            throw ConfigProblem(line: 0, message: "trafficback_url: \(error)")
        }
        self.offers = offers
        self.affiliates = affiliates
        self.removedOfferEvents = removedOfferEvents
        denseOffers = Catalog.dense(offers)
        denseAffiliates = Catalog.dense(affiliates)
        maxLifetimeMillis = config.offers.map(\.clickLifetimeMillis).max() ?? 0
        maxTxidWindowMillis = max(config.storage.txidWindowMillis, config.offers.compactMap(\.txidWindowMillis).max() ?? 0)
        shortestUniqueWindowMillis = config.offers.map(\.uniqueWindowMillis).min() ?? OfferConfig.defaultUniqueWindowMillis
        longestUniqueWindowMillis = config.offers.map(\.uniqueWindowMillis).max() ?? OfferConfig.defaultUniqueWindowMillis
        let trafficbacks = [self.serverTrafficback] + affiliates.values.map(\.trafficback) + self.smartLinks.links.map(\.trafficback)
            + offers.values.map(\.trafficback)
        longestTemplate = max(offers.values.map { max($0.template.literal.count, $0.fallback?.literal.count ?? 0) }.max() ?? 0,
                              trafficbacks.map { $0?.literal.count ?? 0 }.max() ?? 0)
    }
}

extension Catalog {
    static func dense<T>(_ byID: [UInt32: T]) -> [T?] {
        // Ids go up to UInt32.max: compare before adding one, so the largest id cannot overflow.
        let size = Int(min(byID.keys.max() ?? 0, denseLimit - 1)) + 1
        var table = [T?](repeating: nil, count: size)
        for (id, value) in byID where id < denseLimit { table[Int(id)] = value }
        return table
    }

    @inline(__always)
    func offer(_ id: UInt32) -> OfferRuntime? {
        id < UInt32(denseOffers.count) ? denseOffers[Int(id)] : (id >= Catalog.denseLimit ? offers[id] : nil)
    }

    /// An offer's event names by stable id, also for an offer removed from the configuration.
    func eventNames(_ offerID: UInt32) -> EventNames? {
        offer(offerID)?.eventNames ?? removedOfferEvents[offerID]
    }

    @inline(__always)
    func affiliate(_ id: UInt32) -> AffiliateRuntime? {
        id < UInt32(denseAffiliates.count) ? denseAffiliates[Int(id)] : (id >= Catalog.denseLimit ? affiliates[id] : nil)
    }
}

/// CIDR membership on the 128-bit (IPv4-mapped) form.
enum CIDRMatch {
    static func contains(_ network: CIDR, high: UInt64, low: UInt64) -> Bool {
        let bits = network.prefixLength
        let highMask: UInt64 = bits >= 64 ? .max : (bits == 0 ? 0 : ~(UInt64.max >> UInt64(bits)))
        let lowMask: UInt64 = bits <= 64 ? 0 : (bits >= 128 ? .max : ~(UInt64.max >> UInt64(bits - 64)))
        return (high & highMask) == (network.address.0 & highMask) && (low & lowMask) == (network.address.1 & lowMask)
    }
}

/// Byte comparisons without allocating.
enum Bytes {
    @inline(__always)
    static func equal(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { raw in
            raw.count == 0 || memcmp(raw.baseAddress!, b.baseAddress!, raw.count) == 0
        }
    }

    /// Compares in time that depends only on the lengths, for secrets.
    static func constantTimeEqual(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// What `check-config` runs after the loader: builds the runtime catalog (templates, dense tables)
/// the way `serve` will, so that whatever `check-config` accepts also starts.
public enum RuntimeCheck {
    /// The problem that would stop `serve` from compiling `config`, or nil.
    public static func problem(in config: TrackstarConfig) -> ConfigProblem? {
        do { _ = try Catalog(config) } catch { return error }
        return nil
    }
}
