// Accessors for sinks that write rows straight from the record slots (ClickHouse's RowBinary, the
// SQLite click blocks): the click ID text written in place, with no String per row, and a click's
// fields split without a copy.
import TrackstarCore

extension ExportSource {
    /// Whether `writeClickID` writes in place (the source was given a `clickIDWriter`); without one a
    /// sink falls back to `withClickID`.
    public var writesClickIDInPlace: Bool { clickIDWriter != nil }

    /// Writes the click ID text of (shard, sequence, mint time) at `out` (`ClickID.textLength` bytes);
    /// false, writing nothing, when the source has no in-place writer.
    @discardableResult
    public func writeClickID(shard: Int, sequence: UInt64, mintMillis: Int64, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        guard let clickIDWriter else { return false }
        clickIDWriter(shard, sequence, mintMillis, out)
        return true
    }
}

extension ClickFields {
    /// Splits a click's arena bytes; `end` becomes the offset after the eighth field (where an enriched
    /// click's ninth begins). Unrolled, each field set by name: the loop over the subscript setter was
    /// ~530 instructions a click of the exporter's (callgrind, ExportFigures).
    init(parsing bytes: UnsafeRawBufferPointer, end: inout Int) {
        var offset = 0
        let a = ClickFields.field(bytes, &offset), b = ClickFields.field(bytes, &offset), c = ClickFields.field(bytes, &offset)
        let d = ClickFields.field(bytes, &offset), e = ClickFields.field(bytes, &offset), f = ClickFields.field(bytes, &offset)
        let g = ClickFields.field(bytes, &offset), h = ClickFields.field(bytes, &offset)
        sub1 = a; sub2 = b; sub3 = c; sub4 = d; sub5 = e; affClickID = f; source = g; userAgent = h
        end = offset
    }

    /// The field at `offset` (empty past the end), and `offset` moved past it.
    @inline(__always)
    static func field(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> UnsafeRawBufferPointer {
        let count = bytes.count
        guard offset + 2 <= count, let base = bytes.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let start = offset + 2
        let end = min(count, start + Int(base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        offset = end
        return UnsafeRawBufferPointer(start: base + start, count: end - start)
    }
}
