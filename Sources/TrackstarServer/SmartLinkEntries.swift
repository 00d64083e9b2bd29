// The compiled entries of one smart link (issue 14): each entry's offer as an unowned reference, its
// weight, and the link's groups of equal priority with the part of eligibility that does not depend
// on the click (paused, bot_action) summed up front, so a draw over offers without targeting reads
// two words instead of every offer, and no draw retains an offer or looks one up in the catalog.
import TrackstarConfiguration

/// Entries and groups in memory of their own, freed by the owning `SmartLinkRuntime`.
///
/// Invariants: `entries` holds `count` initialized entries sorted by priority, `groups` `groupCount`
/// groups covering them in order; neither changes after `init`. An entry's `offer` is unowned: the
/// owning `SmartLinkRuntime` also holds every offer strongly (`owners`), so the offer outlives every
/// read of the entries. Offers are those of the catalog the link was compiled with: a catalog reusing
/// a link must also reuse those offers, else recompile the link (a catalog change recompiles all).
struct SmartLinkEntries: @unchecked Sendable {
    struct Entry {
        unowned(unsafe) let offer: OfferRuntime
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
        for (i, e) in sorted.enumerated() { (entries + i).initialize(to: Entry(offer: e.offer, weight: e.weight)) }
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

    @inline(__always) func offer(_ index: Int) -> OfferRuntime { entries[index].offer }
    @inline(__always) func weight(_ index: Int) -> UInt64 { entries[index].weight }

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
            let offer = entries[i].offer
            if !offer.targeting.isEmpty && offer.targeting.mismatch(facts) != .none {
                refused |= 1 << UInt64(i)
            } else {
                total += entries[i].weight
            }
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
            let offer = entries[i].offer
            guard !offer.paused, offer.botAction != .flag, offer.targeting.isEmpty || offer.targeting.mismatch(facts) == .none else { continue }
            if offer.botAction == .fallback { return (offer, .fallback) }
            if refusing == nil { refusing = offer }
        }
        return refusing.map { ($0, .refuse) }
    }
}
