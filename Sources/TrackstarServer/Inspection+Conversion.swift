// `trackstar conversion DATA_DIR ID`: one recorded conversion as its record holds it, including the
// parameters its sender's profile did not map (issue 17), read from the logs without changing them.
import TrackstarCore
import TrackstarExport
import TrackstarStore

extension Inspection {
    /// The conversion's fields as `key: value` lines, or nil with the reason it cannot be shown.
    public static func conversion(dataDir: String, id: UInt64) -> Result<[String], InspectionError> {
        guard id > 0 else { return .failure(InspectionError("conversion ids start at 1")) }
        let opened: ReadOnlyDataDir
        switch ReadOnlyDataDir.open(dataDir) {
        case .success(let dir): opened = dir
        case .failure(let error): return .failure(InspectionError("\(error)"))
        }
        let shards = opened.shards
        let source = opened.source(clickIDText: { shard, sequence, _ in "\(shard)-\(sequence)" }, eventName: { _, index in "\(index)" })
        let shard = Int((id - 1) >> 40), sequence = (id - 1) & ClickID.maxSequence
        guard shard < shards, let row = source.conversion(shard: shard, sequence: sequence) else {
            return .failure(InspectionError("no conversion \(id) in \(dataDir)"))
        }
        func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }
        func money(_ micros: Int64) -> String { MoneyText.decimal(micros) }
        func letters(_ c: (UInt8, UInt8, UInt8)) -> String { c.0 == 0 ? "" : String(decoding: [c.0, c.1, c.2], as: UTF8.self) }
        return .success([
            "conversion_id: \(row.id)", "click_ref: \(row.clickRef >> 40)-\(row.clickRef & ClickID.maxSequence)",
            "time_ms: \(row.timeMillis)", "offer_id: \(row.offerID)", "aff_id: \(row.affID)", "event_id: \(row.eventIndex)",
            "status: \(row.status.name)", "amount: \(row.amount.map(money) ?? "") \(letters(row.amountCurrency))",
            "payout: \(money(row.payout)) \(letters(row.currency))", "revenue: \(money(row.revenue)) \(letters(row.currency))",
            "txid: \(text(row.txid))", "extras: \(text(row.extras))",
        ])
    }
}

/// Why `Inspection.conversion` could not show a conversion.
public struct InspectionError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
