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

    init(capacity: Int = 1 << 20) {
        self.capacity = max(capacity, 4096)
        base = .allocate(byteCount: self.capacity, alignment: 16)
        start()
    }

    deinit { base.deallocate() }

    /// The block's text (after `finish()`).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Empties the buffer for the next block, keeping the memory.
    func start() {
        base.storeBytes(of: UInt8(ascii: "["), as: UInt8.self)
        count = 1
        clicks = 0
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
    static func worstCase(_ row: ClickRow) -> Int {
        var texts = row.enrichmentTail.os.count + row.enrichmentTail.browser.count + row.enrichmentTail.city.count
        for i in 0..<8 { texts += row.fields[i].count }
        return texts * 6 + 1024
    }

    /// Appends one click, in `SQLiteClickBlocks.columns` order.
    func append(_ row: ClickRow, _ source: ExportSource) {
        reserve(ClickBlockText.worstCase(row))
        // One local writer for the whole click: a class property mutated field by field would be an
        // exclusivity check per append. It cannot overflow (room for the worst case was made above).
        var w = ByteWriter(base: base, capacity: capacity)
        _ = w.reserve(count)
        if clicks > 0 { w.append(UInt8(ascii: ",")) }
        w.append(UInt8(ascii: "["))
        w.appendDecimal(row.ref)
        w.append(",\"")
        // The click ID written in place (base32: nothing to escape); a source without a writer (tests) makes a String.
        if let at = w.reserve(ClickID.textLength),
           !source.writeClickID(shard: row.shard, sequence: row.sequence, mintMillis: row.timeMillis, into: at.assumingMemoryBound(to: UInt8.self)) {
            w.truncate(to: w.count - ClickID.textLength)
            source.withClickID(shard: row.shard, sequence: row.sequence, mintMillis: row.timeMillis) { w.appendJSONEscaped($0) }
        }
        w.append("\",")
        w.appendDecimal(row.timeMillis); w.append(UInt8(ascii: ","))
        w.appendDecimal(UInt64(row.offerID)); w.append(UInt8(ascii: ","))
        w.appendDecimal(UInt64(row.affID))
        for i in 0..<7 { ClickBlockText.string(row.fields[i], &w) }
        w.append(",\"")
        if let at = w.reserve(48) {
            let n = RowText.format(row.peer, into: UnsafeMutableRawBufferPointer(start: at, count: 48))
            w.truncate(to: w.count - 48 + n)
        }
        w.append(UInt8(ascii: "\""))
        ClickBlockText.string(row.fields.userAgent, &w)
        ClickBlockText.enrichment(row.enrichment, row.enrichmentTail, &w)
        w.append(UInt8(ascii: "]"))
        count = w.count
        if clicks == 0 || row.timeMillis < minTime { minTime = row.timeMillis }
        if clicks == 0 || row.timeMillis > maxTime { maxTime = row.timeMillis }
        clicks += 1
    }

    /// `,"text"` with JSON escapes. Eight bytes a step are checked and copied in one go (the check is
    /// `ByteWriter.needsJSONEscape`'s); the last few bytes of a text of eight or more as the eight
    /// ending it (rewriting some already copied, unchanged), of a shorter one byte by byte; only a text
    /// with a byte to escape goes through `appendJSONEscaped`, from that step on. Callgrind: a separate
    /// check and copy were ~1,250 instructions a click of the campaign mix (eight texts, most short),
    /// the escaper's call for the tails ~700.
    @inline(__always)
    static func string(_ bytes: UnsafeRawBufferPointer, _ w: inout ByteWriter) {
        w.append(",\"")
        let n = bytes.count
        if n > 0, let source = bytes.baseAddress, let out = w.reserve(n) {
            var i = 0, clean = true
            while i + 8 <= n {
                let word = source.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                if escapes(word) { clean = false; break }
                out.storeBytes(of: word, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            if clean && i < n {
                if n >= 8 {
                    let word = source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
                    if !escapes(word) { out.storeBytes(of: word, toByteOffset: n - 8, as: UInt64.self); i = n }
                } else {
                    while i < n {
                        let b = source.load(fromByteOffset: i, as: UInt8.self)
                        if b < 0x20 || b == 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { break }
                        out.storeBytes(of: b, toByteOffset: i, as: UInt8.self)
                        i += 1
                    }
                }
            }
            w.truncate(to: w.count - n + i)  // keep the bytes copied; the rest, if any, the careful way
            if i < n { w.appendJSONEscaped(UnsafeRawBufferPointer(rebasing: bytes[i...])) }
        }
        w.append(UInt8(ascii: "\""))
    }

    /// Whether one of the eight bytes is a control byte, DEL, '"' or '\\'.
    @inline(__always)
    static func escapes(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080, low = ones &* 0x7F
        @inline(__always) func nonzero(_ x: UInt64) -> UInt64 { ((x & low) &+ low) | x }
        let control = ~(((word & low) &+ ones &* 0x60) | word) & high
        let special = ~(nonzero(word ^ ones &* 0x7F) & nonzero(word ^ ones &* 0x22) & nonzero(word ^ ones &* 0x5C)) & high
        return control | special != 0
    }

    @inline(__always)
    static func name(_ text: StaticString, _ w: inout ByteWriter) {
        w.append(",\""); w.append(text); w.append(UInt8(ascii: "\""))
    }

    /// The enrichment columns (`EnrichmentColumns.clicks`, in order).
    static func enrichment(_ head: ClickEnrichmentHead, _ tail: ClickEnrichmentTail, _ w: inout ByteWriter) {
        EnrichmentColumns.withCountry(head) { string($0, &w) }
        w.append(UInt8(ascii: ",")); w.appendDecimal(UInt64(tail.asn))
        name(head.device.name, &w)
        string(tail.os, &w); string(tail.browser, &w)
        name(head.botReason.name, &w)
        w.append(head.unique ? ",1" : ",0")
        let traffic = tail.traffic
        name(traffic.reason.name, &w); name(traffic.destination.name, &w)
        w.append(UInt8(ascii: ",")); w.appendDecimal(UInt64(traffic.requestedOffer))
        w.append(UInt8(ascii: ",")); w.appendDecimal(UInt64(traffic.smartlink))
        string(tail.city, &w)
    }
}
