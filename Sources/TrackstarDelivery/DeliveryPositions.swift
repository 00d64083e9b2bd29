// How far the dispatcher has read each shard's conversion log, kept in a small file beside the
// delivery log. Written (temp file, fsync, rename) only after the queued records it covers are on
// disk; a stale or missing file only makes the next start re-read conversions, and the log's own
// queued records say which of those were already planned.
#if canImport(Glibc)
import Glibc
#endif

struct DeliveryPositions {
    let path: String

    init(directory: String) { path = directory + "/positions" }

    /// Stored positions (empty when there is no valid file).
    func load() -> [UInt64] {
        guard let file = fopen(path, "r") else { return [] }
        defer { fclose(file) }
        var positions: [UInt64] = []
        var line = [CChar](repeating: 0, count: 64)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingWhitespace
            guard let value = UInt64(text) else { return [] }
            positions.append(value)
        }
        return positions
    }

    /// Writes the file (temp file, fsync, rename); false when a step failed.
    @discardableResult
    func store(_ positions: [UInt64]) -> Bool {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "w") else { return false }
        var written = true
        for position in positions where fputs("\(position)\n", file) < 0 { written = false }
        let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
        let closed = fclose(file) == 0
        return written && flushed && closed && rename(temporary, path) == 0
    }
}

extension String {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let last = scalars.last, last == "\n" || last == " " || last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}
