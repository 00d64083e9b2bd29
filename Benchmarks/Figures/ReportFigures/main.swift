// Report figures (issue 19 item 5): builds a report.sqlite holding a month of a campaign mix — by
// default 100 million clicks and 1 million conversions over 30 days — and times `trackstar report`'s
// engine (`Reporter.run`, what the command runs) on it, from the roll-ups and, for comparison, the
// requests that must read raw rows. The schema, roll-up tables and triggers are the sink's own
// (`SQLiteSink.open`). Conversions and refusals are written as raw rows and rolled up by the sink's
// SQL (`SQLiteSink.rollUpConversions`, `rollUpRefusals`). The clicks are tallied here by the same
// groups the exporter rolls them up by (hour × offer × affiliate × trafficback reason × smart link, and the same by UTC
// day; UTC day × those × country, device, OS, browser; UTC day × country, device, OS, browser,
// reason, smart link; and the same with offer) and only their roll-up rows are written: the reports the roll-ups answer never read raw click rows, and
// 100 million of them would be ~25 GB and an hour to write here.
//
// The mix (`Mix`, since the tenth session) follows real traffic where it decides how many roll-up
// rows there are: a smart link's clicks come from the affiliates that promote it, on that link's
// offers (15 of 150 affiliates send all their traffic through one of 5 links: ~10 % of clicks), and
// diversions come from a few offers: two capped offers whose cap fills each day (their clicks from
// 18:00 UTC on are cap_reached), two offers strict on geo (their third country is diverted), one
// mobile-only offer (desktop clicks diverted): ~3 % of clicks. The mix before drew link and reason
// independently of offer and affiliate, which made ~7 times the hourly groups any real node has.
// The same month in ClickHouse (`--clickhouse URL DATABASE`, ClickHouseStore.swift): the clicks'
// roll-up rows into `rollup_sums`, raw conversion and refusal rows, their roll-ups made by the sink's
// own code. Usage: swift run -c release ReportFigures PATH [clicks] [conversions] [days]
//        (PATH is created if missing; an existing PATH is opened as the exporter opens it — a store
//        made by an earlier version gets the levels it lacks, filled from finer ones, timed — then
//        timed; REPORT_FIGURES_WITHOUT=audience,daily,offer_audience times it as a store without
//        those levels; REPORT_FIGURES_MIX=independent builds the earlier mix)
//        swift run -c release ReportFigures --clickhouse http://127.0.0.1:8123 month [clicks] [conversions] [days]
//        (the database is built if it has no roll-ups, else only timed)
import TrackstarCore
import TrackstarExport
#if canImport(Glibc)
import Glibc
#endif

func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}


/// The campaign mix: 150 affiliates each running 4 of 40 offers (600 pairs, Zipf-weighted); each
/// offer targets 3 countries (70/20/10 %); 12 device/OS/browser combinations; ~3 % of clicks diverted
/// by the rules of a few offers (cap_reached, geo, device), ~10 % through the smart link of their
/// affiliate; 80 % unique, 2 % bots.
struct Mix {
    static let affiliates = 150, offersPerAffiliate = 4, offers = 40
    static let pairs = affiliates * offersPerAffiliate
    static let countries = ["US", "GB", "DE", "FR", "IT", "ES", "NL", "PL", "BR", "MX", "IN", "JP", "CA", "AU", "SE"]
    static let agents: [(device: String, os: String, browser: String)] = [
        ("mobile", "Android", "Chrome Mobile"), ("mobile", "iOS", "Mobile Safari"), ("desktop", "Windows", "Chrome"),
        ("desktop", "Windows", "Edge"), ("desktop", "Mac OS X", "Safari"), ("desktop", "Mac OS X", "Chrome"),
        ("mobile", "Android", "Samsung Internet"), ("tablet", "iOS", "Mobile Safari"), ("desktop", "Linux", "Firefox"),
        ("desktop", "Windows", "Firefox"), ("tablet", "Android", "Chrome"), ("bot", "Other", "Googlebot"),
    ]
    static let reasons = ["", "cap_reached", "geo", "device"]
    /// Uniform 16-bit draws to a pair, Zipf-like (weight 1/(rank+1)^0.8).
    let pairTable: [UInt16]
    let agentTable: [UInt8]

