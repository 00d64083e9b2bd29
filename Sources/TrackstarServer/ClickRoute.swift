// GET /click: validate, mint a click ID in this loop's shard, record the click, and redirect to the
// offer's landing page with the macros filled in.
import TrackstarCore
import TrackstarHTTP
import TrackstarIO
import TrackstarStore

extension RequestHandler {
    /// 1. Collect parameters leniently: a shopper's browser never gets an error for a value (an
    ///    over-long one is cut, a repeat dropped, a broken escape kept as sent; noted below).
    /// 2. Look up offer and affiliate: no usable offer → refused (there is nowhere to send the
    ///    shopper); no usable affiliate, or either paused → the offer's fallback, else refused.
    /// 3. Enrich (country and network, device, bot reason: EnrichClick.swift); a bot goes where the
    ///    offer's `bot_action` says (`fallback`: trafficback, reason `bot`). 4. Traffic control (Trafficback.swift): pause, targeting, caps; a
    ///    click the offer cannot take is diverted. 5. Mint and record (GET only) with the unique flag,
    ///    noting any parameter change, and answer 302 (`land`). `smartlink=ID`: SmartLinks.swift.
    func click(_ exchange: Exchange, to out: inout ByteWriter) {
        params.reset()
        _ = params.collect(exchange.request, range: exchange.head.query, nameScratch: nameScratch, lenient: true)
        if params.has(.smartlink) { return smartLinkParameter(exchange, to: &out) }
        guard let offerID = clickID(.offerID, exchange, to: &out) else { return }
        exchange.offerID = offerID
        guard let offer = catalog.offer(offerID) else {
            return refuseClick(exchange, .notFound, .clickUnknownOffer, "unknown_offer", "no offer with this id", field: .offerID, to: &out)
        }
        guard let affID = clickID(.affID, exchange, offer: offer, to: &out) else { return }
        exchange.affiliateID = affID
        guard let affiliate = catalog.affiliate(affID) else {
            return fallbackOrRefuse(exchange, offer: offer, affID: affID, .clickUnknownAffiliate, .notFound, "unknown_affiliate",
                                    "no affiliate with this id", field: .affID, to: &out)
        }
        if affiliate.paused || (offer.paused && !hasTrafficback(offer, affiliate)) {
            return redirectToFallback(exchange, offer: offer, affID: affID, affiliatePaused: affiliate.paused, to: &out)
        }
        let address = clientAddress(exchange)
        var facts = enrich(exchange, address: address)
        if facts.head.botReason != .none && offer.botAction != .flag {
            return divertBot(exchange, offer: offer, affiliate: affiliate, address: address, facts: &facts, to: &out)
        }
        if facts.head.botReason != .none { metrics.count(.botsFlagged) }
        let reason = admits(offer, affID: affID, facts: facts, nowMillis: exchange.context.nowMillis, take: exchange.head.method == .get)
        if reason != .none {
            return divert(exchange, requested: offer, affiliate: affiliate, reason: reason, address: address, facts: &facts, to: &out)
        }
        land(exchange, offer: offer, affID: affID, address: address, facts: &facts, to: &out)
    }

    /// A click's offer or affiliate id: a positive 32-bit integer. When absent or malformed, the
    /// click goes to `offer`'s fallback if there is one, else it is refused 400 naming the field.
    func clickID(_ field: ParamField, _ exchange: Exchange, offer: OfferRuntime? = nil, to out: inout ByteWriter) -> UInt32? {
        guard params.has(field) else {
            fallbackOrRefuse(exchange, offer: offer, affID: 0, .clickMissingParameter, .badRequest, "missing_parameter",
                             "required parameter is missing", field: field, to: &out)
            return nil
        }
        guard let id = Decimal.parseUInt32(params.value(field)), id > 0 else {
            fallbackOrRefuse(exchange, offer: offer, affID: 0, .clickMalformedParameter, .badRequest, "malformed_parameter",
                             "expected a positive integer", field: field, to: &out)
            return nil
        }
        return id
    }

    /// A click that cannot be recorded: 302 to the offer's fallback URL when it has one (no click
    /// minted), else the JSON refusal. Counted and logged under `issue` either way.
    func fallbackOrRefuse(_ exchange: Exchange, offer: OfferRuntime?, affID: UInt32, _ issue: RefusalReason, _ status: HTTPStatus,
                          _ reason: StaticString, _ message: StaticString, field: ParamField, to out: inout ByteWriter) {
        guard let offer, offer.fallback != nil else {
            return refuseClick(exchange, status, issue, reason, message, field: field, to: &out)
        }
        noteClickIssue(exchange, issue, status: .found)
        let values = ClickValues(params: params, offerID: offer.id, affID: affID, nowMillis: exchange.context.nowMillis)
        metrics.count(.clicksFallback)
        redirect(exchange, offer: offer, fallback: true, values: values, to: &out)
    }

