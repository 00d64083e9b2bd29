// Accessors for sinks that write rows straight from the record slots (ClickHouse's RowBinary): the
// click ID text written in place, with no String per row.
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
