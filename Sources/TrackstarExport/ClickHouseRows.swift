// The rows ClickHouseSink inserts, encoded in RowBinary straight from the records: fields are copied
// from their views into the mapped logs, the click ID and address are written in place, and event
// names are looked up once per batch — no String is made for a click, conversion or refusal row.
// Clicks and refusals past the roll-up marks are tallied on the way (ClickHouseRollups.swift).
import TrackstarCore
import TrackstarStore

extension ClickHouseSink {
    /// Encodes one span's rows into the log's buffer (and transitions into theirs), sending a buffer
    /// as an INSERT whenever it reaches `batchBytes`.
    func encode(_ span: LogSpan, from source: ExportSource) throws(ExportError) {
        let out = buffers[span.kind.rawValue]
        let rollFrom = rolled[span.shard]?[span.kind].records ?? 0  // records below are in the roll-ups already (a re-sent batch)
        for sequence in span.range {
            switch span.kind {
            case .clicks:
                if let row = source.click(shard: span.shard, sequence: sequence) {
                    encode(row, source, into: out)
                    if sequence >= rollFrom { tally.add(row) }
                }
            case .conversions:
                if let row = source.conversion(shard: span.shard, sequence: sequence) {
                    encode(row, source, into: out)
                    conversionHours.insert(row.timeMillis / CivilTime.hourMillis)
                    if row.isTransition {
                        encodeTransition(row, into: transitions)
                        if transitions.count >= batchBytes { try flush(transitions, into: .transitions) }
                    }
                }
            case .refusals:
                if let row = source.refusal(shard: span.shard, sequence: sequence) {
                    encode(row, into: out)
                    if sequence >= rollFrom { refusalTally[RefusalGroup(row), default: 0] += 1 }
                }
            }
            if out.count >= batchBytes { try flush(out, into: Table(span.kind)) }
        }
    }

    /// A click ID's text, written in place when the source can.
    func clickID(_ source: ExportSource, shard: Int, sequence: UInt64, mintMillis: Int64, into out: RowBinary) {
        if source.writesClickIDInPlace {
            out.shortString(limit: ClickID.textLength) { buffer in
                source.writeClickID(shard: shard, sequence: sequence, mintMillis: mintMillis,
                                    into: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                return ClickID.textLength
            }
        } else {
            source.withClickID(shard: shard, sequence: sequence, mintMillis: mintMillis) { out.string($0) }
        }
    }

    func encode(_ row: ClickRow, _ source: ExportSource, into out: RowBinary) {
        out.uint64(row.ref)
        clickID(source, shard: row.shard, sequence: row.sequence, mintMillis: row.timeMillis, into: out)
        out.dateTime(row.timeMillis); out.int64(row.timeMillis)
        out.uint32(row.offerID); out.uint32(row.affID)
        let fields = row.fields
        out.string(fields.sub1); out.string(fields.sub2); out.string(fields.sub3); out.string(fields.sub4)
        out.string(fields.sub5); out.string(fields.affClickID); out.string(fields.source)
        out.shortString(limit: 47) { RowText.format(row.peer, into: $0) }
        out.string(fields.userAgent)
        var shared = out  // the same buffer: EnrichmentColumns.encode takes it inout (it is a class)
        EnrichmentColumns.encode(row.enrichment, row.enrichmentTail, click: true, into: &shared)
    }

    /// A conversion row; a transition writes its conversion's row again with the new status and
    /// version (the table keeps the highest version).
    func encode(_ row: ConversionRow, _ source: ExportSource, into out: RowBinary) {
        out.uint64(row.conversionID); out.uint64(row.clickRef)
        if row.clickTimeMillis == 0 {
            out.uint8(0)
        } else {
            clickID(source, shard: Int(row.clickRef >> 40), sequence: row.clickRef & ClickID.maxSequence, mintMillis: row.clickTimeMillis, into: out)
        }
        out.int64(row.clickTimeMillis); out.dateTime(row.timeMillis); out.int64(row.timeMillis)
        out.uint32(row.offerID); out.uint32(row.affID)
        for i in 0..<7 { out.string(row.click[i]) }
        eventName(source, offerID: row.offerID, index: row.eventIndex, into: out)
        out.uint8(UInt8(truncatingIfNeeded: row.eventIndex))
        out.string(row.status.name)
        if let amount = row.amount { out.uint8(0); out.int64(amount) } else { out.uint8(1) }
        out.int64(row.payout); out.int64(row.revenue)
        withUnsafeBytes(of: row.currency) { out.string(row.currency.0 == 0 ? UnsafeRawBufferPointer(rebasing: $0[0..<0]) : $0) }
        out.string(row.txid)
        withUnsafeBytes(of: row.amountCurrency) {
            out.string(row.amountCurrency.0 == 0 ? UnsafeRawBufferPointer(rebasing: $0[0..<0]) : $0)
        }
        out.uint8(UInt8(truncatingIfNeeded: row.version))
        out.string(row.extras)
        var shared = out  // the same buffer (a class), as EnrichmentColumns.encode takes it inout
        EnrichmentColumns.encode(row.clickEnrichment, row.clickEnrichmentTail, click: false, into: &shared)
    }

    /// An offer's event name, asked of the source once per (offer, event) and batch (the catalog may
    /// be reloaded between batches).
    func eventName(_ source: ExportSource, offerID: UInt32, index: Int, into out: RowBinary) {
        let key = UInt64(offerID) << 32 | UInt64(UInt32(truncatingIfNeeded: index))
        if let known = eventNames[key] {
            known.withUnsafeBytes { out.string($0) }
            return
        }
        let name = Array(source.event(offerID: offerID, index: index).utf8)
        eventNames[key] = name
        name.withUnsafeBytes { out.string($0) }
    }

    /// A transition's row in `conversion_transitions` (rare: Strings here are fine).
    func encodeTransition(_ row: ConversionRow, into out: RowBinary) {
        out.uint64(row.id); out.uint64(row.conversionID); out.dateTime(row.changedMillis); out.int64(row.changedMillis)
        out.string(row.previousStatus?.name ?? ""); out.string(row.status.name); out.uint8(UInt8(truncatingIfNeeded: row.version))
        if row.amountChanged, let amount = row.amount { out.uint8(0); out.int64(amount) } else { out.uint8(1) }
        out.string(row.amountChanged ? RowText.currency(row.amountCurrency) : "")
        out.int64(row.payout); out.int64(row.revenue); out.string(RowText.currency(row.currency))
        out.string(row.actor?.name ?? ""); out.string(row.detail)
    }

    func encode(_ row: RefusalRow, into out: RowBinary) {
        out.uint64(row.ref); out.dateTime(row.timeMillis); out.int64(row.timeMillis)
        out.string(row.reason.name); out.uint16(UInt16(truncatingIfNeeded: row.httpStatus))
        out.uint32(row.offerID); out.uint32(row.affID); out.string(row.params)
    }
}
