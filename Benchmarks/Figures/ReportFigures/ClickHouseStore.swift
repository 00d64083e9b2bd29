// ReportFigures' month in ClickHouse: the same draws as the SQLite store (same seed, same mix). The
// clicks' roll-up rows go into `rollup_sums` (levels 0 and 1, as the exporter writes them); the
// conversions and refusals go in as raw rows, and their roll-ups are made by the sink's own code
// (conversions: `ClickHouseSink.open` fills them; refusals: the same INSERT … SELECT as its backfill).
import TrackstarCore
import TrackstarExport
import TrackstarConfiguration
#if canImport(Glibc)
import Glibc
#endif

func clickHouseFigures(url: String, database: String, clicks: Int, conversions: Int, days: Int) throws {
    var config = ExportConfig()
    config.sink = .clickhouse
    config.url = url
    config.database = database
    let sink = try ClickHouseSink(config: config)
    _ = try sink.open()
    if try sink.execute("SELECT count() FROM \(database).rollup_sums WHERE level < 2 FORMAT TabSeparated").text.hasPrefix("0") {
        try buildClickHouse(sink, clicks: clicks, conversions: conversions, days: days)
    }
    for (name, sql) in [("rollup_sums (clicks per hour)", "rollup_sums WHERE level = 0"), ("rollup_sums (clicks per day, detail)", "rollup_sums WHERE level = 1"),
                        ("rollup_conversion_sums (hour)", "rollup_conversion_sums FINAL WHERE level = 0"),
                        ("rollup_conversion_sums (day, detail)", "rollup_conversion_sums FINAL WHERE level = 1"),
                        ("rollup_sums (refusals)", "rollup_sums WHERE level = 2"), ("conversions", "conversions FINAL")] {
        print("\(name): \(try sink.execute("SELECT count() FROM \(database).\(sql) FORMAT TabSeparated").text.filter { $0 != "\n" }) rows")
    }
    let backend = try Reporter.backend(config: config, dataDir: "/")
    print("roll-ups cover the store: \(backend.hasRollups)")
    try timeReports(backend)
}

func buildClickHouse(_ sink: ClickHouseSink, clicks: Int, conversions: Int, days: Int) throws {
    let db = sink.database
    let mix = Mix()
    var random = SplitMix64(state: 19)  // every run builds the same store
    let started = nowSeconds()
    var rows = ""
    func send(_ table: String) throws {
        guard !rows.isEmpty else { return }
        try sink.execute("INSERT INTO \(db).\(table) FORMAT TabSeparated\n" + rows)
        rows = ""
    }
    var lastDay: Int64 = -1
    var counts = MixCounts()
    let written = try generateClicks(clicks: clicks, days: days, mix: mix, random: &random, counts: &counts, coarse: { row in
        rows += "0\t\(row.hour)\t\(row.offer)\t\(row.affiliate)\t\(row.reason)\t\(row.link)\t\t\t\t\t\(row.clicks)\t\(row.unique)\t\(row.bots)\n"
        if row.hour / 24 != lastDay { lastDay = row.hour / 24; if rows.utf8.count > 8 << 20 { try send("rollup_sums") } }
    }, detail: { row in
        rows += "1\t\(row.day)\t\(row.offer)\t\(row.affiliate)\t\(row.reason)\t\(row.link)\t\(row.country)\t\(row.device)\t\(row.os)\t\(row.browser)\t"
            + "\(row.clicks)\t\(row.unique)\t\(row.bots)\n"
    })
    try send("rollup_sums")
    print("clicks: \(written) tallied into roll-ups in \(Int(nowSeconds() - started)) s")
    printCounts(counts, clicks: written, days: days)

    // Conversions and refusals: the draws of writeConversions, as raw rows.
    let start: Int64 = 1_767_225_600_000, span = Int64(days) * 86_400_000
    let conversionsStarted = nowSeconds()
    var refusals = ""
    for i in 0..<conversions {
        let time = start + Int64(random.next() % UInt64(span)), r = random.below(100)
        let (cell, _, _) = mix.click(&random, hour: Int(time / 3_600_000 % 24))
        let link = cell % 6, reason = cell / 6 % 4, agent = cell / 24 % 12, countryIndex = cell / 288 % 3, pair = cell / 864
        let offer = Mix.offer(ofPair: pair), a = Mix.agents[agent]
        let event = r % 10 == 0 ? "upsell\t1" : "conversion\t0", status = r < 80 ? "approved" : r < 95 ? "pending" : "rejected"
        rows += "\(i + 1)\t\(i)\t\(time - 600_000)\t\(dateTimeText(time))\t\(time)\t\(offer)\t\(Mix.affiliate(ofPair: pair))\t\(event)\t\(status)\t"
            + "\(2_500_000 + offer * 10_000)\t\(4_000_000 + offer * 20_000)\t\(r % 10 == 3 ? "EUR" : "USD")\torder-\(i)\t"
            + "\(Mix.country(offer: offer, [0, 7, 9][countryIndex]))\t\(a.device)\t\(a.os)\t\(a.browser)\t\(Mix.reasons[reason])\t\(link)\n"
        if i % 200 == 0 {
            refusals += "\(i)\t\(dateTimeText(time))\t\(time)\t\(i % 400 == 0 ? "bad_token" : "expired")\t403\t\(offer)\t\(Mix.affiliate(ofPair: pair))\t"
                + "click_id=x&token=y\n"
        }
        if rows.utf8.count > 8 << 20 || i == conversions - 1 {
            try sink.execute("""
                INSERT INTO \(db).conversions (conversion_id, click_ref, click_time_ms, time, time_ms, offer_id, aff_id, event, event_index, status,
                  payout_micros, revenue_micros, currency, txid, country, device, os, browser, trafficback_reason, smartlink) FORMAT TabSeparated

                """ + rows)
            rows = ""
        }
    }
    if !refusals.isEmpty {
        try sink.execute("INSERT INTO \(db).refusals (refusal_ref, time, time_ms, reason, http_status, offer_id, aff_id, params) FORMAT TabSeparated\n"
                         + refusals)
    }
    try sink.execute("""
        INSERT INTO \(db).rollup_sums SELECT toUInt8(2), toInt64(intDiv(time_ms, 3600000)) AS b, offer_id, aff_id, reason, toUInt32(0),
          '', '', '', '', toInt64(count()), toInt64(0), toInt64(0) FROM \(db).refusals FINAL GROUP BY b, offer_id, aff_id, reason
        """)
    // The sink fills the conversion roll-ups at open when its flag is missing (as for a store from before them).
    try sink.execute("ALTER TABLE \(db).rollup_sums DELETE WHERE level = 254")
    while try !sink.execute("SELECT count() FROM system.mutations WHERE database = '\(db)' AND is_done = 0 FORMAT TabSeparated").text.hasPrefix("0") {
        usleep(100_000)
    }
    _ = try sink.open()
    print("conversions: \(conversions) raw rows, rolled up by the sink, in \(Int(nowSeconds() - conversionsStarted)) s")
}

/// "YYYY-MM-DD hh:mm:ss" (UTC) of Unix ms, as ClickHouse's text formats read a DateTime.
func dateTimeText(_ millis: Int64) -> String {
    let seconds = millis / 1000, days = seconds / 86_400, rest = seconds % 86_400
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468, era = z / 146_097, doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(y)-\(two(m))-\(two(d)) \(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))"
}
