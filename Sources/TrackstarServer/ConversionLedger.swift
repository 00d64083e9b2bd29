// Recording a conversion exactly once: claim the order id and the (click, event) pair in the shared
// index with compare-and-swap, append the record to this loop's table, then publish its id.
import Atomics
import TrackstarCore
import TrackstarStore

extension RequestHandler {
    /// 1. Claim the txid (if any), then the click+event pair (unless multiple conversions are allowed).
    /// 2. A key someone else holds answers with their conversion: a repeat (200) or a conflict (409).
    /// 3. Otherwise append the record, publish its id under the claimed keys, and answer 200.
    func record(_ exchange: Exchange, _ request: ConversionRequest, to out: inout ByteWriter) {
        // Inside the loop's index section, which `postback` entered before its repeat look-up.
        let index = engine.index
        let expires = request.offer.keyExpiry(nowMillis: exchange.context.nowMillis, mintMillis: ClickSlot.mintMillis(request.slot))
        var txidEntry: Int?
        if request.txidHash != 0 {
            switch index.claim(engine.txidKey(offer: request.offer.id, txidHash: request.txidHash), expiresMillis: expires) {
            case .full: return indexFull(exchange, to: &out)
            case .existing(_, let value): return answerExisting(exchange, request, conversionID: value, heldBy: .txid, to: &out)
            case .claimed(let entry): txidEntry = entry
            }
        }
        var eventEntry: Int?
        if !request.offer.multipleConversions {
            switch index.claim(Engine.eventKey(shard: request.id.shard, sequence: request.id.sequence, event: Int(request.eventID)),
                               expiresMillis: expires) {
            case .full:
                if let txidEntry { index.abort(entry: txidEntry) }
                return indexFull(exchange, to: &out)
            case .existing(_, let value):
                if let txidEntry { index.abort(entry: txidEntry) }  // this order id was not used after all
                return answerExisting(exchange, request, conversionID: value, heldBy: .event, to: &out)
            case .claimed(let entry): eventEntry = entry
            }
        }
        guard let conversionID = append(exchange, request) else {
            if let txidEntry { index.abort(entry: txidEntry) }
            if let eventEntry { index.abort(entry: eventEntry) }
            return storageFailure(exchange, table: conversionTable, to: &out)
        }
        if let eventEntry { index.publish(entry: eventEntry, value: conversionID) }
        if let txidEntry { index.publish(entry: txidEntry, value: conversionID) }
        // Relaxed: a statistic of the click; exclusion is the index's job.
        ClickSlot.conversions(request.slot).wrappingIncrement(ordering: .relaxed)
        answerRecorded(exchange, conversionID: conversionID, duplicate: false, to: &out)
    }

