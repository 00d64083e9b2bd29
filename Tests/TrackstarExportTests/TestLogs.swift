// In-memory shard logs for exporter tests: clicks, conversions and refusals written the way the
// loops write them (reserve, fill, seal, publish), and an in-memory sink that can be made to fail.
#if canImport(Glibc)
import Glibc
#endif
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport

/// Anonymous-memory tables for `shards` shards.
final class TestLogs: @unchecked Sendable {
    let clicks: [RecordTable]
    let conversions: [RecordTable]
    let refusals: [RecordTable]

    init(shards: Int) {
        clicks = (0..<shards).map { _ in RecordTable(stride: ClickSlot.stride, recordsPerSegment: 1024, byteSegmentSize: 1 << 16) }
        conversions = (0..<shards).map { _ in RecordTable(stride: ConversionRecord.stride, recordsPerSegment: 1024, byteSegmentSize: 1 << 16) }
        refusals = (0..<shards).map { _ in RecordTable(stride: RefusalRecord.stride, recordsPerSegment: 1024, byteSegmentSize: 1 << 16) }
    }

    func source() -> ExportSource {
        ExportSource(clicks: clicks, conversions: conversions, refusals: refusals,
                     clickIDText: { shard, sequence, _ in "C\(shard)-\(sequence)" },
                     eventName: { _, index in index == 0 ? "conversion" : "upsell" })
    }

    /// Appends a click; returns its reference (shard << 40 | sequence).
    @discardableResult
    func click(shard: Int, offer: UInt32 = 1, aff: UInt32 = 7, time: Int64 = 1_767_225_600_000,
               subs: [String] = ["s1", "", "", "", "", "ac", "src", "agent/1.0"], ip: (UInt64, UInt64) = (0, 0xffff_7f00_0001),
               enrichment: ClickEnrichmentHead? = nil, os: String = "", browser: String = "", traffic: ClickTraffic = .plain,
               publish: Bool = true, rawSubs: [[UInt8]]? = nil) -> UInt64 {
        let table = clicks[shard]
        var variable = (rawSubs ?? subs.map { Array($0.utf8) }).flatMap { b -> [UInt8] in [UInt8(b.count & 0xff), UInt8(b.count >> 8)] + b }
        if enrichment != nil {  // format 2/3: the ninth field (ASN, names, traffic extension)
            let osBytes = Array(os.utf8), browserBytes = Array(browser.utf8)
            var tail = [UInt8](repeating: 0, count: 14 + osBytes.count + browserBytes.count + (traffic.isPresent ? ClickTraffic.encodedCount : 0))
            osBytes.withUnsafeBytes { o in
                browserBytes.withUnsafeBytes { b in
                    tail.withUnsafeMutableBytes { t in
                        ClickEnrichmentTail(asn: 64500, fingerprint: 0, os: o, browser: b, traffic: traffic).write(to: t.baseAddress!)
                    }
                }
            }
            variable += [UInt8(tail.count & 0xff), UInt8(tail.count >> 8)] + tail
        }
        let (sequence, slot) = table.reserveRecord()!
        let (offset, bytes) = table.reserveBytes(variable.count)!
        bytes.copyMemory(from: variable, byteCount: variable.count)
        ClickSlot.write(slot, mintMillis: time, offerID: offer, affID: aff, varOffset: offset, varLength: variable.count,
                        peerHigh: ip.0, peerLow: ip.1)
        if let enrichment { ClickSlot.writeEnrichment(slot, enrichment) }
        ClickSlot.seal(slot, variable: UnsafeRawBufferPointer(start: bytes, count: variable.count))
        if publish { table.publish(count: sequence + 1) }
        return UInt64(shard) << 40 | sequence
    }

    /// Appends a conversion of `clickRef` on `shard`.
    func conversion(shard: Int, clickRef: UInt64, offer: UInt32 = 1, aff: UInt32 = 7, event: UInt8 = 0,
                    status: ConversionStatus = .approved, payout: Int64 = 2_500_000, revenue: Int64 = 4_000_000,
                    time: Int64 = 1_767_229_200_000, txid: String = "", payoutCurrency: UInt32 = 0) {
        let table = conversions[shard]
        let raw = Array(txid.utf8)
        let (sequence, record) = table.reserveRecord()!
        let (offset, bytes) = table.reserveBytes(raw.count)!
        bytes.copyMemory(from: raw, byteCount: raw.count)
        ConversionRecord.write(record, .init(clickRef: clickRef, timeMillis: time, txidHash: 0, amount: ConversionRecord.noAmount,
                                             payout: payout, revenue: revenue, offerID: offer, affID: aff, event: event,
                                             status: status, currency: 0x44_5355, varOffset: offset, varLength: raw.count,
                                             payoutCurrency: payoutCurrency))
        ConversionRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: raw.count))
        table.publish(count: sequence + 1)
    }

    /// Appends a transition of conversion `conversionID` (its record must exist in `of`'s table),
    /// as a postback from 127.0.0.1 made it.
    func transition(shard: Int, conversionID: UInt64, previous: ConversionStatus, to next: ConversionState,
                    amount: Int64 = ConversionRecord.noAmount, time: Int64 = 1_767_229_300_000) {
        let conversion = conversions[Int((conversionID - 1) >> 40)].record((conversionID - 1) & ClickID.maxSequence)!
        let table = conversions[shard]
        let detail: [UInt8] = [TransitionActor.postback.rawValue] + withUnsafeBytes(of: (UInt64(0), UInt64(0xFFFF_7F00_0001))) { Array($0) }
        let (sequence, record) = table.reserveRecord()!
        let (offset, bytes) = table.reserveBytes(detail.count)!
        bytes.copyMemory(from: detail, byteCount: detail.count)
        TransitionRecord.write(record, conversionID: conversionID, of: conversion, timeMillis: time, previous: previous, next: next,
                               amount: amount, currency: 0x52_5545, varOffset: offset, varLength: detail.count)
        ConversionRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: detail.count))
        table.publish(count: sequence + 1)
    }

    /// Appends a refusal.
    func refusal(shard: Int, reason: RefusalReason = .badToken, status: Int = 403, params: String = "click_id=x&token=y",
                 time: Int64 = 1_767_229_200_000) {
        let table = refusals[shard]
        let raw = Array(params.utf8)
        let (sequence, record) = table.reserveRecord()!
        let (offset, bytes) = table.reserveBytes(raw.count)!
        bytes.copyMemory(from: raw, byteCount: raw.count)
        RefusalRecord.write(record, timeMillis: time, reason: reason, httpStatus: status, offerID: 1, affID: 7,
                            varOffset: offset, varLength: raw.count)
        RefusalRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: raw.count))
        table.publish(count: sequence + 1)
    }
}

