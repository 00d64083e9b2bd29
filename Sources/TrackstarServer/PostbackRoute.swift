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
    /// Payout and revenue the sender stated for this conversion (they replace the event's), if any.
    let statedPayout: Int64?
    let statedRevenue: Int64?
    var clickRef: UInt64 { UInt64(id.shard) << 40 | id.sequence }
}

extension RequestHandler {
    /// 1. Parameters, kept by name (the profile is not known yet). 2. The click ID from the candidate
    /// names, decoded and verified (no table touched for a bad one). 3. Find the click; its offer
    /// chooses the sender profile, which reads the other fields (the order id trimmed). 4. Token and IP,
    /// when the offer is still configured. 5. A repeat of a recorded postback answers its conversion
    /// (or changes its status), whatever the window or configuration says now. 6. Offer rules:
    /// configured, window, delay, event, status. 7. Record once, or answer the earlier result.
    func postback(_ exchange: Exchange, to out: inout ByteWriter) {
        // The name table and click-ID candidates come from the loop's state as plain pointers (no class
        // reference, no retain); the catalog's profile table is touched only for a nil offer or a refusal.
        guard collectPostbackParams(exchange, state.pointee.postbackNames, to: &out) else { return }
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
        exchange.offerID = offerID
        exchange.affiliateID = ClickSlot.affID(slot)
        let offer = catalog.offer(offerID)
        let profile = offer?.profile ?? catalog.profiles.serverDefault
        guard readFields(exchange, profile: profile, to: &out) else { return }
        params.trimOrderID()
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

    /// The presented click ID, decoded and with its tag verified: the first candidate name (see
    /// `ProfileTable.clickCandidates`) whose value verifies. When none does, the refusal says the
    /// worst of what was found: a forged ID, an unfilled template, a malformed ID, a bad encoding.
    func verifiedClickID(_ exchange: Exchange, to out: inout ByteWriter) -> ClickID? {
        var worst = ClickProblem.none
        let candidates = state.pointee.clickCandidates
        for k in 0..<state.pointee.clickCandidateCount {
            let index = candidates[k]
            guard params.seen.contains(index) else { continue }
            if params.repeatedDifferently.contains(index) { worst = max(worst, .conflicting); continue }
            let text: UnsafeRawBufferPointer
            switch params.decoded(index, into: .clickID) {
            case .success(let value): text = value
            case .failure(.tooLong): worst = max(worst, .tooLong); continue
            case .failure:
                let sent = params.named[index].bytes
                worst = max(worst, Placeholder.isUnfilled(sent, words: catalog.profiles.serverDefault.placeholders) ? .unfilled : .encoding)
                continue
            }
            switch engine.codec.decode(text) {
            case .valid(let id):
                params.set(.clickID, text)
                params.clickName = index
                return id
            case .forged: worst = max(worst, .forged)
            case .malformed:
                worst = max(worst, Placeholder.isUnfilled(text, words: catalog.profiles.serverDefault.placeholders) ? .unfilled : .malformed)
            }
        }
        refuseClickID(exchange, worst, to: &out)
        return nil
    }

    /// What was wrong with the click IDs presented, worst last.
    enum ClickProblem: Int, Comparable {
        case none, encoding, tooLong, conflicting, malformed, unfilled, forged
        static func < (a: ClickProblem, b: ClickProblem) -> Bool { a.rawValue < b.rawValue }
    }

    func refuseClickID(_ exchange: Exchange, _ problem: ClickProblem, to out: inout ByteWriter) {
        switch problem {
        case .none: refuse(exchange, .badRequest, "missing_parameter", "required parameter is missing", field: .clickID, to: &out)
        case .encoding: refuse(exchange, .badRequest, "malformed_parameter", "invalid percent-encoding", field: .clickID, to: &out)
        case .tooLong:
            refuse(exchange, .badRequest, "malformed_parameter", "value longer than server.max_value_bytes", field: .clickID, to: &out)
        case .conflicting:
            refuse(exchange, .badRequest, "conflicting_parameter", "given twice with different values", field: .clickID, to: &out)
        case .malformed:
            refuse(exchange, .badRequest, "malformed_id", "not a Trackstar click id (26 base32 characters)", field: .clickID, to: &out)
        case .unfilled:
            refuse(exchange, .badRequest, "unreplaced_macro", "a literal {macro} arrived; fix the advertiser's postback template",
                   field: .clickID, to: &out)
        case .forged: refuse(exchange, .notFound, "forged_id", "click id does not verify", field: .clickID, to: &out)
        }
    }

    /// Reads the fields `profile` names. The click ID must have come from one of the profile's own
    /// click-ID names, and another of them must not say otherwise.
    func readFields(_ exchange: Exchange, profile: PostbackProfile, to out: inout ByteWriter) -> Bool {
        guard profile.clickNames.contains(params.clickName) else {
            refuse(exchange, .badRequest, "missing_parameter", "the offer's postback profile reads the click id from other parameter names",
                   field: .clickID, to: &out)
            return false
        }
        var others = params.seen.intersection(profile.clickNames)
        others.remove(params.clickName)
        if !others.isEmpty, !otherClickNamesAgree(others, count: catalog.profiles.names.names.count) {
            refuse(exchange, .badRequest, "conflicting_parameter", "given twice with different values", field: .clickID, to: &out)
            return false
        }
        var unfilled: UInt32 = 0
        let problem = params.map(profile, unfilled: &unfilled)
        if unfilled != 0 { metrics.count(.postbackFieldsUnfilled, by: UInt64(unfilled.nonzeroBitCount)) }
        guard let problem else { return true }
        switch problem {
        case .malformedEncoding(let field):
            refuse(exchange, .badRequest, "malformed_parameter", "invalid percent-encoding", field: field, to: &out)
        case .tooLong(let field):
            refuse(exchange, .badRequest, "malformed_parameter", "value longer than server.max_value_bytes", field: field, to: &out)
        case .conflicting(let field):
            refuse(exchange, .badRequest, "conflicting_parameter", "given twice with different values", field: field, to: &out)
        case .unfilled(let field):
            refuse(exchange, .badRequest, "unreplaced_macro", "a required field is an unfilled template; fix the sender's postback template",
                   field: field, to: &out)
        case .missing(let field):
            refuse(exchange, .badRequest, "missing_parameter", "required by the offer's postback profile", field: field, to: &out)
        }
        return false
    }

    /// True when every name in `others` decodes to the click ID already read.
    func otherClickNamesAgree(_ others: NameSet, count: Int) -> Bool {
        for index in 0..<count where others.contains(index) {
            if params.repeatedDifferently.contains(index) { return false }
            guard case .success(let text) = params.decoded(index, into: .clickID), Params.same(text, params.value(.clickID)) else { return false }
        }
        return true
    }

    /// Keeps the query's parameters and a form or JSON body's, by profile name; any other body type
    /// is refused 415, a malformed JSON body 400.
    func collectPostbackParams(_ exchange: Exchange, _ names: PostbackNames.Lookup, to out: inout ByteWriter) -> Bool {
        params.reset()
        let head = exchange.head
        let hasBody = head.method == .post && head.contentLength > 0
        if hasBody && head.bodyType != .form && head.bodyType != .json {
            refuse(exchange, .unsupportedMediaType, "unsupported_media_type",
                   "send the body as application/x-www-form-urlencoded or application/json, or the parameters in the query", to: &out)
            return false
        }
        params.collectNamed(exchange.request, range: head.query, nameScratch: nameScratch, names: names)
        guard hasBody else { return true }
        if head.bodyType == .form {
            params.collectNamed(exchange.request, range: head.body, nameScratch: nameScratch, names: names)
            return true
        }
        switch params.collectNamedJSON(exchange.request, range: head.body, names: jsonNames, profileNames: names, nameScratch: nameScratch) {
        case .malformedJSON(let problem, let offset, let field)?:
            refuse(exchange, .badRequest, "malformed_body", problem.message, field: field, offset: offset, to: &out)
            return false
        case nil:
            return true
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
        let profile = offer.profile
        var event = params.has(.event) ? offer.eventIndex(params.value(.event)) : 0
        if event == nil && unfilled(.event, profile) { event = 0 }
        guard let event else {
            refuse(exchange, .unprocessable, "unknown_event", "the offer defines no such event", field: .event, to: &out)
            return nil
        }
        var status = params.has(.status) ? profile.status(params.value(.status)) : .approved
        if status == nil && unfilled(.status, profile) { status = .approved }
        guard let status else {
            refuseUnknownStatus(exchange, profile: profile, to: &out)
            return nil
        }
        var amount = params.has(.amount) ? profile.micros(params.value(.amount)) : ConversionRecord.noAmount
        if amount == nil && unfilled(.amount, profile) { amount = ConversionRecord.noAmount }
        guard let amount else { refuseAmount(exchange, .amount, to: &out); return nil }
        let payout = params.has(.payout) ? profile.micros(params.value(.payout)) : nil
        if params.has(.payout) && payout == nil && !unfilled(.payout, profile) { refuseAmount(exchange, .payout, to: &out); return nil }
        let revenue = params.has(.revenue) ? profile.micros(params.value(.revenue)) : nil
        if params.has(.revenue) && revenue == nil && !unfilled(.revenue, profile) { refuseAmount(exchange, .revenue, to: &out); return nil }
        var currency = params.has(.currency) ? Currency.code(params.value(.currency)) : offer.currencyCode
        if currency == nil && unfilled(.currency, profile) { currency = offer.currencyCode }
        guard let currency else {
            refuse(exchange, .badRequest, "malformed_parameter", "expected an ISO 4217 currency code such as EUR", field: .currency, to: &out)
            return nil
        }
        return ConversionRequest(id: id, slot: slot, offer: offer, event: event, eventID: offer.events[event].id, status: status,
                                 amount: amount, currency: currency, txidHash: txidHash, statedPayout: payout, statedRevenue: revenue)
    }

    /// Whether `field`'s value (which did not parse) is an unfilled template: then it is read as
    /// absent, counted, and cleared.
    func unfilled(_ field: ParamField, _ profile: PostbackProfile) -> Bool {
        guard Placeholder.isUnfilled(params.value(field), words: profile.placeholders) else { return false }
        metrics.count(.postbackFieldsUnfilled)
        params.clear(field)
        return true
    }

    func refuseAmount(_ exchange: Exchange, _ field: ParamField, to out: inout ByteWriter) {
        refuse(exchange, .badRequest, "malformed_parameter", "expected a non-negative decimal below 1000000000000 with at most 6 decimals",
               field: field, to: &out)
    }

    /// 422 `unknown_status`, naming the word and the profile (so the profile can be fixed and the
    /// refusal replayed).
    func refuseUnknownStatus(_ exchange: Exchange, profile: PostbackProfile, to out: inout ByteWriter) {
        metrics.refused(.unknownStatus)
        logRefusal(exchange, .unprocessable, .unknownStatus)
        let word = params.value(.status)
        responses.json(.unprocessable, keepAlive: exchange.head.keepAlive, headOnly: exchange.head.method == .head,
                       nowMillis: exchange.context.nowMillis, to: &out) { body in
            body.append("{\"status\":\"refused\",\"reason\":\"unknown_status\",\"message\":\"status: ")
            body.append("'")
            body.appendJSONEscaped(word)
            body.append("' is not a status word of postback profile '")
            profile.name.withUnsafeBytes { body.appendJSONEscaped($0) }
            body.append("'; add it to the profile's approved, pending or rejected words\",\"word\":\"")
            body.appendJSONEscaped(word)
            body.append("\",\"profile\":\"")
            profile.name.withUnsafeBytes { body.appendJSONEscaped($0) }
            body.append("\"}")
        }
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
