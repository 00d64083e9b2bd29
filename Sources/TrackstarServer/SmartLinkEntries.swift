// The compiled entries of one smart link (issue 14): each entry's offer as an unretained reference,
// its weight, and the link's groups of equal priority with the part of eligibility that does not
// depend on the click (paused, bot_action) summed up front, so a draw over offers without targeting
// reads two words instead of every offer, and no draw retains an offer or looks one up in the
// catalog. Also the table's slugs and ids in plain memory (`SmartLinkSlots`), for the same reason.
// The two storage types stay in one file: both exist for that one reason, and each states its invariants.
import TrackstarConfiguration

/// Entries and groups in memory of their own, freed by the owning `SmartLinkRuntime`.
///
/// Invariants: `entries` holds `count` initialized entries sorted by priority, `groups` `groupCount`
/// groups covering them in order; neither changes after `init`. An entry's `offer` is unretained: the
/// owning `SmartLinkRuntime` also holds every offer strongly (`owners`), so the offer outlives every
/// read of the entries. Offers are those of the catalog the link was compiled with: a catalog reusing
/// a link must also reuse those offers, else recompile the link (a catalog change recompiles all).
/// The click path reads an offer through `withOffer` (`_withUnsafeGuaranteedRef`: a borrowed
/// reference, no retain and release — callgrind counted ~20 instructions a pair, three pairs a click).
struct SmartLinkEntries: @unchecked Sendable {
    struct Entry {
        let offer: Unmanaged<OfferRuntime>
        let weight: UInt64
    }

    /// Entries `start..<end`; `refused`/`total`: the mask of paused entries and the others' weight
    /// (`bot…`: also leaving out offers whose `bot_action` is not `flag`); with targeting in the group
    /// these are computed per click instead.
    struct Group {
        let start: Int, end: Int
        let hasTargeting: Bool
        let refused: UInt64, total: UInt64
        let botRefused: UInt64, botTotal: UInt64
    }

    private let entries: UnsafeMutablePointer<Entry>
    private let groups: UnsafeMutablePointer<Group>
    let count: Int
    let groupCount: Int

    /// - Parameter sorted: at most 64 entries, sorted by priority.
    init(_ sorted: [(offer: OfferRuntime, weight: UInt64, priority: Int)]) {
        precondition(sorted.count <= 64, "a smart link holds at most 64 entries")
        count = sorted.count
        entries = .allocate(capacity: max(1, count))
        for (i, e) in sorted.enumerated() { (entries + i).initialize(to: Entry(offer: .passUnretained(e.offer), weight: e.weight)) }
        var made: [Group] = []
        var start = 0
        while start < sorted.count {
            var end = start
            while end < sorted.count && sorted[end].priority == sorted[start].priority { end += 1 }
            var refused: UInt64 = 0, total: UInt64 = 0, botRefused: UInt64 = 0, botTotal: UInt64 = 0
            for i in start..<end {
                let offer = sorted[i].offer
                if offer.paused { refused |= 1 << UInt64(i) } else { total += sorted[i].weight }
                if offer.paused || offer.botAction != .flag { botRefused |= 1 << UInt64(i) } else { botTotal += sorted[i].weight }
            }
            made.append(Group(start: start, end: end, hasTargeting: sorted[start..<end].contains { !$0.offer.targeting.isEmpty },
                              refused: refused, total: total, botRefused: botRefused, botTotal: botTotal))
            start = end
        }
        groupCount = made.count
        groups = .allocate(capacity: max(1, groupCount))
        groups.initialize(from: made, count: made.count)
    }

    /// Frees the memory (the owner's deinit).
    func deallocate() {
        entries.deinitialize(count: count)
        entries.deallocate()
        groups.deinitialize(count: groupCount)
        groups.deallocate()
    }

    /// The entry's offer, retained (off the draw's hot path: trafficback, bots).
    func offer(_ index: Int) -> OfferRuntime { entries[index].offer.takeUnretainedValue() }
    @inline(__always) func weight(_ index: Int) -> UInt64 { entries[index].weight }

    /// `body` on the entry's offer, borrowed: valid for the call (the owning link holds the offer).
    @inline(__always)
    func withOffer<Result>(_ index: Int, _ body: (OfferRuntime) -> Result) -> Result {
        entries[index].offer._withUnsafeGuaranteedRef(body)
    }