/// A sink in memory: rows by id (a second write of one id is counted as a duplicate), positions,
/// and a switch that makes writes fail — optionally after the rows were stored (as ClickHouse can).
final class MemorySink: ExportSink, @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var rows: [String: Int] = [:]
    private var positions: [ExportPosition] = []
    private var failing = false
    private var failAfterRows = false
    private var openCount = 0
    private(set) var batchSizes: [Int] = []
    /// Monotonic time of each written batch, in milliseconds.
    private var batchTimes: [Int64] = []
    var label: String { "memory" }

    init() { pthread_mutex_init(&mutex, nil) }

    func locked<T>(_ body: () -> T) -> T { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return body() }

    func setFailing(_ value: Bool, afterRows: Bool = false) { locked { failing = value; failAfterRows = afterRows } }
    var rowCount: Int { locked { rows.count } }
    var duplicates: Int { locked { rows.values.reduce(0) { $0 + $1 - 1 } } }
    var storedPositions: [ExportPosition] { locked { positions } }
    var sizes: [Int] { locked { batchSizes } }
    var times: [Int64] { locked { batchTimes } }
    /// Connections opened so far (read under the lock: the exporter thread writes it).
    var opens: Int { locked { openCount } }

    func open() throws(ExportError) -> [ExportPosition] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        openCount += 1
        if failing && !failAfterRows { throw ExportError("down") }
        return positions
    }

    func write(_ batch: ExportBatch, from source: ExportSource) throws(ExportError) {
        var ids: [String] = []
        for span in batch.spans {
            for sequence in span.range {
                switch span.kind {
                case .clicks: if let row = source.click(shard: span.shard, sequence: sequence) { ids.append("k\(row.ref)") }
                case .conversions: if let row = source.conversion(shard: span.shard, sequence: sequence) { ids.append("v\(row.id)") }
                case .refusals: if let row = source.refusal(shard: span.shard, sequence: sequence) { ids.append("r\(row.ref)") }
                }
            }
        }
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if failing && !failAfterRows { throw ExportError("down") }
        if failAfterRows {
            // The rows arrive, the positions do not; only idempotent sinks may do this.
            for id in ids where rows[id] == nil { rows[id] = 1 }
            if failing { throw ExportError("lost the answer") }
        } else {
            for id in ids { rows[id, default: 0] += 1 }
        }
        batchSizes.append(batch.records)
        batchTimes.append(WallClock.nowMillis())
        for position in batch.positions { store(position) }
    }

    /// Drops the rows of records at or past `cut` (ids encode shard and sequence) and stores the positions.
    func retract(to cut: [ExportPosition]) throws(ExportError) {
        locked {
            retractions += 1
            for position in cut {
                rows = rows.filter { id, _ in
                    let kind: LogKind = id.hasPrefix("k") ? .clicks : id.hasPrefix("v") ? .conversions : .refusals
                    let ref = UInt64(id.dropFirst())! - (kind == .conversions ? 1 : 0)
                    return Int(ref >> 40) != position.shard || ref & ClickID.maxSequence < position[kind].records
                }
                store(position)
                writtenMarks.removeAll { $0.shard == position.shard }
            }
        }
    }

    /// Marks of rows written ahead of their positions, as ClickHouse's sent marks (set by a test).
    private var writtenMarks: [ExportPosition] = []
    func setWritten(_ marks: [ExportPosition]) { locked { writtenMarks = marks } }
    func writtenPositions() -> [ExportPosition] { locked { writtenMarks } }

    private var retractions = 0
    /// Calls of `retract` so far.
    var retractionCount: Int { locked { retractions } }

    private func store(_ position: ExportPosition) {
        if let i = positions.firstIndex(where: { $0.shard == position.shard }) { positions[i] = position } else { positions.append(position) }
    }

    func close() {}
}