    /// Refuses a click (JSON: there is no fallback to send the shopper to), counted and logged.
    func refuseClick(_ exchange: Exchange, _ status: HTTPStatus, _ issue: RefusalReason, _ reason: StaticString,
                     _ message: StaticString, field: ParamField? = nil, to out: inout ByteWriter) {
        noteClickIssue(exchange, issue, status: status)
        refuse(exchange, status, reason, message, field: field, to: &out)
    }

    /// Paused offer or affiliate: 302 to the offer's fallback URL without minting, or 404 if it has none.
    func redirectToFallback(_ exchange: Exchange, offer: OfferRuntime, affID: UInt32, affiliatePaused: Bool,
                            to out: inout ByteWriter) {
        guard offer.fallback != nil else {
            if affiliatePaused {
                return refuseClick(exchange, .notFound, .clickAffiliatePaused, "affiliate_paused", "affiliate is paused", field: .affID, to: &out)
            }
            return refuseClick(exchange, .notFound, .clickOfferPaused, "offer_paused", "offer is paused and has no fallback_url",
                               field: .offerID, to: &out)
        }
        let values = ClickValues(params: params, offerID: offer.id, affID: affID, nowMillis: exchange.context.nowMillis)
        metrics.count(.clicksFallback)
        redirect(exchange, offer: offer, fallback: true, values: values, to: &out)
    }

    /// Writes the click into this loop's shard and publishes it; fills in the minted ID. The address
    /// is stored as `[privacy] anonymize_ip` says; the enrichment goes in the slot's enrichment word
    /// and a ninth variable field (click format 2, ClickEnrichment.swift).
    func mint(_ exchange: Exchange, offerID: UInt32, affID: UInt32, address: PeerAddress, facts: ClickFacts,
              into values: inout ClickValues) -> Bool {
        let table = clickTable
        var varLength = 0
        for field in RequestHandler.clickVariableParams { varLength += 2 + params.value(field).count }
        let userAgent = exchange.bytes(exchange.head.userAgent, limit: 512)
        varLength += 2 + userAgent.count
        let tail = facts.tail
        varLength += 2 + tail.encodedCount
        guard let (sequence, slot) = table.reserveRecord() else { return false }
        guard sequence <= ClickID.maxSequence, let (offset, bytes) = table.reserveBytes(varLength) else {
            table.unreserveRecord()
            return false
        }
        var cursor = bytes
        for field in RequestHandler.clickVariableParams { cursor = ClickRoute.put(params.value(field), at: cursor) }
        cursor = ClickRoute.put(userAgent, at: cursor)
        cursor.storeBytes(of: UInt16(tail.encodedCount), as: UInt16.self)
        tail.write(to: cursor + 2)
        let peer = anonymizeAddresses ? Anonymize.truncate(address) : address
        ClickSlot.write(slot, mintMillis: exchange.context.nowMillis, offerID: offerID, affID: affID,
                        varOffset: offset, varLength: varLength, peerHigh: peer.high, peerLow: peer.low)
        ClickSlot.writeEnrichment(slot, facts.head)
        ClickSlot.seal(slot, variable: UnsafeRawBufferPointer(start: bytes, count: varLength))
        table.publish(count: sequence + 1)
        let id = ClickID(node: engine.node, shard: UInt8(shard), sequence: sequence,
                         mintMinute: ClickID.minute(unixMillis: exchange.context.nowMillis), keyID: 0)
        withUnsafeMutableBytes(of: &values.clickIDText) { engine.codec.encode(id, into: $0.baseAddress!) }
        values.hasClickID = true
        return true
    }

    /// 302 with the offer's landing template (or its fallback) rendered as Location; an over-long URL
    /// is refused instead. Takes the offer, not the template: rendering straight from the offer's
    /// `let` property avoids copying the template (three reference counts up and down per click).
    func redirect(_ exchange: Exchange, offer: OfferRuntime, fallback: Bool, values: ClickValues, to out: inout ByteWriter) {
        let start = out.count
        responses.head(.found, keepAlive: exchange.head.keepAlive, nowMillis: exchange.context.nowMillis, to: &out)
        out.append("Location: ")
        if fallback {
            offer.fallback?.render(into: &out, values: values)
        } else {
            offer.template.render(into: &out, values: values)
        }
        out.append("\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n")
        if out.overflowed {
            out.truncate(to: start)
            if !fallback && offer.fallback != nil {
                noteClickIssue(exchange, .clickRedirectTooLong, status: .found)
                return redirect(exchange, offer: offer, fallback: true, values: values, to: &out)
            }
            refuseClick(exchange, .uriTooLong, .clickRedirectTooLong, "redirect_too_long", "the landing URL with these values is too long", to: &out)
        }
    }
}

extension RequestHandler {
    /// Parameters stored as a click's variable fields, in `ClickSlot.Field` order (user agent last).
    static let clickVariableParams: [ParamField] = [.sub1, .sub2, .sub3, .sub4, .sub5, .affClickID, .source]
}