    /// Appends the conversion record to this loop's table and publishes it; returns its id. The
    /// variable bytes are the txid, then the parameters the profile did not map (length-prefixed).
    func append(_ exchange: Exchange, _ request: ConversionRequest) -> UInt64? {
        let table = conversionTable
        let txid = params.value(.txid)
        let extras = params.hasExtras ? unmappedParameters(exchange, profile: request.offer.profile)
            : (bytes: UnsafeRawBufferPointer(start: nil, count: 0), truncated: false)
        let length = txid.count + (extras.bytes.count > 0 ? 2 + extras.bytes.count : 0)
        guard let (sequence, record) = table.reserveRecord() else { return nil }
        guard sequence <= ClickID.maxSequence, let (offset, bytes) = table.reserveBytes(length) else {
            table.unreserveRecord()
            return nil
        }
        if let base = txid.baseAddress, txid.count > 0 { bytes.copyMemory(from: base, byteCount: txid.count) }
        if let base = extras.bytes.baseAddress, extras.bytes.count > 0 {
            bytes.storeBytes(of: UInt16(extras.bytes.count), toByteOffset: txid.count, as: UInt16.self)
            (bytes + txid.count + 2).copyMemory(from: base, byteCount: extras.bytes.count)
        }
        let event = request.offer.events[request.event]
        let affID = ClickSlot.affID(request.slot)
        let capped = conversionCapped(request, affID: affID, nowMillis: exchange.context.nowMillis)  // issue 14
        ConversionRecord.write(record, .init(
            clickRef: request.clickRef, timeMillis: exchange.context.nowMillis, txidHash: request.txidHash,
            amount: request.amount, payout: capped ? 0 : request.statedPayout ?? event.payout,
            revenue: capped ? 0 : request.statedRevenue ?? event.revenue,
            offerID: request.offer.id, affID: affID, event: request.eventID,
            status: capped ? .rejected : request.status, currency: request.currency, varOffset: offset, varLength: length,
            payoutCurrency: request.offer.currencyCode))
        if capped { ConversionRecord.writeRejectReason(record, ConversionRecord.capReached) }
        if extras.bytes.count > 0 { ConversionRecord.writeExtras(record, length: extras.bytes.count, truncated: extras.truncated) }
        ConversionRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: length))
        table.publish(count: sequence + 1)
        return Engine.conversionID(shard: shard, sequence: sequence)
    }

    /// Which index key a conflict was found under.
    enum HeldKey { case txid, event }

    /// Someone recorded under this key first: the same postback again is a duplicate (200). Otherwise
    /// the refusal names the key that collided: the order id (used on another click, or by another
    /// event of this click) or the event (this click converted for it with another order id).
    func answerExisting(_ exchange: Exchange, _ request: ConversionRequest, conversionID: UInt64, heldBy key: HeldKey,
                        to out: inout ByteWriter) {
        guard let first = engine.conversionRecord(conversionID) else {
            return refuse(exchange, .internalError, "internal", "conversion index points at a missing record", to: &out)
        }
        let sameClick = ConversionRecord.clickRef(first) == request.clickRef
        if sameClick && ConversionRecord.event(first) == Int(request.eventID) && ConversionRecord.txidHash(first) == request.txidHash {
            return answerRecorded(exchange, conversionID: conversionID, duplicate: true, to: &out)
        }
        switch (key, sameClick) {
        case (.txid, false):
            refuse(exchange, .conflict, "duplicate_txid", "this order id was already converted on another click", field: .txid, to: &out)
        case (.txid, true):
            refuse(exchange, .conflict, "duplicate_txid", "this order id was already converted for another event of this click",
                   field: .txid, to: &out)
        case (.event, _):
            refuse(exchange, .conflict, "duplicate_event", "this click already converted for this event with another order id",
                   field: .event, to: &out)
        }
    }

    func indexFull(_ exchange: Exchange, to out: inout ByteWriter) {
        refuse(exchange, .insufficientStorage, "index_full", "conversion index reached its memory guard; raise storage.max_conversions", to: &out)
    }

    /// `{"status":…,"conversion_id":…,"click_id":…,"offer_id":…,"aff_id":…,"event":…,"payout":…,
    /// "revenue":…,"currency":…}` with `"amount":…,"amount_currency":…` when the postback carried an
    /// amount. Works for an offer since removed from the configuration (names come from its event ids).
    /// The status is the conversion's current one; a `change` this request made adds
    /// `"updated":true,"previous_status":…` (and the amount it carried, when it changed).
    func answerRecorded(_ exchange: Exchange, conversionID: UInt64, duplicate: Bool, change: StatusChangeAnswer? = nil,
                        to out: inout ByteWriter) {
        metrics.count(duplicate ? .postbacksDuplicate : change == nil ? .postbacksRecorded : .postbacksUpdated)
        guard let record = engine.conversionRecord(conversionID) else {
            return refuse(exchange, .internalError, "internal", "conversion record is missing", to: &out)
        }
        let offerID = ConversionRecord.offerID(record)
        let names = catalog.eventNames(offerID)
        let payoutCurrency = payoutCurrency(record)
        let updatedAmount = change.map { $0.amount != ConversionRecord.noAmount } ?? false
        let amount = updatedAmount ? change!.amount : ConversionRecord.amount(record)
        let amountCurrency = updatedAmount ? change!.currency : ConversionRecord.currency(record)
        let status = ConversionRecord.currentState(record).status
        let clickID = params.value(.clickID)
        responses.json(.ok, keepAlive: exchange.head.keepAlive, headOnly: exchange.head.method == .head,
                       nowMillis: exchange.context.nowMillis, to: &out) { body in
            body.append("{\"status\":\"")
            body.append(status.name)
            body.append("\",\"conversion_id\":")
            body.appendDecimal(conversionID)
            body.append(",\"click_id\":\"")
            body.appendJSONEscaped(clickID)
            body.append("\",\"offer_id\":")
            body.appendDecimal(UInt64(offerID))
            body.append(",\"aff_id\":")
            body.appendDecimal(UInt64(ConversionRecord.affID(record)))
            body.append(",\"event\":\"")
            if let names { names.name(ConversionRecord.event(record)).withUnsafeBytes { body.appendJSONEscaped($0) } }
            body.append("\",\"payout\":")
            body.appendMicros(ConversionRecord.payout(record))
            body.append(",\"revenue\":")
            body.appendMicros(ConversionRecord.revenue(record))
            body.append(",\"currency\":\"")
            Currency.write(payoutCurrency, to: &body)
            body.append("\"")
            if amount != ConversionRecord.noAmount {
                body.append(",\"amount\":")
                body.appendMicros(amount)
                body.append(",\"amount_currency\":\"")
                Currency.write(amountCurrency, to: &body)
                body.append("\"")
            }
            if ConversionRecord.rejectReason(record) == ConversionRecord.capReached { body.append(",\"reason\":\"cap_reached\"") }
            if let change {
                body.append(",\"updated\":true,\"previous_status\":\"")
                body.append(change.previous.name)
                body.append("\"")
            }
            body.append(duplicate ? ",\"duplicate\":true}" : "}")
        }
    }

    /// The currency of a record's payout and revenue: stored since stable event ids; for an older
    /// record, the offer's configured currency (what its payout was paid in), else the stored one.
    func payoutCurrency(_ record: UnsafeRawPointer) -> UInt32 {
        let stored = ConversionRecord.payoutCurrency(record)
        if stored != 0 { return stored }
        return catalog.offer(ConversionRecord.offerID(record))?.currencyCode ?? ConversionRecord.currency(record)
    }
}
