// GET or POST /postback: resolve the click ID, apply the offer's attribution rules, and record the
// conversion exactly once, however many loops receive the same postback at the same instant.
import TrackstarCore
import TrackstarHTTP
import TrackstarStore

/// A postback that passed every rule, ready to record.
struct ConversionRequest {
    let id: ClickID
    let slot: UnsafeMutableRawPointer
    let offer: OfferRuntime
    /// The event's position in `offer.events` (its amounts).
    let event: Int
    /// The event's stable id: what the record and the index key store.
    let eventID: UInt8
    let status: ConversionStatus
    let amount: Int64
    /// The currency of `amount`: the sender's, or the offer's when it sent none.
    let currency: UInt32
    let txidHash: UInt64
    var clickRef: UInt64 { UInt64(id.shard) << 40 | id.sequence }
}

extension RequestHandler {
    /// 1. Parameters (the order id trimmed). 2. Decode and verify the ID (no table touched for a bad
    /// one). 3. Find the click. 4. Token and IP, when the offer is still configured. 5. A repeat of a
    /// recorded postback answers its conversion (or changes its status), whatever the window or configuration says now.
    /// 6. Offer rules: configured, window, delay, event. 7. Record once, or answer the earlier result.
    func postback(_ exchange: Exchange, to out: inout ByteWriter) {
        refusalOffer = 0
        refusalAffiliate = 0
        guard collectParams(exchange, to: &out) else { return }
        params.trimOrderID()
        guard let id = verifiedClickID(exchange, to: &out) else { return }
        guard let slot = engine.clickSlot(id), ClickSlot.mintMillis(slot) != 0 else {
            // Retired with its segment, or never minted here: the ID's mint minute tells which.
            let ageMinutes = Int64(ClickID.minute(unixMillis: exchange.context.nowMillis)) - Int64(id.mintMinute)
            if (ageMinutes - 1) * 60_000 > catalog.maxLifetimeMillis {
                return refuse(exchange, .gone, "expired", "click is older than the offer's click_lifetime", field: .clickID, to: &out)
            }
            return refuse(exchange, .notFound, "unknown_click", "no click with this id on this node", field: .clickID, to: &out)
        }
        let offerID = ClickSlot.offerID(slot)
        refusalOffer = offerID
        refusalAffiliate = ClickSlot.affID(slot)
        let offer = catalog.offer(offerID)
        if let offer { guard authorized(exchange, offer: offer, to: &out) else { return } }
        let txidHash = params.value(.txid).isEmpty ? 0 : engine.txidHash(params.value(.txid))
        // One index section for the repeat look-up and the claims: tables seen from here on stay
        // mapped until `leave` (one epoch store and fence a postback, not two).
        engine.index.enter(shard)
        defer { engine.index.leave(shard) }
        if let conversionID = recordedRepeat(id, offerID: offerID, txidHash: txidHash,
                                             multipleConversions: offer?.multipleConversions ?? false) {
            return repeated(exchange, conversionID: conversionID, offer: offer, to: &out)
        }
        guard let offer else {
            return refuse(exchange, .notFound, "unknown_offer", "the click's offer is no longer configured", to: &out)
        }
        guard inWindow(exchange, offer: offer, slot: slot, to: &out),
              let request = conversionRequest(exchange, id: id, slot: slot, offer: offer, txidHash: txidHash, to: &out) else { return }
        record(exchange, request, to: &out)
    }

    /// The conversion this exact postback (click, event, order id) already recorded, if any. Looks
    /// only, claims nothing: a postback that is not a repeat goes on through every rule. Without an
    /// order id on an offer with `multiple_conversions`, a postback is never a repeat (each converts).
    /// Call inside the loop's index section (`postback` enters it).
    func recordedRepeat(_ id: ClickID, offerID: UInt32, txidHash: UInt64, multipleConversions: Bool) -> UInt64? {
        guard let names = catalog.eventNames(offerID) else { return nil }
        guard let eventID = params.has(.event) ? names.id(params.value(.event)) : 0 else { return nil }
        let key: UInt64
        if txidHash != 0 {
            key = engine.txidKey(offer: offerID, txidHash: txidHash)
        } else {
            guard !multipleConversions else { return nil }
            key = Engine.eventKey(shard: id.shard, sequence: id.sequence, event: eventID)
        }
        guard let conversionID = engine.index.lookup(key), let first = engine.conversionRecord(conversionID) else { return nil }
        let clickRef = UInt64(id.shard) << 40 | id.sequence
        let same = ConversionRecord.clickRef(first) == clickRef && ConversionRecord.event(first) == eventID
            && ConversionRecord.txidHash(first) == txidHash
        return same ? conversionID : nil
    }