    init() {
        let weights = (0..<Mix.pairs).map { 1 / pow(Double($0 + 1), 0.8) }
        pairTable = Mix.table(weights, size: 65536).map { UInt16($0) }
        let agentWeights: [Double] = [30, 25, 15, 5, 6, 4, 5, 3, 2, 2, 1, 2]
        agentTable = Mix.table(agentWeights, size: 1024).map { UInt8($0) }
    }

    static func table(_ weights: [Double], size: Int) -> [Int] {
        let total = weights.reduce(0, +)
        var out: [Int] = [], cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w
            while out.count < min(size, Int(cumulative / total * Double(size))) { out.append(i) }
        }
        while out.count < size { out.append(weights.count - 1) }
        return out
    }

    static func offer(ofPair pair: Int) -> Int { (pair * 7 + pair / offersPerAffiliate) % offers + 1 }
    static func affiliate(ofPair pair: Int) -> Int { pair / offersPerAffiliate + 1 }
    static func country(offer: Int, _ draw: Int) -> String { countries[(offer * 3 + (draw < 7 ? 0 : draw < 9 ? 1 : 2)) % countries.count] }

    /// Offers whose daily cap fills (clicks from 18:00 UTC on are diverted), offers that divert their
    /// third country, the mobile-only offer (desktop clicks diverted).
    static let capped: Set = [11, 22], geoStrict: Set = [4, 37], mobileOnly = 26
    /// REPORT_FIGURES_MIX=independent: the mix of the sessions before (link and reason drawn
    /// independently of offer and affiliate), to compare.
    static let independent = getenv("REPORT_FIGURES_MIX").map { String(cString: $0) } == "independent"
    static let desktopAgents: Set = [2, 3, 4, 5, 8, 9]

    /// The smart link (1...5) an affiliate sends all its clicks through, 0: none (direct links).
    static func link(affiliate: Int) -> Int { affiliate % 10 == 3 ? affiliate / 10 % 5 + 1 : 0 }

    /// The trafficback reason (index in `reasons`) of a click of `offer` at UTC hour of day `hour`.
    static func reason(offer: Int, countryIndex: Int, agent: Int, hour: Int) -> Int {
        if capped.contains(offer) && hour >= 18 { return 1 }
        if geoStrict.contains(offer) && countryIndex == 2 { return 2 }
        if offer == mobileOnly && desktopAgents.contains(agent) { return 3 }
        return 0
    }

    /// One click's groups at UTC hour of day `hour`: (pair, country draw 0..<3, agent, reason, smart link 0...5), packed.
    func click(_ random: inout SplitMix64, hour: Int) -> (cell: Int, unique: Bool, bot: Bool) {
        let r = random.next()
        let pair = Int(pairTable[Int(r & 0xffff)])
        let draw = Int(r >> 16 % 10)
        let countryIndex = draw < 7 ? 0 : draw < 9 ? 1 : 2
        let agent = Int(agentTable[Int(r >> 20 & 0x3ff)])
        var reason = Mix.reason(offer: Mix.offer(ofPair: pair), countryIndex: countryIndex, agent: agent, hour: hour)
        var link = Mix.link(affiliate: Mix.affiliate(ofPair: pair))
        if Mix.independent {  // the mix before: drawn regardless of offer and affiliate
            let divert = Int(r >> 30 % 100)
            reason = divert < 2 ? 1 : divert < 3 ? (divert & 1) + 2 : 0
            link = Int(r >> 37 % 10) == 0 ? Int(r >> 41 % 5) + 1 : 0
        }
        let unique = r >> 44 % 10 < 8, bot = agent == 11
        return ((((pair * 3 + countryIndex) * 12 + agent) * 4 + reason) * 6 + link, unique, bot)
    }
    static let cells = pairs * 3 * 12 * 4 * 6
}

