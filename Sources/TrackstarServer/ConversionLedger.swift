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
        let index = engine.index
        var txidEntry: Int?
        if request.txidHash != 0 {
            switch index.claim(engine.txidKey(offer: request.offer.id, txidHash: request.txidHash)) {
            case .full: return indexFull(exchange, to: &out)
            case .existing(_, let value): return answerExisting(exchange, request, conversionID: value, to: &out)
            case .claimed(let entry): txidEntry = entry
            }
        }
        var eventEntry: Int?
        if !request.offer.multipleConversions {
            switch index.claim(Engine.eventKey(shard: request.id.shard, sequence: request.id.sequence, event: request.event)) {
            case .full:
                if let txidEntry { index.abort(entry: txidEntry) }
                return indexFull(exchange, to: &out)
            case .existing(_, let value):
                if let txidEntry { index.abort(entry: txidEntry) }  // this order id was not used after all
                return answerExisting(exchange, request, conversionID: value, to: &out)
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

    /// Appends the conversion record to this loop's table and publishes it; returns its id.
    func append(_ exchange: Exchange, _ request: ConversionRequest) -> UInt64? {
        let table = conversionTable
        let txid = params.value(.txid)
        guard let (sequence, record) = table.reserveRecord() else { return nil }
        guard sequence <= ClickID.maxSequence, let (offset, bytes) = table.reserveBytes(txid.count) else {
            table.unreserveRecord()
            return nil
        }
        if let base = txid.baseAddress, txid.count > 0 { bytes.copyMemory(from: base, byteCount: txid.count) }
        let event = request.offer.events[request.event]
        let paid = request.status == .rejected
        ConversionRecord.write(record, .init(
            clickRef: request.clickRef, timeMillis: exchange.context.nowMillis, txidHash: request.txidHash,
            amount: request.amount, payout: paid ? 0 : event.payout, revenue: paid ? 0 : event.revenue,
            offerID: request.offer.id, affID: ClickSlot.affID(request.slot), event: UInt8(request.event),
            status: request.status, currency: request.currency, varOffset: offset, varLength: txid.count))
        ConversionRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: txid.count))
        table.publish(count: sequence + 1)
        return Engine.conversionID(shard: shard, sequence: sequence)
    }

    /// Someone recorded under this key first: the same postback again is a duplicate (200); a
    /// different txid for the same click and event, or this txid on another click, is a conflict.
    func answerExisting(_ exchange: Exchange, _ request: ConversionRequest, conversionID: UInt64, to out: inout ByteWriter) {
        guard let first = engine.conversionRecord(conversionID) else {
            return refuse(exchange, .internalError, "internal", "conversion index points at a missing record", to: &out)
        }
        let sameClick = ConversionRecord.clickRef(first) == request.clickRef
        if sameClick && ConversionRecord.event(first) == request.event && ConversionRecord.txidHash(first) == request.txidHash {
            return answerRecorded(exchange, conversionID: conversionID, duplicate: true, to: &out)
        }
        if !sameClick {
            return refuse(exchange, .conflict, "duplicate_txid", "this order id was already converted on another click",
                          field: .txid, to: &out)
        }
        refuse(exchange, .conflict, "duplicate_event", "this click already converted for this event", field: .event, to: &out)
    }

    func indexFull(_ exchange: Exchange, to out: inout ByteWriter) {
        refuse(exchange, .insufficientStorage, "index_full", "conversion index is full; raise storage.max_conversions", to: &out)
    }

    /// `{"status":…,"conversion_id":…,"click_id":…,"offer_id":…,"aff_id":…,"event":…,"payout":…,…}`.
    func answerRecorded(_ exchange: Exchange, conversionID: UInt64, duplicate: Bool, to out: inout ByteWriter) {
        metrics.count(duplicate ? .postbacksDuplicate : .postbacksRecorded)
        guard let record = engine.conversionRecord(conversionID),
              let offer = catalog.offer(record.load(fromByteOffset: 48, as: UInt32.self)) else {
            return refuse(exchange, .internalError, "internal", "conversion record is missing", to: &out)
        }
        let clickID = params.value(.clickID)
        responses.json(.ok, keepAlive: exchange.head.keepAlive, headOnly: exchange.head.method == .head,
                       nowMillis: exchange.context.nowMillis, to: &out) { body in
            body.append("{\"status\":\"")
            body.append(ConversionRecord.status(record).name)
            body.append("\",\"conversion_id\":")
            body.appendDecimal(conversionID)
            body.append(",\"click_id\":\"")
            body.appendJSONEscaped(clickID)
            body.append("\",\"offer_id\":")
            body.appendDecimal(UInt64(offer.id))
            body.append(",\"aff_id\":")
            body.appendDecimal(UInt64(record.load(fromByteOffset: 52, as: UInt32.self)))
            body.append(",\"event\":\"")
            offer.events[ConversionRecord.event(record)].name.withUnsafeBytes { body.appendJSONEscaped($0) }
            body.append("\",\"payout\":")
            body.appendMicros(ConversionRecord.payout(record))
            body.append(",\"revenue\":")
            body.appendMicros(ConversionRecord.revenue(record))
            body.append(",\"currency\":\"")
            Currency.write(record.load(fromByteOffset: 60, as: UInt32.self), to: &body)
            body.append(duplicate ? "\",\"duplicate\":true}" : "\"}")
        }
    }
}
