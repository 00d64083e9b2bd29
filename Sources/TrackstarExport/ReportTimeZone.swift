// Time zones for `trackstar report --tz`: the system's tz database (/usr/share/zoneinfo, Debian's
// `tzdata`), read as TZif files (RFC 8536) without Foundation, turned into UTC offsets by instant.
#if canImport(Glibc)
import Glibc
#endif

/// A zone's UTC offsets over time. Instants after the last transition in the file keep its offset
/// (Debian's files list transitions up to 2037; the POSIX rule in the footer is not read).
public struct ReportTimeZone: Sendable, Equatable {
    /// The tz database name ("Europe/Berlin").
    public let name: String
    /// Transition instants in Unix seconds, ascending, and the offset (seconds east of UTC) from each.
    let transitions: [Int64]
    let offsets: [Int64]
    /// The offset before the first transition (the file's first time type).
    let initialOffset: Int64

    /// The transition instants (Unix seconds, ascending), for callers that keep the offset period
    /// of "now" instead of searching per instant (the cap windows of issue 14, CapZone.swift).
    public var transitionSeconds: [Int64] { transitions }
    /// The offset (seconds east of UTC) from each transition on.
    public var offsetSeconds: [Int64] { offsets }
    /// The offset before the first transition.
    public var initialOffsetSeconds: Int64 { initialOffset }

    /// Loads `name` ("Area/City", "UTC", …) from `directory`; the error names the zone and says what to do.
    public static func load(_ name: String, directory: String = "/usr/share/zoneinfo") throws(ExportError) -> ReportTimeZone {
        let allowed = name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2F || b == 0x5F || b == 0x2D || b == 0x2B
        }
        guard !name.isEmpty, allowed, !name.hasPrefix("/"), !name.contains("..") else {
            throw ExportError("--tz: \"\(name)\" is not a time zone name; use a tz database name such as Europe/Berlin or America/New_York")
        }
        let path = directory + "/" + name
        guard let bytes = readFile(path) else {
            throw ExportError("--tz: no time zone \"\(name)\" (\(path) cannot be read); use a tz database name such as Europe/Berlin, and install the tzdata package")
        }
        return try parse(name: name, bytes)
    }

    /// Parses TZif data (version 1, or the 64-bit block of versions 2 and later).
    public static func parse(name: String, _ bytes: [UInt8]) throws(ExportError) -> ReportTimeZone {
        let bad = ExportError("--tz: the file of \"\(name)\" is not a valid TZif file")
        var reader = TZifReader(bytes: bytes)
        guard let header = reader.header() else { throw bad }
        var counts = header.counts
        var timeSize = 4
        if header.version >= UInt8(ascii: "2") {
            reader.skip(counts.v1DataSize)
            guard let second = reader.header() else { throw bad }
            counts = second.counts
            timeSize = 8
        }
        guard counts.types > 0, let times = reader.integers(counts.times, size: timeSize),
              let indices = reader.bytes(counts.times) else { throw bad }
        var typeOffsets: [Int64] = []
        for _ in 0..<counts.types {
            guard let offset = reader.integers(1, size: 4)?.first, reader.bytes(2) != nil else { throw bad }
            typeOffsets.append(offset)
        }
        guard indices.allSatisfy({ Int($0) < typeOffsets.count }), zip(times, times.dropFirst()).allSatisfy({ $0 < $1 }) else { throw bad }
        return ReportTimeZone(name: name, transitions: times, offsets: indices.map { typeOffsets[Int($0)] },
                              initialOffset: typeOffsets[0])
    }

    /// Milliseconds east of UTC at the instant `utcMillis`.
    public func offsetMillis(atUTC utcMillis: Int64) -> Int64 {
        let seconds = utcMillis >= 0 ? utcMillis / 1000 : (utcMillis - 999) / 1000
        var low = 0, high = transitions.count  // the first transition after `seconds`
        while low < high {
            let mid = (low + high) / 2
            if transitions[mid] <= seconds { low = mid + 1 } else { high = mid }
        }
        return 1000 * (low == 0 ? initialOffset : offsets[low - 1])
    }

    /// The instant of a local civil time (Unix ms as if the local time were UTC). In a gap (clocks
    /// forward) it is the instant the offset before the gap gives; in an overlap, the earlier one.
    public func utcMillis(fromLocal local: Int64) -> Int64 {
        let before = local - offsetMillis(atUTC: local - 86_400_000)
        let after = local - offsetMillis(atUTC: local + 86_400_000)
        // Try the earlier candidate first: it is right when its own offset agrees.
        for candidate in [min(before, after), max(before, after)] where candidate + offsetMillis(atUTC: candidate) == local {
            return candidate
        }
        return before
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes += chunk[0..<n] }
            if n < chunk.count { break }
            if bytes.count > 1 << 20 { return nil }  // no zone file is this large
        }
        return ferror(file) == 0 ? bytes : nil
    }
}

/// Reads big-endian TZif fields from the front of a byte array.
struct TZifReader {
    let bytes: [UInt8]
    var at = 0

    struct Counts {
        var utIndicators = 0, standardIndicators = 0, leaps = 0, times = 0, types = 0, chars = 0
        /// Bytes of a version 1 data block (4-byte times) with these counts.
        var v1DataSize: Int { times * 5 + types * 6 + chars + leaps * 8 + standardIndicators + utIndicators }
    }

    mutating func header() -> (version: UInt8, counts: Counts)? {
        guard at + 44 <= bytes.count, bytes[at..<at + 4].elementsEqual("TZif".utf8) else { return nil }
        let version = bytes[at + 4]
        at += 20
        guard let c = integers(6, size: 4), c.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) else { return nil }
        let counts = Counts(utIndicators: Int(c[0]), standardIndicators: Int(c[1]), leaps: Int(c[2]),
                            times: Int(c[3]), types: Int(c[4]), chars: Int(c[5]))
        return (version, counts)
    }

    mutating func skip(_ count: Int) { at += count }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, at + count <= bytes.count else { return nil }
        defer { at += count }
        return Array(bytes[at..<at + count])
    }

    /// `count` signed big-endian integers of `size` bytes (4 or 8).
    mutating func integers(_ count: Int, size: Int) -> [Int64]? {
        guard let raw = bytes(count * size) else { return nil }
        return (0..<count).map { i in
            var value: UInt64 = 0
            for b in raw[(i * size)..<(i * size + size)] { value = value << 8 | UInt64(b) }
            return size == 4 ? Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: value))) : Int64(bitPattern: value)
        }
    }
}
