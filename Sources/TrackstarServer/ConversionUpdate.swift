// Changing a recorded conversion's status exactly once: one compare-and-swap on the conversion's
// state word decides between simultaneous updates, and the winner appends a transition record to its
// loop's conversion log before anyone sees the new state. Used by repeated postbacks and the operator.
import Atomics
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// What an attempt to change a conversion's status did.
enum StatusChange: Equatable {
    /// This caller's compare-and-swap won; the transition is in the log.
    case updated(previous: ConversionStatus)
    /// The conversion already has the requested status (a repeat, or a racing twin that won).
    case unchanged
    /// The state machine forbids going from `current` to the requested status.
    case forbidden(current: ConversionStatus)
    /// Another update won the compare-and-swap first; the conversion is now `current`.
    case lostRace(current: ConversionStatus)
    /// The transition record could not be written; the state was put back.
    case storageFailed
}

extension RequestHandler {
    /// 1. Read the state word (waiting out a winner still logging its transition). 2. The same status
    /// is no change; a forbidden one is refused. 3. One compare-and-swap to the next version with
    /// `busy` set. 4. Append the transition record. 5. Clear `busy` (releasing).
    /// `detail` is the actor's bytes (a postback's peer address, an operator's reason).
    func changeStatus(conversionID: UInt64, record: UnsafeMutableRawPointer, to target: ConversionStatus, amount: Int64,
                      currency: UInt32, actor: TransitionActor, detail: UnsafeRawBufferPointer, nowMillis: Int64) -> StatusChange {
        let word = ConversionRecord.state(record)
        let recorded = ConversionRecord.status(record)
        let seen = RequestHandler.settledWord(word)
        let current = ConversionState(word: seen, recorded: recorded)
        if current.status == target { return .unchanged }
        guard current.status.canChange(to: target), current.version < ConversionState.maxVersion else {
            return .forbidden(current: current.status)
        }
        let next = ConversionState(status: target, version: current.version + 1)
        // Acquiring-and-releasing: the one decision between racing updates; the winner's later
        // record writes are ordered after it, a loser reads the winner's word.
        guard word.compareExchange(expected: seen, desired: next.word | ConversionState.busy, ordering: .acquiringAndReleasing).exchanged else {
            let now = ConversionState(word: RequestHandler.settledWord(word), recorded: recorded)
            return now.status == target ? .unchanged : .lostRace(current: now.status)
        }
        guard appendTransition(conversionID: conversionID, of: record, previous: current.status, next: next, amount: amount,
                               currency: currency, actor: actor, detail: detail, nowMillis: nowMillis) else {
            // Releasing: nothing was logged; waiters see the state as it was.
            word.store(seen, ordering: .releasing)
            return .storageFailed
        }
        // Releasing: the transition record (published) happens before any reader of the new state.
        word.store(next.word, ordering: .releasing)
        return .updated(previous: current.status)
    }