/// Tallies of (clicks, unique, bots) by cell, emptied after writing.
struct Tally {
    var counts: [Int64]
    init(cells: Int) { counts = Array(repeating: 0, count: cells * 3) }
}

/// One hourly roll-up group of clicks: (hour, offer, affiliate, trafficback reason, smart link) and sums.
struct CoarseRow { var hour: Int64, offer: Int, affiliate: Int, reason: String, link: Int, clicks: Int64, unique: Int64, bots: Int64 }
/// One daily detail group: (day, offer, affiliate, country, device, OS, browser, reason, smart link) and
/// sums; an audience group has offer and affiliate 0.
struct DetailRow {
    var day: Int64, offer: Int, affiliate: Int, country: String, device: String, os: String, browser: String, reason: String, link: Int
    var clicks: Int64, unique: Int64, bots: Int64
}

/// What the month's clicks came to: diverted and smart-link clicks, and the hourly groups with and
/// without trafficback reason and smart link in the key (the hourly level's size either way).
struct MixCounts { var diverted = 0, linked = 0, hourlyGroups = 0, hourlyPairs = 0 }

/// Draws `clicks` clicks of the mix over `days` and hands their roll-up groups to the store's
/// writers (hourly groups after each hour, daily ones after each day); returns the clicks drawn.
func generateClicks(clicks: Int, days: Int, mix: Mix, random: inout SplitMix64, counts: inout MixCounts,
                    coarse: (CoarseRow) throws -> Void, detail: (DetailRow) throws -> Void,
                    audience: (DetailRow) throws -> Void = { _ in }, daily byDay: (CoarseRow) throws -> Void = { _ in },
                    offerAudience: (DetailRow) throws -> Void = { _ in }) throws -> Int {
    let hours = days * 24
    let firstHour = Int64(1_767_225_600_000 / 3_600_000)  // 2026-01-01 00:00 UTC
    var daily = Tally(cells: Mix.cells)
    var dayPairs = [Int64](repeating: 0, count: Mix.pairs * 4 * 6 * 3)  // the hourly groups summed by day
    var written = 0
    // Index in `Mix.countries` of an offer's country by draw (offer * 3 + draw index).
    let countryNumbers = (0...Mix.offers).flatMap { offer in
        (0..<3).map { Mix.countries.firstIndex(of: Mix.country(offer: offer, [0, 7, 9][$0]))! }
    }
    for h in 0..<hours {
        // A daily curve: twice as many clicks at the peak as at night.
        let share = 1 + 0.5 * sin(Double(h % 24) / 24 * 2 * Double.pi)
        let n = h == hours - 1 ? clicks - written : Int(Double(clicks) / Double(hours) * share)
        var hourly = [Int64](repeating: 0, count: Mix.pairs * 4 * 6 * 3)
        for _ in 0..<n {
            let (cell, unique, bot) = mix.click(&random, hour: h % 24)
            daily.counts[cell * 3] += 1
            if unique { daily.counts[cell * 3 + 1] += 1 }
            if bot { daily.counts[cell * 3 + 2] += 1 }
            let link = cell % 6, reason = cell / 6 % 4, pair = cell / (6 * 4 * 12 * 3)
            let c = (pair * 4 + reason) * 6 + link
            hourly[c * 3] += 1
            if unique { hourly[c * 3 + 1] += 1 }
            if bot { hourly[c * 3 + 2] += 1 }
        }
        written += n
        var pairsSeen = Set<Int>()
        for c in 0..<(hourly.count / 3) where hourly[c * 3] > 0 {
            counts.hourlyGroups += 1
            pairsSeen.insert(c / 24)
            if c / 6 % 4 != 0 { counts.diverted += Int(hourly[c * 3]) }
            for k in 0..<3 { dayPairs[c * 3 + k] += hourly[c * 3 + k] }
            if c % 6 != 0 { counts.linked += Int(hourly[c * 3]) }
            let pair = c / 24, reason = c / 6 % 4, link = c % 6
            try coarse(CoarseRow(hour: firstHour + Int64(h), offer: Mix.offer(ofPair: pair), affiliate: Mix.affiliate(ofPair: pair),
                                 reason: Mix.reasons[reason], link: link, clicks: hourly[c * 3], unique: hourly[c * 3 + 1], bots: hourly[c * 3 + 2]))
        }
        counts.hourlyPairs += pairsSeen.count
        guard h % 24 == 23 || h == hours - 1 else { continue }
        for c in 0..<(dayPairs.count / 3) where dayPairs[c * 3] > 0 {
            let pair = c / 24
            try byDay(CoarseRow(hour: (firstHour + Int64(h)) / 24, offer: Mix.offer(ofPair: pair), affiliate: Mix.affiliate(ofPair: pair),
                                reason: Mix.reasons[c / 6 % 4], link: c % 6, clicks: dayPairs[c * 3], unique: dayPairs[c * 3 + 1],
                                bots: dayPairs[c * 3 + 2]))
        }
        dayPairs = [Int64](repeating: 0, count: dayPairs.count)
        // The audience level: (country, agent, reason, smart link) summed over offers and affiliates.
        var people = [Int64](repeating: 0, count: Mix.countries.count * 12 * 4 * 6 * 3)
        for cell in 0..<Mix.cells where daily.counts[cell * 3] > 0 {
            let rest = cell % 288, countryIndex = cell / 288 % 3, pair = cell / 864
            let country = countryNumbers[Mix.offer(ofPair: pair) * 3 + countryIndex]
            for k in 0..<3 { people[(country * 288 + rest) * 3 + k] += daily.counts[cell * 3 + k] }
        }
        for c in 0..<(people.count / 3) where people[c * 3] > 0 {
            let link = c % 6, reason = c / 6 % 4, agent = c / 24 % 12, a = Mix.agents[agent]
            try audience(DetailRow(day: (firstHour + Int64(h)) / 24, offer: 0, affiliate: 0, country: Mix.countries[c / 288],
                                   device: a.device, os: a.os, browser: a.browser, reason: Mix.reasons[reason], link: link,
                                   clicks: people[c * 3], unique: people[c * 3 + 1], bots: people[c * 3 + 2]))
        }
        // The audience level with offer: (offer, country, agent, reason, smart link) summed over affiliates
        // (an offer's three countries are its country draws, so (offer, draw) stands for (offer, country)).
        var offered = [Int64](repeating: 0, count: (Mix.offers + 1) * 3 * 288 * 3)
        for cell in 0..<Mix.cells where daily.counts[cell * 3] > 0 {
            let at = (Mix.offer(ofPair: cell / 864) * 3 + cell / 288 % 3) * 288 + cell % 288
            for k in 0..<3 { offered[at * 3 + k] += daily.counts[cell * 3 + k] }
        }
        for c in 0..<(offered.count / 3) where offered[c * 3] > 0 {
            let link = c % 6, reason = c / 6 % 4, agent = c / 24 % 12, countryIndex = c / 288 % 3, offer = c / 864, a = Mix.agents[agent]
            try offerAudience(DetailRow(day: (firstHour + Int64(h)) / 24, offer: offer, affiliate: 0,
                                        country: Mix.country(offer: offer, [0, 7, 9][countryIndex]), device: a.device, os: a.os,
                                        browser: a.browser, reason: Mix.reasons[reason], link: link,
                                        clicks: offered[c * 3], unique: offered[c * 3 + 1], bots: offered[c * 3 + 2]))
        }
        for cell in 0..<Mix.cells where daily.counts[cell * 3] > 0 {
            let link = cell % 6, reason = cell / 6 % 4, agent = cell / 24 % 12, countryIndex = cell / 288 % 3, pair = cell / 864
            let offer = Mix.offer(ofPair: pair), a = Mix.agents[agent]
            try detail(DetailRow(day: (firstHour + Int64(h)) / 24, offer: offer, affiliate: Mix.affiliate(ofPair: pair),
                                 country: Mix.country(offer: offer, [0, 7, 9][countryIndex]), device: a.device, os: a.os, browser: a.browser,
                                 reason: Mix.reasons[reason], link: link,
                                 clicks: daily.counts[cell * 3], unique: daily.counts[cell * 3 + 1], bots: daily.counts[cell * 3 + 2]))
        }
        daily = Tally(cells: Mix.cells)
    }
    return written
}

