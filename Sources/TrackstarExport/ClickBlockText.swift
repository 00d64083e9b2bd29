// The text of one click block (issue 19 item 1): a JSON array of clicks, each an array of the
// `clicks` view's columns in order, written into one raw buffer that the SQLite sink keeps from batch
// to batch. Strings are copied from the mapped log with JSON escapes only where a byte needs one.
import TrackstarCore
import TrackstarStore

/// A reusable block buffer. Invariants: `base` holds `capacity` bytes, of which the first `count` are
/// the block so far (`[` and the clicks appended, comma-separated; `finish()` adds the `]`); before a
/// click is written the buffer holds room for its worst case, so no write is cut. Exporter thread only.
final class ClickBlockText {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes written since the last `start()`.
    private(set) var count = 0
    /// Clicks in the block, and the range of their times (for a report's block filter).
    private(set) var clicks = 0
    private(set) var minTime: Int64 = 0, maxTime: Int64 = 0
    /// What a click's ref and time are written relative to (the block's `ref_base` and `time_base`):
    /// the block's first record, and its first click's time. A click then takes a few digits for each
    /// rather than thirteen.
    private(set) var refBase: UInt64 = 0, timeBase: Int64 = 0

    init(capacity: Int = 1 << 20) {
        self.capacity = max(capacity, 4096)
        base = .allocate(byteCount: self.capacity, alignment: 16)
        start()
    }

    deinit { base.deallocate() }

    /// The block's text (after `finish()`).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Empties the buffer for the next block, keeping the memory; its refs count from `refBase`.
    func start(refBase: UInt64 = 0) {
        base.storeBytes(of: UInt8(ascii: "["), as: UInt8.self)
        count = 1
        clicks = 0
        self.refBase = refBase
    }

    /// Closes the array.
    func finish() {
        reserve(1)
        base.storeBytes(of: UInt8(ascii: "]"), toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Makes room for `n` more bytes (doubling; the only allocation, and it stops once the buffer
    /// holds the largest block).
    private func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        var size = capacity
        while size < count + n { size *= 2 }
        let larger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        larger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = larger
        capacity = size
    }

    /// The most bytes a click can take: its texts escaped at worst (6 bytes a byte, `\u00XX`) and quoted,
    /// plus the numbers (20 digits at most), the click ID, the address, the names and the separators.
    @inline(__always)
    static func worstCase(_ row: ClickRow) -> Int {
        let f = row.fields, tail = row.enrichmentTail
        let texts = f.sub1.count + f.sub2.count + f.sub3.count + f.sub4.count + f.sub5.count + f.affClickID.count + f.source.count
            + f.userAgent.count + tail.os.count + tail.browser.count + tail.city.count
        return texts * 6 + 1024
    }

    /// "00" … "99" (`BlockCursor.decimal`).
    nonisolated(unsafe) static let digitPairs = ByteWriter.digitPairs("0123456789")

    /// Appends one click, in `SQLiteClickBlocks.columns` order (its ref and time less the block's
    /// bases), its user agent as `agentID` when that
    /// is not 0 (`UserAgentDictionary`). Room for its worst case is made first,
    /// then everything is written with unchecked stores (`BlockCursor`); callgrind (ExportFigures): the
    /// same through `ByteWriter`'s checked appends, `appendDecimal` and a `memcpy` per separator was
    /// ~3,500 instructions a click.
    func append(_ row: inout ClickRow, _ source: ExportSource, agentID: Int64 = 0) {  // inout: by address (ClickBlockWriter.add)
        reserve(ClickBlockText.worstCase(row))
        var c = BlockCursor(p: base + count, pairs: ClickBlockText.digitPairs)
        if clicks > 0 { c.two(UInt8(ascii: ","), UInt8(ascii: "[")) } else { c.byte(UInt8(ascii: "[")); timeBase = row.timeMillis }
        c.signed(Int64(bitPattern: row.ref &- refBase))
        c.two(UInt8(ascii: ","), UInt8(ascii: "\""))
        // The click ID written in place (base32: nothing to escape); a source without a writer (tests) makes a String.
        if source.writeClickID(shard: row.shard, sequence: row.sequence, mintMillis: row.timeMillis, into: c.p.assumingMemoryBound(to: UInt8.self)) {
            c.p += ClickID.textLength
        } else {
            source.withClickID(shard: row.shard, sequence: row.sequence, mintMillis: row.timeMillis) { text in
                var w = ByteWriter(base: c.p, capacity: text.count * 6)
                w.appendJSONEscaped(text)
                c.p += w.count
            }
        }
        c.two(UInt8(ascii: "\""), UInt8(ascii: ","))
        c.signed(row.timeMillis &- timeBase); c.byte(UInt8(ascii: ","))
        c.decimal(UInt64(row.offerID)); c.byte(UInt8(ascii: ","))
        c.decimal(UInt64(row.affID))
        let fields = row.fields
        c.string(fields.sub1); c.string(fields.sub2); c.string(fields.sub3); c.string(fields.sub4); c.string(fields.sub5)
        c.string(fields.affClickID); c.string(fields.source)
        c.two(UInt8(ascii: ","), UInt8(ascii: "\""))
        c.address(row.peer)
        c.byte(UInt8(ascii: "\""))
        if agentID > 0 {  // the agent's id in `user_agents` (SQLiteUserAgents.swift)
            c.byte(UInt8(ascii: ",")); c.decimal(UInt64(agentID))
        } else {
            c.string(fields.userAgent)
        }
        ClickBlockText.enrichment(row.enrichment, row.enrichmentTail, &c)
        c.byte(UInt8(ascii: "]"))
        count = c.p - base
        if clicks == 0 || row.timeMillis < minTime { minTime = row.timeMillis }
        if clicks == 0 || row.timeMillis > maxTime { maxTime = row.timeMillis }
        clicks += 1
    }

    /// `,"text"` with JSON escapes, appended to `w` (room for 6 bytes a byte and 3 more needed):
    /// what `append` writes for each text (`BlockCursor.string`).
    static func string(_ bytes: UnsafeRawBufferPointer, _ w: inout ByteWriter) {
        guard let start = w.reserve(0) else { return }
        var c = BlockCursor(p: start, pairs: digitPairs)
        c.string(bytes)
        _ = w.reserve(c.p - start)
    }

    /// The enrichment columns (`EnrichmentColumns.clicks`, in order).
    @inline(__always)
    static func enrichment(_ head: ClickEnrichmentHead, _ tail: ClickEnrichmentTail, _ c: inout BlockCursor) {
        EnrichmentColumns.withCountry(head) { c.string($0) }
        c.byte(UInt8(ascii: ",")); c.decimal(UInt64(tail.asn))
        c.name(head.device.name)
        c.string(tail.os); c.string(tail.browser)
        c.name(head.botReason.name)
        c.two(UInt8(ascii: ","), head.unique ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        let traffic = tail.traffic
        c.name(traffic.reason.name); c.name(traffic.destination.name)
        c.byte(UInt8(ascii: ",")); c.decimal(UInt64(traffic.requestedOffer))
        c.byte(UInt8(ascii: ",")); c.decimal(UInt64(traffic.smartlink))
        c.string(tail.city)
    }
}