    /// The state word once no winner is still logging (the few instructions of an append; yields on
    /// a busy machine where the winner may be descheduled).
    static func settledWord(_ word: UnsafeAtomic<UInt8>) -> UInt8 {
        var spins = 0
        while true {
            // Acquiring: pairs with the releasing store that clears `busy`.
            let value = word.load(ordering: .acquiring)
            if value & ConversionState.busy == 0 { return value }
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

    /// Appends a transition record to this loop's conversion table and publishes it.
    func appendTransition(conversionID: UInt64, of record: UnsafeRawPointer, previous: ConversionStatus, next: ConversionState,
                          amount: Int64, currency: UInt32, actor: TransitionActor, detail: UnsafeRawBufferPointer,
                          nowMillis: Int64) -> Bool {
        let table = conversionTable
        guard let (sequence, slot) = table.reserveRecord() else { return false }
        guard sequence <= ClickID.maxSequence, let (offset, bytes) = table.reserveBytes(1 + detail.count) else {
            table.unreserveRecord()
            return false
        }
        bytes.storeBytes(of: actor.rawValue, as: UInt8.self)
        if let base = detail.baseAddress, detail.count > 0 { (bytes + 1).copyMemory(from: base, byteCount: detail.count) }
        TransitionRecord.write(slot, conversionID: conversionID, of: record, timeMillis: nowMillis, previous: previous, next: next,
                               amount: amount, currency: currency, varOffset: offset, varLength: 1 + detail.count)
        ConversionRecord.seal(slot, variable: UnsafeRawBufferPointer(start: bytes, count: 1 + detail.count))
        table.publish(count: sequence + 1)
        return true
    }
}

extension RequestHandler {
    /// A postback for a conversion already recorded (same click, event and order id): with a new
    /// `status` it changes the conversion's status (`changeStatus`); otherwise it is a duplicate.
    /// Call inside the loop's index section, after the token and IP checks.
    func repeated(_ exchange: Exchange, conversionID: UInt64, offer: OfferRuntime?, to out: inout ByteWriter) {
        // Status words and amounts as the offer's sender profile writes them (issue 17).
        let profile = offer?.profile ?? catalog.profiles.serverDefault
        if params.has(.status) && profile.status(params.value(.status)) == nil { _ = unfilled(.status, profile) }
        guard params.has(.status) else { return answerRecorded(exchange, conversionID: conversionID, duplicate: true, to: &out) }
        guard let target = profile.status(params.value(.status)) else { return refuseUnknownStatus(exchange, profile: profile, to: &out) }
        guard let record = engine.conversionRecord(conversionID) else {
            return refuse(exchange, .internalError, "internal", "conversion index points at a missing record", to: &out)
        }
        var posted = params.has(.amount) ? profile.micros(params.value(.amount)) : ConversionRecord.noAmount
        if posted == nil && unfilled(.amount, profile) { posted = ConversionRecord.noAmount }
        guard let posted else {
            return refuse(exchange, .badRequest, "malformed_parameter",
                          "expected a non-negative decimal below 1000000000000 with at most 6 decimals", field: .amount, to: &out)
        }
        let currency = params.has(.currency) ? Currency.code(params.value(.currency)) : (offer?.currencyCode ?? ConversionRecord.currency(record))
        guard let currency else {
            return refuse(exchange, .badRequest, "malformed_parameter", "expected an ISO 4217 currency code such as EUR", field: .currency, to: &out)
        }
        // An amount is part of a transition only when it changed.
        let unchanged = posted == ConversionRecord.amount(record) && currency == ConversionRecord.currency(record)
        let amount = unchanged ? ConversionRecord.noAmount : posted
        let address = clientAddress(exchange)
        var peer = (address.high, address.low)
        let change = withUnsafeBytes(of: &peer) { detail in
            changeStatus(conversionID: conversionID, record: record, to: target, amount: amount, currency: currency,
                         actor: .postback, detail: detail, nowMillis: exchange.context.nowMillis)
        }
        answerChange(exchange, change, conversionID: conversionID, target: target, amount: amount,
                     currency: currency, to: &out)
    }

    /// The answer to a status change: the conversion (`"updated":true` and the previous status when
    /// this request changed it), or a refusal naming both statuses.
    func answerChange(_ exchange: Exchange, _ change: StatusChange, conversionID: UInt64, target: ConversionStatus, amount: Int64,
                      currency: UInt32, to out: inout ByteWriter) {
        switch change {
        case .unchanged:
            answerRecorded(exchange, conversionID: conversionID, duplicate: true, to: &out)
        case .updated(let previous):
            answerRecorded(exchange, conversionID: conversionID, duplicate: false,
                           change: StatusChangeAnswer(previous: previous, amount: amount, currency: currency), to: &out)
        case .forbidden(let current):
            refuse(exchange, .conflict, "forbidden_transition", RequestHandler.forbiddenMessage(current, target), field: .status, to: &out)
        case .lostRace(let current):
            refuse(exchange, .conflict, "conflicting_update", RequestHandler.lostRaceMessage(current), field: .status, to: &out)
        case .storageFailed:
            storageFailure(exchange, table: conversionTable, to: &out)
        }
    }

    /// Why a transition is refused, naming both statuses (static text: the answer path does not allocate).
    static func forbiddenMessage(_ current: ConversionStatus, _ target: ConversionStatus) -> StaticString {
        switch (current, target) {
        case (.approved, .pending): "cannot change an approved conversion to pending: approved to pending is not allowed (approved may only become rejected)"
        case (.rejected, .approved): "cannot change a rejected conversion to approved: rejected to approved is not allowed (rejected is final)"
        case (.rejected, .pending): "cannot change a rejected conversion to pending: rejected to pending is not allowed (rejected is final)"
        default: "this status change is not allowed (pending may become approved or rejected, approved may become rejected)"
        }
    }

    /// What a loser of a simultaneous update is told: the status the winner left.
    static func lostRaceMessage(_ current: ConversionStatus) -> StaticString {
        switch current {
        case .approved: "another update changed this conversion at the same time; it is now approved"
        case .pending: "another update changed this conversion at the same time; it is now pending"
        case .rejected: "another update changed this conversion at the same time; it is now rejected"
        }
    }
}

/// What an answer says about the change a request made.
struct StatusChangeAnswer {
    var previous: ConversionStatus
    /// The amount the update carried (`noAmount`: none, or unchanged).
    var amount: Int64
    var currency: UInt32
}