/// Helpers for click records.
enum ClickRoute {
    /// Writes a 2-byte length and the bytes; returns the position after them.
    @inline(__always)
    static func put(_ value: UnsafeRawBufferPointer, at p: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        p.storeBytes(of: UInt16(value.count), as: UInt16.self)
        if let base = value.baseAddress, value.count > 0 { (p + 2).copyMemory(from: base, byteCount: value.count) }
        return p + 2 + value.count
    }
}

extension Exchange {
    /// A header value's bytes, cut to `limit`.
    func bytes(_ range: ByteRange, limit: Int) -> UnsafeRawBufferPointer {
        let end = min(Int(range.end), Int(range.start) + limit)
        return UnsafeRawBufferPointer(rebasing: request[Int(range.start)..<max(Int(range.start), end)])
    }
}

/// Macro values of one click, read straight from the decoded parameters.
struct ClickValues: MacroValues {
    let params: Params
    let offerID: UInt32
    let affID: UInt32
    let nowMillis: Int64
    var clickIDText: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var hasClickID = false
    /// Country, device, OS and browser for `{country}` `{device}` `{os}` `{browser}`.
    let facts: ClickFacts

    init(params: Params, offerID: UInt32, affID: UInt32, nowMillis: Int64, facts: ClickFacts = ClickFacts()) {
        self.params = params; self.offerID = offerID; self.affID = affID; self.nowMillis = nowMillis; self.facts = facts
    }

    func write(_ macro: Macro, into writer: inout ByteWriter) {
        switch macro {
        case .clickID:
            guard hasClickID else { return }
            withUnsafeBytes(of: clickIDText) { writer.append(UnsafeRawBufferPointer(rebasing: $0[0..<ClickID.textLength])) }
        case .offerID: writer.appendDecimal(UInt64(offerID))
        case .affID: writer.appendDecimal(UInt64(affID))
        case .sub1: writer.appendPercentEncoded(params.value(.sub1))
        case .sub2: writer.appendPercentEncoded(params.value(.sub2))
        case .sub3: writer.appendPercentEncoded(params.value(.sub3))
        case .sub4: writer.appendPercentEncoded(params.value(.sub4))
        case .sub5: writer.appendPercentEncoded(params.value(.sub5))
        case .affClickID: writer.appendPercentEncoded(params.value(.affClickID))
        case .source: writer.appendPercentEncoded(params.value(.source))
        case .timestamp: writer.appendDecimal(UInt64(max(0, nowMillis / 1000)))
        case .country: facts.writeCountry(into: &writer)
        case .device: writer.append(facts.head.device.name)
        case .os: writer.appendPercentEncoded(facts.os)
        case .browser: writer.appendPercentEncoded(facts.browser)
        default: return  // conversion macros do not occur in click templates (checked at load)
        }
    }
}

/// Strict decimal parsing of parameter values.
enum Decimal {
    /// Digits only, no sign or spaces, fitting in 32 bits.
    static func parseUInt32(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
        guard !bytes.isEmpty, bytes.count <= 10 else { return nil }
        var value: UInt64 = 0
        for b in bytes {
            guard b >= 48 && b <= 57 else { return nil }
            value = value * 10 + UInt64(b - 48)
        }
        return value <= UInt64(UInt32.max) ? UInt32(value) : nil
    }

    /// The largest whole part an amount may have: amounts are kept as Int64 micros, and a bound well
    /// below Int64.max / 10^6 leaves room to add amounts up (reports) without overflow.
    static let maxWholeUnits: Int64 = 1_000_000_000_000

    /// A non-negative amount with up to 6 decimals ("12", "12.5", "0.000001") as micros; nil for
    /// anything else, including a whole part of `maxWholeUnits` or more (never a trap: every step is
    /// bounded before it is taken).
    static func parseMicros(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 24 else { return nil }
        var whole: Int64 = 0, fraction: Int64 = 0, fractionDigits = 0, seenDot = false, digits = 0
        for b in bytes {
            if b == UInt8(ascii: ".") && !seenDot { seenDot = true; continue }
            guard b >= 48 && b <= 57 else { return nil }
            digits += 1
            if seenDot {
                fractionDigits += 1
                guard fractionDigits <= 6 else { return nil }
                fraction = fraction * 10 + Int64(b - 48)
            } else {
                // whole < maxWholeUnits before this step, so whole * 10 + 9 < 10^13 + 9: no overflow.
                whole = whole * 10 + Int64(b - 48)
                guard whole < maxWholeUnits else { return nil }
            }
        }
        guard digits > 0 else { return nil }
        while fractionDigits < 6 { fraction *= 10; fractionDigits += 1 }
        return whole * 1_000_000 + fraction  // < 10^12 * 10^6 + 10^6, far below Int64.max
    }
}