    /// The entries of `group` this click may not go to (bit per entry index) and the others' total
    /// weight: paused offers, for a bot offers whose `bot_action` is not `flag`, and offers whose
    /// targeting the click does not match. Caps are not looked at (taking a unit is the draw's).
    @inline(__always)
    func eligible(group index: Int, bot: Bool, facts: ClickFacts) -> (refused: UInt64, total: UInt64) {
        let group = groups[index]
        if !group.hasTargeting { return bot ? (group.botRefused, group.botTotal) : (group.refused, group.total) }
        var refused = bot ? group.botRefused : group.refused
        var total: UInt64 = 0
        for i in group.start..<group.end where refused & (1 << UInt64(i)) == 0 {
            let matches = withOffer(i) { $0.targeting.isEmpty || $0.targeting.mismatch(facts) == .none }
            if matches { total += entries[i].weight } else { refused |= 1 << UInt64(i) }
        }
        return (refused, total)
    }

    /// The entry of `group` that `below` (< the unrefused entries' total weight) falls on.
    @inline(__always)
    func pick(group index: Int, refused: UInt64, below: UInt64) -> Int {
        let group = groups[index]
        var rest = below
        var last = group.start
        for i in group.start..<group.end where refused & (1 << UInt64(i)) == 0 {
            let weight = entries[i].weight
            if rest < weight { return i }
            rest -= weight
            last = i
        }
        return last
    }

    /// For a bot no `flag` offer took: the first active offer whose targeting matches and whose
    /// `bot_action` is `fallback`, else the first such offer whose `bot_action` is `refuse`; nil
    /// when there is none (the bot then goes to trafficback as any click would).
    func botActionWithoutOffer(_ facts: ClickFacts) -> (offer: OfferRuntime, action: BotAction)? {
        var refusing: OfferRuntime?
        for i in 0..<count {
            let offer = self.offer(i)
            guard !offer.paused, offer.botAction != .flag, offer.targeting.isEmpty || offer.targeting.mismatch(facts) == .none else { continue }
            if offer.botAction == .fallback { return (offer, .fallback) }
            if refusing == nil { refusing = offer }
        }
        return refusing.map { ($0, .refuse) }
    }
}

/// A table's links by id and slug in plain memory: the click path finds one by a scan of slots
/// without retaining the table's array, a link or its slug, and gets the link unretained.
///
/// Invariants: `slots` holds `count` slots and `bytes` their slugs back to back, written in `init`
/// and never again; a slot's `link` is unretained: the owning `SmartLinkTable` holds every link
/// strongly (`links`) as well as this storage, so a link found here lives as long as the table.
/// The table lives as long as its catalog, which a loop replaces only between requests.
final class SmartLinkSlots: @unchecked Sendable {  // immutable after init
    struct Slot {
        let id: UInt32
        let slug: UnsafePointer<UInt8>
        let slugCount: Int
        let link: Unmanaged<SmartLinkRuntime>
    }

    let slots: UnsafeMutablePointer<Slot>
    let count: Int
    private let bytes: UnsafeMutablePointer<UInt8>

    init(_ links: [SmartLinkRuntime]) {
        count = links.count
        bytes = .allocate(capacity: max(1, links.reduce(0) { $0 + $1.slug.count }))
        slots = .allocate(capacity: max(1, count))
        var at = 0
        for (i, link) in links.enumerated() {
            (bytes + at).initialize(from: link.slug, count: link.slug.count)
            (slots + i).initialize(to: Slot(id: link.id, slug: UnsafePointer(bytes + at), slugCount: link.slug.count,
                                            link: .passUnretained(link)))
            at += link.slug.count
        }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
        bytes.deallocate()
    }

    /// The link with this slug (byte for byte) among `count` slots, unretained.
    @inline(__always)
    static func link(slug: UnsafeRawBufferPointer, in slots: UnsafePointer<Slot>, count: Int) -> Unmanaged<SmartLinkRuntime>? {
        var i = 0
        while i < count {
            if slots[i].slugCount == slug.count && equal(slots[i].slug, slug) { return slots[i].link }
            i += 1
        }
        return nil
    }

    /// The link with this id among `count` slots, unretained.
    @inline(__always)
    static func link(id: UInt32, in slots: UnsafePointer<Slot>, count: Int) -> Unmanaged<SmartLinkRuntime>? {
        var i = 0
        while i < count {
            if slots[i].id == id { return slots[i].link }
            i += 1
        }
        return nil
    }

    /// Equal bytes (same length already checked); a byte loop: slugs are short, and a call to
    /// memcmp costs more than the compare.
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < b.count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}