func build(path: String, clicks: Int, conversions: Int, days: Int) throws {
    let sink = SQLiteSink(path: path)
    _ = try sink.open()
    sink.close()
    let db = try SQLiteDatabase(path: path)
    try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; BEGIN")
    let coarse = try db.prepare("INSERT INTO rollup_clicks VALUES (?,?,?,?,?,?,?,?)")
    let detail = try db.prepare("INSERT INTO rollup_clicks_detail VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
    let audience = try db.prepare("INSERT INTO rollup_clicks_audience VALUES (?,?,?,?,?,?,?,?,?,?)")
    let byDay = try db.prepare("INSERT INTO rollup_clicks_daily VALUES (?,?,?,?,?,?,?,?)")
    let offerAudience = try db.prepare("INSERT INTO rollup_clicks_offer_audience VALUES (?,?,?,?,?,?,?,?,?,?,?)")
    let mix = Mix()
    var random = SplitMix64(state: 19)  // every run builds the same store
    let started = nowSeconds()
    var counts = MixCounts()
    let written = try generateClicks(clicks: clicks, days: days, mix: mix, random: &random, counts: &counts, coarse: { row in
        coarse.bind(1, row.hour); coarse.bind(2, Int64(row.offer)); coarse.bind(3, Int64(row.affiliate))
        coarse.bind(4, row.reason); coarse.bind(5, Int64(row.link))
        coarse.bind(6, row.clicks); coarse.bind(7, row.unique); coarse.bind(8, row.bots)
        try coarse.run()
    }, detail: { row in
        detail.bind(1, row.day); detail.bind(2, Int64(row.offer)); detail.bind(3, Int64(row.affiliate))
        detail.bind(4, row.country); detail.bind(5, row.device); detail.bind(6, row.os)
        detail.bind(7, row.browser); detail.bind(8, row.reason); detail.bind(9, Int64(row.link))
        detail.bind(10, row.clicks); detail.bind(11, row.unique); detail.bind(12, row.bots)
        try detail.run()
    }, audience: { row in
        audience.bind(1, row.day); audience.bind(2, row.country); audience.bind(3, row.device); audience.bind(4, row.os)
        audience.bind(5, row.browser); audience.bind(6, row.reason); audience.bind(7, Int64(row.link))
        audience.bind(8, row.clicks); audience.bind(9, row.unique); audience.bind(10, row.bots)
        try audience.run()
    }, daily: { row in
        byDay.bind(1, row.hour); byDay.bind(2, Int64(row.offer)); byDay.bind(3, Int64(row.affiliate))
        byDay.bind(4, row.reason); byDay.bind(5, Int64(row.link))
        byDay.bind(6, row.clicks); byDay.bind(7, row.unique); byDay.bind(8, row.bots)
        try byDay.run()
    }, offerAudience: { row in
        let st = offerAudience
        st.bind(1, row.day); st.bind(2, Int64(row.offer)); st.bind(3, row.country); st.bind(4, row.device); st.bind(5, row.os)
        st.bind(6, row.browser); st.bind(7, row.reason); st.bind(8, Int64(row.link))
        st.bind(9, row.clicks); st.bind(10, row.unique); st.bind(11, row.bots)
        try st.run()
    })
    print("clicks: \(written) tallied into roll-ups in \(Int(nowSeconds() - started)) s")
    printCounts(counts, clicks: written, days: days)
    try writeConversions(db, count: conversions, days: days, mix: mix, random: &random)
    try SQLiteSink.rollUpConversions(db)  // the sink sums the rows it inserts itself, not by trigger
    try SQLiteSink.rollUpRefusals(db)
    try db.execute("COMMIT; PRAGMA wal_checkpoint(TRUNCATE);")
}

/// Raw conversion rows (rolled up after, by `SQLiteSink.rollUpConversions`): a click's attributes from the mix, 80 % approved,
/// 15 % pending, 5 % rejected, 10 % paid in EUR, 10 % an upsell; and one refusal per 200 conversions.
func writeConversions(_ db: SQLiteDatabase, count: Int, days: Int, mix: Mix, random: inout SplitMix64) throws {
    let started = nowSeconds()
    let insert = try db.prepare("""
        INSERT INTO conversions (conversion_id, click_ref, click_id, click_time_ms, time_ms, offer_id, aff_id, sub1, sub2, sub3, sub4, sub5,
          aff_click_id, source, event, event_index, status, amount_micros, payout_micros, revenue_micros, currency, txid,
          country, device, os, browser, trafficback_reason, smartlink)
        VALUES (?,?,'',?,?,?,?,'','','','','','','',?,?,?,NULL,?,?,?,?,?,?,?,?,?,?)
        """)
    let refusal = try db.prepare("INSERT INTO refusals VALUES (?,?,?,403,?,?,'click_id=x&token=y')")
    let start: Int64 = 1_767_225_600_000, span = Int64(days) * 86_400_000
    for i in 0..<count {
        let time = start + Int64(random.next() % UInt64(span)), r = random.below(100)
        let (cell, _, _) = mix.click(&random, hour: Int(time / 3_600_000 % 24))
        let link = cell % 6, reason = cell / 6 % 4, agent = cell / 24 % 12, countryIndex = cell / 288 % 3, pair = cell / 864
        let offer = Mix.offer(ofPair: pair), a = Mix.agents[agent]
        insert.bind(1, Int64(i + 1)); insert.bind(2, Int64(i)); insert.bind(3, time - 600_000); insert.bind(4, time)
        insert.bind(5, Int64(offer)); insert.bind(6, Int64(Mix.affiliate(ofPair: pair)))
        let event: String = r % 10 == 0 ? "upsell" : "conversion", status: String = r < 80 ? "approved" : r < 95 ? "pending" : "rejected"
        insert.bind(7, event); insert.bind(8, Int64(r % 10 == 0 ? 1 : 0))
        insert.bind(9, status)
        insert.bind(10, Int64(2_500_000 + offer * 10_000)); insert.bind(11, Int64(4_000_000 + offer * 20_000))
        let currency: String = r % 10 == 3 ? "EUR" : "USD"
        insert.bind(12, currency); insert.bind(13, "order-\(i)")
        insert.bind(14, Mix.country(offer: offer, [0, 7, 9][countryIndex])); insert.bind(15, a.device); insert.bind(16, a.os)
        insert.bind(17, a.browser); insert.bind(18, Mix.reasons[reason]); insert.bind(19, Int64(link))
        try insert.run()
        if i % 200 == 0 {
            let reason: String = i % 400 == 0 ? "bad_token" : "expired"
            refusal.bind(1, Int64(i)); refusal.bind(2, time); refusal.bind(3, reason)
            refusal.bind(4, Int64(offer)); refusal.bind(5, Int64(Mix.affiliate(ofPair: pair)))
            try refusal.run()
        }
    }
    print("conversions: \(count) raw rows (rolled up by the triggers) in \(Int(nowSeconds() - started)) s")
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: ReportFigures PATH [clicks=100000000] [conversions=1000000] [days=30]")
    print("       ReportFigures --clickhouse URL DATABASE [clicks=100000000] [conversions=1000000] [days=30]")
    exit(2)
}
let onClickHouse = arguments[1] == "--clickhouse"
let counts = Array(arguments.dropFirst(onClickHouse ? 4 : 2))
let clicks = counts.count > 0 ? Int(counts[0]) ?? 100_000_000 : 100_000_000
let conversions = counts.count > 1 ? Int(counts[1]) ?? 1_000_000 : 1_000_000
let days = counts.count > 2 ? Int(counts[2]) ?? 30 : 30

/// The reports timed on either store.
func timeReports(_ backend: ReportBackend) throws {
    let berlin = try ReportTimeZone.load("Europe/Berlin")
    let week = Int64(1_767_225_600_000 + 7 * 86_400_000)
    try timeReport("(totals)", ReportRequest(), backend)
    try timeReport("--group-by offer", ReportRequest(groupBy: [.offer]), backend)
    try timeReport("--group-by affiliate", ReportRequest(groupBy: [.affiliate]), backend)
    try timeReport("--group-by offer,affiliate", ReportRequest(groupBy: [.offer, .affiliate]), backend)
    try timeReport("--group-by day", ReportRequest(groupBy: [.day]), backend)
    try timeReport("--group-by offer,day --tz Europe/Berlin", ReportRequest(groupBy: [.offer, .day], timeZone: berlin), backend)
    try timeReport("--group-by hour (first week)", ReportRequest(toMillis: week, groupBy: [.hour]), backend)
    try timeReport("--group-by trafficback_reason,smartlink", ReportRequest(groupBy: [.trafficbackReason, .smartlink]), backend)
    try timeReport("--group-by event", ReportRequest(groupBy: [.event]), backend)
    try timeReport("--group-by country", ReportRequest(groupBy: [.country]), backend)
    try timeReport("--group-by device,os,browser", ReportRequest(groupBy: [.device, .os, .browser]), backend)
    try timeReport("--group-by country,day", ReportRequest(groupBy: [.country, .day]), backend)
    try timeReport("--group-by offer,country,device", ReportRequest(groupBy: [.offer, .country, .device]), backend)
}

do {
    if onClickHouse {
        guard arguments.count >= 4 else { print("--clickhouse needs URL and DATABASE"); exit(2) }
        try clickHouseFigures(url: arguments[2], database: arguments[3], clicks: clicks, conversions: conversions, days: days)
        exit(0)
    }
    let path = arguments[1]
    if access(path, F_OK) != 0 {
        try build(path: path, clicks: clicks, conversions: conversions, days: days)
    } else {
        // As the exporter opens it: a store an earlier version made gets the levels it lacks here.
        let t = nowSeconds(), c = cpuSeconds()
        let sink = SQLiteSink(path: path)
        _ = try sink.open()
        sink.close()
        print("opened as the exporter does (fills missing levels): \(Int((nowSeconds() - t) * 1000)) ms, cpu \(Int((cpuSeconds() - c) * 1000)) ms")
    }
    let db = try SQLiteDatabase(path: path)
    let levels = ["", "_detail", "_audience", "_daily", "_offer_audience"]
    for table in levels.map({ "rollup_clicks" + $0 }) + levels.map({ "rollup_conversions" + $0 }) + ["rollup_refusals", "conversions"] {
        print("\(table): \(try db.rows("SELECT count(*) FROM \(table)")[0][0] ?? "?") rows")
    }
    let backend = try SQLiteReportBackend(path: path)
    // REPORT_FIGURES_WITHOUT=audience,daily: time the reports as a store without those levels answers them.
    if let without = getenv("REPORT_FIGURES_WITHOUT").map({ String(cString: $0) }) {
        let levels = without.split(separator: ",").flatMap { ["rollup_clicks_" + $0, "rollup_conversions_" + $0] }
        backend.rollupTables = backend.rollupTables.filter { !levels.contains($0) }
        print("without the levels \(without)")
    }
    print("load average at the start: \(loadAverage())")
    try timeReports(backend)
    print("load average at the end: \(loadAverage())")
} catch {
    print("ReportFigures: \(error)")
    exit(1)
}
