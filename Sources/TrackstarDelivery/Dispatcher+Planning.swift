// How the dispatcher turns published conversions into jobs: it scans each shard's conversion log
// from where it left off, routes each conversion (or status transition: a job of its own, keyed by
// the transition's log id) through the current `DeliveryPlan`, renders the partner's URL once, and
// appends a `queued` (or `skipped`) record that the ledger folds in.
import TrackstarCore
import TrackstarStore

extension Dispatcher {
    /// Conversions planned in one loop turn: a backlog (after an outage, or a burst) is planned a
    /// slice at a time, with curl's callbacks and the request loops' turns in between.
    static let scanSlice = 1024

    /// Plans a job for each conversion published since the last tick that some partner wants, at
    /// most `scanSlice`; if more are waiting, posts the next slice (one at a time).
    func scanConversions(now: Int64) {
        if scanned.count < source.shardCount { scanned += Array(repeating: 0, count: source.shardCount - scanned.count) }
        var budget = Dispatcher.scanSlice
        for shard in 0..<scanned.count {
            let end = source.published(.conversions, shard: shard)
            while scanned[shard] < end && budget > 0 {
                let sequence = scanned[shard]
                if let row = source.conversion(shard: shard, sequence: sequence), !plan(row, now: now) { return }
                scanned[shard] = sequence + 1
                positionsDirty = true
                budget -= 1
            }
        }
        if budget == 0 && !scanPosted {
            scanPosted = post { dispatcher in
                dispatcher.scanPosted = false
                let now = WallClock.nowMillis()
                dispatcher.scanConversions(now: now)
                dispatcher.promoteDue(now: now)
                for endpoint in dispatcher.ready.keys { dispatcher.startReady(endpoint) }
            }
        }
    }

    /// Queues a conversion's postback if its affiliate wants it; false if the log refused the record.
    func plan(_ row: ConversionRow, now: Int64) -> Bool {
        guard let (endpoint, url, delay) = render(row) else {
            return plan.knowsAffiliate(row.affID) ? true : skipUnknownAffiliate(row, now: now)
        }
        var record = DeliveryRecord(kind: .queued, conversionID: row.id, timeMillis: now)
        record.affID = row.affID
        record.nextMillis = row.changedMillis + delay
        return append(record, endpoint: endpoint, detail: url)
    }

    /// The endpoint and URL the current plan sends for a conversion, or nil when it sends nothing.
    func render(_ row: ConversionRow) -> (endpoint: String, url: String, delayMillis: Int64)? {
        let event = source.event(offerID: row.offerID, index: row.eventIndex)
        guard let (template, delay) = plan.route(affID: row.affID, offerID: row.offerID, event: event, status: row.status,
                                                 previous: row.previousStatus) else {
            return nil
        }
        return (template.endpoint, template.render { macro in self.value(macro, row, event: event) }, delay)
    }

    /// A conversion whose affiliate is no longer configured: nothing is sent, and a `skipped` record
    /// makes the warning and the count happen once per conversion (a restart resumes after it).
    func skipUnknownAffiliate(_ row: ConversionRow, now: Int64) -> Bool {
        var record = DeliveryRecord(kind: .skipped, conversionID: row.id, timeMillis: now)
        record.affID = row.affID
        guard append(record, endpoint: "", detail: "affiliate \(row.affID) is not in the configuration") else { return false }
        warn("deliveries: no partner postback for conversion \(row.id): affiliate \(row.affID) is not in the configuration "
            + "(removed?); the conversion is recorded and reported as usual")
        return true
    }

    /// The bytes of one macro for a conversion.
    func value(_ macro: Macro, _ row: ConversionRow, event: String) -> [UInt8] {
        func bytes(_ buffer: UnsafeRawBufferPointer) -> [UInt8] { Array(buffer) }
        func text(_ string: String) -> [UInt8] { Array(string.utf8) }
        switch macro {
        case .clickID:
            let shard = Int(row.clickRef >> 40), sequence = row.clickRef & (1 << 40 - 1)
            return row.clickTimeMillis == 0 ? [] : text(source.clickID(shard: shard, sequence: sequence, mintMillis: row.clickTimeMillis))
        case .offerID: return text(String(row.offerID))
        case .affID: return text(String(row.affID))
        case .sub1: return bytes(row.click.sub1)
        case .sub2: return bytes(row.click.sub2)
        case .sub3: return bytes(row.click.sub3)
        case .sub4: return bytes(row.click.sub4)
        case .sub5: return bytes(row.click.sub5)
        case .affClickID: return bytes(row.click.affClickID)
        case .source: return bytes(row.click.source)
        case .timestamp: return text(String(row.changedMillis / 1000))
        case .conversionID: return text(String(row.conversionID))
        case .event: return text(event)
        case .payout: return text(PartnerTemplate.money(row.payout))
        case .revenue: return text(PartnerTemplate.money(row.revenue))
        case .currency:
            return row.currency.0 == 0 ? [] : [row.currency.0, row.currency.1, row.currency.2]
        case .status: return text(row.status.name.description)
        case .txid: return bytes(row.txid)
        case .amount: return row.amount.map { text(PartnerTemplate.money($0)) } ?? []
        case .country: return text(row.clickEnrichment.countryText)
        case .device: return text(row.clickEnrichment.device.name.description)
        case .os: return bytes(row.clickEnrichmentTail.os)
        case .browser: return bytes(row.clickEnrichmentTail.browser)
        }
    }

    /// Appends to the log and folds the record into the ledger; false when the disk refuses.
    func append(_ record: DeliveryRecord, endpoint: String, detail: String) -> Bool {
        guard log.append(record, endpoint: endpoint, detail: detail) else {
            if !storageFailing { message("deliveries: cannot append to the delivery log (disk full?); will retry") }
            storageFailing = true
            return false
        }
        storageFailing = false
        logDirty = true
        ledger.apply(DeliveryEntry(record: record, endpoint: endpoint, detail: detail, sequence: log.count - 1))
        if record.kind == .queued || record.kind == .requeued || (record.kind == .attempt && record.outcome == .retry) {
            due.schedule(record.conversionID, at: record.nextMillis)
        }
        return true
    }
}