    /// The presented click ID, decoded and with its tag verified.
    func verifiedClickID(_ exchange: Exchange, to out: inout ByteWriter) -> ClickID? {
        guard params.has(.clickID) else {
            refuse(exchange, .badRequest, "missing_parameter", "required parameter is missing", field: .clickID, to: &out)
            return nil
        }
        let text = params.value(.clickID)
        // Braces are not base32, so an unreplaced macro always decodes as malformed: look for them
        // only then, instead of scanning every presented ID twice first.
        switch engine.codec.decode(text) {
        case .malformed:
            if text.contains(UInt8(ascii: "{")) || text.contains(UInt8(ascii: "}")) {
                refuse(exchange, .badRequest, "unreplaced_macro", "a literal {macro} arrived; fix the advertiser's postback template",
                       field: .clickID, to: &out)
                return nil
            }
            refuse(exchange, .badRequest, "malformed_id", "not a Trackstar click id (26 base32 characters)", field: .clickID, to: &out)
            return nil
        case .forged:
            refuse(exchange, .notFound, "forged_id", "click id does not verify", field: .clickID, to: &out)
            return nil
        case .valid(let id):
            return id
        }
    }

    /// Token and IP allowlist.
    func authorized(_ exchange: Exchange, offer: OfferRuntime, to out: inout ByteWriter) -> Bool {
        if let token = offer.token, !Bytes.constantTimeEqual(token, params.value(.token)) {
            refuse(exchange, .forbidden, "bad_token", "missing or wrong token for this offer", field: .token, to: &out)
            return false
        }
        let peer = clientAddress(exchange)
        guard offer.allows(high: peer.high, low: peer.low) else {
            refuse(exchange, .forbidden, "ip_not_allowed", "caller's IP is not in the offer's allowed_ips", to: &out)
            return false
        }
        return true
    }

    /// Attribution window and minimum delay.
    func inWindow(_ exchange: Exchange, offer: OfferRuntime, slot: UnsafeRawPointer, to out: inout ByteWriter) -> Bool {
        let age = exchange.context.nowMillis - ClickSlot.mintMillis(slot)
        if age > offer.clickLifetimeMillis {
            refuse(exchange, .gone, "expired", "click is older than the offer's click_lifetime", field: .clickID, to: &out)
            return false
        }
        if age < offer.minConversionDelayMillis {
            refuse(exchange, .unprocessable, "too_fast", "conversion came sooner than min_conversion_delay after the click",
                   field: .clickID, to: &out)
            return false
        }
        return true
    }

    /// Event, status, amount and currency, checked (`txidHash`: the trimmed order id's fingerprint, 0 for none).
    func conversionRequest(_ exchange: Exchange, id: ClickID, slot: UnsafeMutableRawPointer, offer: OfferRuntime,
                           txidHash: UInt64, to out: inout ByteWriter) -> ConversionRequest? {
        let event = params.has(.event) ? offer.eventIndex(params.value(.event)) : 0
        guard let event else {
            refuse(exchange, .unprocessable, "unknown_event", "the offer defines no such event", field: .event, to: &out)
            return nil
        }
        let status = params.has(.status) ? ConversionStatus.parse(params.value(.status)) : .approved
        guard let status else {
            refuse(exchange, .badRequest, "malformed_parameter", "expected approved, pending or rejected", field: .status, to: &out)
            return nil
        }
        let amount = params.has(.amount) ? Decimal.parseMicros(params.value(.amount)) : ConversionRecord.noAmount
        guard let amount else {
            refuse(exchange, .badRequest, "malformed_parameter", "expected a non-negative decimal below 1000000000000 with at most 6 decimals",
                   field: .amount, to: &out)
            return nil
        }
        let currency = params.has(.currency) ? Currency.code(params.value(.currency)) : offer.currencyCode
        guard let currency else {
            refuse(exchange, .badRequest, "malformed_parameter", "expected an ISO 4217 currency code such as EUR", field: .currency, to: &out)
            return nil
        }
        return ConversionRequest(id: id, slot: slot, offer: offer, event: event, eventID: offer.events[event].id, status: status,
                                 amount: amount, currency: currency, txidHash: txidHash)
    }
}

/// ISO 4217 currency codes packed into 32 bits (first letter in the low byte).
enum Currency {
    /// The code of `bytes` (letters in either case), or nil unless it is an ISO 4217 code.
    static func code(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
        guard bytes.count == 3 else { return nil }
        let a = bytes[0] & ~0x20, b = bytes[1] & ~0x20, c = bytes[2] & ~0x20
        guard ISO4217.contains(a, b, c) else { return nil }
        return UInt32(a) | UInt32(b) << 8 | UInt32(c) << 16
    }

    static func code(_ bytes: [UInt8]) -> UInt32? { bytes.withUnsafeBytes { code($0) } }

    static func write(_ code: UInt32, to w: inout ByteWriter) {
        for i in 0..<3 { w.append(UInt8(truncatingIfNeeded: code >> (8 * UInt32(i)))) }
    }
}
