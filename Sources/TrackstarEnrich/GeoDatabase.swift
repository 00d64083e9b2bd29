// Country, ASN and flags of a client address, from IPFire's location database (libloc) flattened at
// load into sorted range tables: a lookup is a bucket index read and a short binary search, with no
// allocation, no lock and no write, so every loop may share one GeoDatabase. Or, optionally, from a
// MaxMind .mmdb file read in place. Immutable once built: a reload builds a new GeoDatabase and the
// caller swaps its reference.
import CLibLoc

/// An immutable, shareable country/ASN table built from a location database file.
public final class GeoDatabase: Sendable {
    /// Debian's location database, kept current by the `location` package's update timer (a symlink to
    /// `/usr/share/libloc-location/location.db` from the libloc-database package until the first update).
    public static let defaultPath = "/var/lib/location/database.db"

    /// The file this table was built from.
    public let path: String
    /// Networks read from the file (nested ones included).
    public let networkCount: Int
    /// IPv6 networks longer than /64, which the 64-bit IPv6 keys cannot hold and were left out (0 in
    /// every libloc database seen so far; counted so a change shows).
    public let skippedNetworkCount: Int
    /// When the database was built (seconds since the Unix epoch, from its header).
    public let createdAt: Int64
    // libloc's networks, flattened (empty tables answering unknown when `maxMind` is set). Plain
    // `let`s, not an enum payload, so that a lookup reads them without copying a reference (which
    // would write the objects' reference counts from every loop).
    private let ipv4: GeoRangeStorage<UInt32>
    private let ipv6: GeoRangeStorage<UInt64>
    private let answers: GeoAnswerStorage
    private let maxMind: MaxMindFile?

    /// Reads the libloc database at `path` (about a second for the full IPFire database) and builds the
    /// tables. Throws an `EnrichError` naming the path when it is missing, unreadable or not a database.
    public convenience init(path: String = GeoDatabase.defaultPath) throws {
        let file = try LibLocFile(path: path)
        try self.init(loading: file)
    }

    init(loading file: LibLocFile) throws {
        var interned: [GeoAnswer: UInt32] = [.unknown: 0]
        var answerList: [GeoAnswer] = [.unknown]
        var v4: [GeoNetwork] = [], v6: [GeoNetwork] = []
        var total = 0, skipped = 0
        v4.reserveCapacity(1 << 20)
        v6.reserveCapacity(1 << 18)
        try file.forEachNetwork { network in
            total += 1
            let answer = network.answer
            let value: UInt32
            if let known = interned[answer] { value = known } else {
                value = UInt32(answerList.count)
                interned[answer] = value
                answerList.append(answer)
            }
            let first = network.first, last = network.last
            if network.isIPv4 {
                v4.append(GeoNetwork(first: first.low & 0xFFFF_FFFF, last: last.low & 0xFFFF_FFFF, value: value))
            } else if network.prefix <= 64 {
                v6.append(GeoNetwork(first: first.high, last: last.high, value: value))
            } else {
                skipped += 1
            }
        }
        let flat4 = GeoRangeTableBuilder.flatten(v4, keyMax: UInt64(UInt32.max))
        let flat6 = GeoRangeTableBuilder.flatten(v6, keyMax: UInt64.max)
        path = file.path
        networkCount = total
        skippedNetworkCount = skipped
        createdAt = file.createdAt
        ipv4 = GeoRangeStorage(starts: flat4.starts, values: flat4.values)
        ipv6 = GeoRangeStorage(starts: flat6.starts, values: flat6.values)
        answers = GeoAnswerStorage(answerList)
        maxMind = nil
        // The load's working arrays (about 30 MB for the full database) are freed by now; hand their
        // pages back so the process keeps only the tables.
        _ = malloc_trim(0)
    }

    /// Opens a MaxMind DB file (`.mmdb`: GeoLite2 or GeoIP2 Country, City or ASN, or a file with
    /// the same field names): country from `country.iso_code` (else `registered_country.iso_code`),
    /// ASN from `autonomous_system_number`, flags from `traits.is_anonymous_proxy`,
    /// `is_satellite_provider`, `is_anycast`; the city (`place`) from `city.names.en`. Lookups read the mapped file (no table is built; about a
    /// microsecond each). Throws an `EnrichError` naming the path.
    public init(maxMindPath path: String) throws {
        let file = try MaxMindFile(path: path)
        self.path = path
        networkCount = file.nodeCount
        skippedNetworkCount = 0
        createdAt = file.buildEpoch
        ipv4 = GeoRangeStorage(starts: [0], values: [0])
        ipv6 = GeoRangeStorage(starts: [0], values: [0])
        answers = GeoAnswerStorage([.unknown])
        maxMind = file
    }

    /// The answer for a 128-bit address (IPv4 as IPv4-mapped IPv6, `::ffff:a.b.c.d`): country, ASN and
    /// flags of the most specific network holding it, or `.unknown`. No allocation, no lock; any thread.
    @inline(__always)
    public func lookup(high: UInt64, low: UInt64) -> GeoAnswer {
        if let maxMind { return maxMind.place(high: high, low: low, city: false).answer }
        if high == 0, low >> 32 == 0xFFFF {
            return answers[ipv4.valueIndex(UInt32(truncatingIfNeeded: low))]
        }
        return answers[ipv6.valueIndex(high)]
    }

    /// The answer and, from a MaxMind City file, the city's name (one tree walk for both). No
    /// allocation, no lock; any thread. The name points into this database's mapped file.
    @inline(__always)
    public func place(high: UInt64, low: UInt64) -> GeoPlace {
        if let maxMind { return maxMind.place(high: high, low: low, city: true) }
        return GeoPlace(answer: lookup(high: high, low: low))
    }

    /// Ranges in the flat tables (IPv4 + IPv6) after nesting is resolved and equal neighbours merged;
    /// 0 for a MaxMind file.
    public var rangeCount: Int { maxMind == nil ? ipv4.count + ipv6.count : 0 }

    /// Bytes the tables hold in memory (ranges, indexes and distinct answers); 0 for a MaxMind file,
    /// which is mapped from the page cache instead.
    public var tableBytes: Int { maxMind == nil ? ipv4.bytes + ipv6.bytes + answers.bytes : 0 }
}
