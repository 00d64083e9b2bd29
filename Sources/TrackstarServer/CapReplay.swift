// Cap counters restored from the logs at start-up (issue 14): every click that reached its record
// offer's landing page and every conversion that was not rejected counts again, in the day and month
// of its own time in its offer's zone, so counts after kill -9 equal those before it. Also the
// conversion-cap check of the postback path and the /s/{slug} path match.
import TrackstarCore
import TrackstarStore

extension Engine {
    /// Loads DATA_DIR/caps.snapshot, counts the records after its cursors (every click that reached
    /// its record offer's landing page, every conversion not recorded rejected, in the day and month
    /// of its own time in its offer's zone) and sets the cap lines of `catalog` from it.
    func replayCaps(_ catalog: Catalog) -> (CapTally, [String]) {
        var (tally, note) = CapTally.load(from: config.storage.dataDir, shards: clicks.count)
        var notes = note.map { [$0] } ?? []
        let clickEnds = clicks.map(\.reservedCount), conversionEnds = conversions.map(\.reservedCount)
        if zip(tally.clickCursors, clickEnds).contains(where: { $0 > $1 }) || zip(tally.conversionCursors, conversionEnds).contains(where: { $0 > $1 }) {
            notes.append("caps: \(CapTally.fileName) counts records the logs no longer hold; counting from the logs")
            tally = CapTally(shards: clicks.count)
        }
        let missed = tally.advance(self, catalog: catalog, clicks: clickEnds, conversions: conversionEnds)
        if missed > 0 {
            notes.append("caps: \(missed) retired records were never counted into \(CapTally.fileName); lifetime totals leave them out")
        }
        tally.seed(catalog)
        _ = catalog.capBook.takeFresh()
        let keys = tally.words.count
        if keys > 0 { notes.append("caps: counters of \(keys) offer and affiliate keys restored from \(CapTally.fileName) and the logs") }
        return (tally, notes)
    }

    /// Counts what the loops recorded since the last snapshot and writes the tally (snapshot thread),
    /// up to the durable `positions`; false when it could not be written (then nothing is retired).
    func snapshotCaps(_ positions: [ShardPosition]) -> Bool {
        logReachedCaps()
        return capTally.locked {
            _ = capTally.advance(self, catalog: catalog, clicks: positions.map(\.clicks), conversions: positions.map(\.conversions))
            do { try capTally.write(to: config.storage.dataDir) } catch {
                Log.error("cap snapshot: \(error); segments are kept until it can be written")
                return false
            }
            return true
        }
    }

    /// Logs each cap once per window when it is reached (checked at every snapshot; /metrics shows
    /// the usage at any time).
    func logReachedCaps(nowMillis: Int64 = WallClock.nowMillis()) {
        let catalog = self.catalog
        for offer in catalog.offers.values {
            guard let caps = offer.caps else { continue }
            let windows = caps.zone.windows(nowMillis)
            var plans: [(UInt32, CapPlan)] = caps.offer.map { [(UInt32(0), $0)] } ?? []
            plans += zip(caps.affiliateIDs, caps.affiliatePlans).map { ($0, $1) }
            for (affiliate, plan) in plans {
                for counter in CapCounter.allCases where plan.limit(counter) != .max {
                    let window = CapPlan.window(counter, windows)
                    guard plan.line.used(counter, window: window) >= plan.limit(counter) else { continue }
                    let mark = CapBook.key(offer: offer.id, affiliate: affiliate) ^ UInt64(counter.rawValue) << 61 ^ window << 20
                    guard capTally.locked({ capTally.reachedLogged.insert(mark).inserted }) else { continue }
                    let who = affiliate == 0 ? "offer \(offer.id)" : "offer \(offer.id), affiliate \(affiliate)"
                    Log.info("cap reached: \(who) \(counter.key) = \(plan.limit(counter)); further \(counter.rawValue < 3 ? "clicks go to trafficback" : "conversions are recorded rejected (cap_reached)")")
                }
            }
        }
    }

    /// Seeds the lines a reload made (a cap added to an offer or affiliate) from the logs so far.
    func seedNewCaps(_ catalog: Catalog, fresh: Set<UInt64>) {
        guard !fresh.isEmpty else { return }
        capTally.locked {
            _ = capTally.advance(self, catalog: catalog, clicks: clicks.map(\.publishedCount), conversions: conversions.map(\.publishedCount))
            capTally.seed(catalog, only: fresh)
        }
    }
}

extension RequestHandler {
    /// Whether this conversion is past one of its offer's (or the affiliate's) conversion caps; when
    /// not, it has taken a unit of each. A conversion sent as rejected takes none.
    @inline(__always)
    func conversionCapped(_ request: ConversionRequest, affID: UInt32, nowMillis: Int64) -> Bool {
        guard request.status != .rejected, let caps = request.offer.caps, caps.hasConversionCaps else { return false }
        return !caps.take(.dailyConversions, affiliate: affID, nowMillis: nowMillis)
    }
}

extension Route {
    /// The slug of a `/s/{slug}` path (1 or more bytes after the prefix, no further `/`).
    @inline(__always)
    static func smartLinkSlug(_ path: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard path.count > 3, path[0] == UInt8(ascii: "/"), path[1] == UInt8(ascii: "s"), path[2] == UInt8(ascii: "/") else { return nil }
        return UnsafeRawBufferPointer(rebasing: path[3...])
    }
}
