// An operator changes a conversion's status by its id: `POST /conversions/{id}/status` on the admin
// listener (and `trackstar update-conversion`). The change runs on a request loop, which appends the
// transition to its own conversion log through the same compare-and-swap as a postback.
import TrackstarCore
import TrackstarDelivery
import TrackstarIO
import TrackstarStore

/// Hands operator status changes to a request loop and waits for the outcome.
final class OperatorUpdates: @unchecked Sendable {  // set once in init
    let group: ServerGroup
    let handlers: [RequestHandler]

    init(group: ServerGroup, handlers: [RequestHandler]) { self.group = group; self.handlers = handlers }

    /// What an operator's change did.
    enum Outcome {
        /// The change (or why not) and the conversion's status now.
        case done(StatusChange, ConversionStatus)
        /// No conversion has this id on this node.
        case notFound
    }

    /// Runs the change on the loop of the conversion's shard; nil when the loop did not answer in time.
    func change(conversionID: UInt64, to status: ConversionStatus, reason: String, timeoutMillis: Int64) -> Outcome? {
        let answer = DispatcherAnswer<Outcome>()
        let index = Int((max(conversionID, 1) - 1) >> 40) % handlers.count
        let handler = handlers[index]
        group.onLoop(index) {
            answer.set(handler.operatorChange(conversionID: conversionID, to: status, reason: reason))
        }
        return answer.wait(timeoutMillis: timeoutMillis)
    }
}

extension RequestHandler {
    /// On this loop: changes conversion `conversionID` to `status`, the reason kept in the transition.
    func operatorChange(conversionID: UInt64, to status: ConversionStatus, reason: String) -> OperatorUpdates.Outcome {
        guard let record = engine.conversionRecord(conversionID), ConversionRecord.kind(record) == .conversion else { return .notFound }
        var reason = reason
        let change = reason.withUTF8 { bytes in
            changeStatus(conversionID: conversionID, record: record, to: status, amount: ConversionRecord.noAmount,
                         currency: ConversionRecord.currency(record), actor: .operator, detail: UnsafeRawBufferPointer(bytes),
                         nowMillis: WallClock.nowMillis())
        }
        return .done(change, ConversionRecord.currentState(record).status)
    }
}

extension AdminRoutes {
    /// `POST /conversions/{id}/status` with `status=approved|pending|rejected` and `reason=…` (query or
    /// form body): 200 with the change, 409 when the state machine forbids it or another update won,
    /// 404 for an unknown conversion, 400 for a missing or malformed field.
    static func changeConversionStatus(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        guard let updates = admin.operatorUpdates else { return .text(503, "not started yet\n") }
        let segments = request.path.split(separator: "/")
        guard segments.count == 3, let id = UInt64(segments[1]), id > 0 else {
            return .text(400, "id: expected a conversion id (a positive integer) in /conversions/{id}/status\n")
        }
        let form = AdminQuery(request.query.isEmpty ? String(decoding: request.body, as: UTF8.self) : request.query)
        guard let text = form["status"] else { return .text(400, "status: missing; give status=approved, pending or rejected\n") }
        guard let status = text.utf8CString.withUnsafeBytes({ ConversionStatus.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast())) }) else {
            return .text(400, "status: expected approved, pending or rejected, got \(text)\n")
        }
        guard let reason = form["reason"], !reason.isEmpty else {
            return .text(400, "reason: missing; say why the status changes (it is kept with the transition)\n")
        }
        guard reason.utf8.count <= 1000 else { return .text(400, "reason: at most 1000 bytes\n") }
        guard let outcome = updates.change(conversionID: id, to: status, reason: reason, timeoutMillis: 5000) else {
            return .text(503, "the request loop did not answer in time; check the conversion's status and send the request again\n")
        }
        guard case .done(let change, let current) = outcome else { return .text(404, "conversion \(id): no such conversion on this node\n") }
        func json(_ status: Int, _ fields: String) -> AdminResponse {
            AdminResponse(status: status, contentType: "application/json", body: Array("{\"conversion_id\":\(id),\(fields)}\n".utf8))
        }
        switch change {
        case .updated(let previous):
            return json(200, "\"status\":\"\(current.name)\",\"previous_status\":\"\(previous.name)\",\"updated\":true")
        case .unchanged:
            return json(200, "\"status\":\"\(current.name)\",\"updated\":false")
        case .forbidden(let from):
            return json(409, "\"status\":\"\(from.name)\",\"reason\":\"forbidden_transition\",\"message\":"
                        + JSONText.quoted("cannot change a conversion from \(from.name) to \(status.name): not allowed"))
        case .lostRace(let now):
            return json(409, "\"status\":\"\(now.name)\",\"reason\":\"conflicting_update\",\"message\":"
                        + JSONText.quoted("another update changed this conversion at the same time; it is now \(now.name)"))
        case .storageFailed:
            return .text(503, "the transition could not be stored; nothing changed, retry shortly\n")
        }
    }
}
