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

    func store(_ positions: [UInt64]) {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "w") else { return }
        for position in positions { fputs("\(position)\n", file) }
        fflush(file)
        fsync(fileno(file))
        fclose(file)
        rename(temporary, path)
    }
}

extension String {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let last = scalars.last, last == "\n" || last == " " || last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}
