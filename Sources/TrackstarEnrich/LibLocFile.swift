// IPFire's location database opened through libloc: the geo table's loader enumerates its networks
// once, and tests use libloc's own lookup as the reference. Nothing here runs per click: libloc's
// lookup allocates a network object per call, which is why clicks use GeoDatabase's flat table.
import CLibLoc
#if canImport(Glibc)
import Glibc
#endif

/// An open libloc database file (a context and a database; the file is mapped by libloc).
final class LibLocFile {
    private let context: OpaquePointer
    private let database: OpaquePointer
    /// The path, for messages.
    let path: String

    /// Opens `path`; the error names it and says what is wrong.
    init(path: String) throws {
        self.path = path
        guard let file = fopen(path, "r") else {
            let reason = String(cString: strerror(errno))
            throw EnrichError("geo database \(path): cannot open (\(reason)); install Debian's libloc-database or set the path to a location.db file")
        }
        defer { fclose(file) }
        var context: OpaquePointer?
        guard loc_new(&context) == 0, let context else {
            throw EnrichError("geo database \(path): libloc could not start (out of memory?)")
        }
        // libloc logs its own refusals to stderr; the thrown error says the same, naming the path.
        loc_set_log_priority(context, 0)
        var database: OpaquePointer?
        guard loc_database_new(context, &database, file) == 0, let database else {
            loc_unref(context)
            throw EnrichError("geo database \(path): not a libloc location database (libloc refused it); "
                + "point the path at a location.db file such as /usr/share/libloc-location/location.db")
        }
        self.context = context
        self.database = database
    }

    deinit {
        loc_database_unref(database)
        loc_unref(context)
    }

    /// When the database was built, seconds since the Unix epoch.
    var createdAt: Int64 { Int64(loc_database_created_at(database)) }

    /// Calls `body` with every network (nested ones included, in libloc's tree order).
    func forEachNetwork(_ body: (LibLocNetwork) -> Void) throws {
        var enumerator: OpaquePointer?
        guard loc_database_enumerator_new(&enumerator, database, LOC_DB_ENUMERATE_NETWORKS, 0) == 0, let enumerator else {
            throw EnrichError("geo database \(path): libloc could not enumerate its networks")
        }
        defer { loc_database_enumerator_unref(enumerator) }
        while true {
            var network: OpaquePointer?
            guard loc_database_enumerator_next_network(enumerator, &network) == 0 else {
                throw EnrichError("geo database \(path): reading its networks failed part way; the file may be damaged")
            }
            guard let network else { return }
            body(LibLocNetwork(network))
            loc_network_unref(network)
        }
    }

    /// libloc's own answer for an address (allocates; the reference for tests, never for clicks).
    func referenceLookup(high: UInt64, low: UInt64) -> GeoAnswer {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { raw in
            raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        var network: OpaquePointer?
        guard loc_database_lookup(database, &address, &network) == 0, let network else { return .unknown }
        defer { loc_network_unref(network) }
        return LibLocNetwork(network).answer
    }
}

/// A borrowed libloc network: valid only inside the call that handed it out.
struct LibLocNetwork {
    private let network: OpaquePointer
    init(_ network: OpaquePointer) { self.network = network }

    /// True for an IPv4 network (libloc holds it IPv4-mapped).
    var isIPv4: Bool { loc_network_address_family(network) == AF_INET }
    /// The prefix length in the network's own family (24 for an IPv4 /24).
    var prefix: Int { Int(loc_network_prefix(network)) }
    /// First address, as 128-bit high and low words.
    var first: (high: UInt64, low: UInt64) { Self.words(loc_network_get_first_address(network)) }
    /// Last address, as 128-bit high and low words.
    var last: (high: UInt64, low: UInt64) { Self.words(loc_network_get_last_address(network)) }

    /// Country, ASN and flags.
    var answer: GeoAnswer {
        var country: UInt16 = 0
        if let code = loc_network_get_country_code(network) {
            let a = UInt8(bitPattern: code[0])
            let b = a == 0 ? 0 : UInt8(bitPattern: code[1])
            if a != 0, b != 0 { country = UInt16(a) << 8 | UInt16(b) }
        }
        var flags: GeoFlags = []
        if loc_network_has_flag(network, UInt32(LOC_NETWORK_FLAG_ANONYMOUS_PROXY.rawValue)) != 0 { flags.insert(.anonymousProxy) }
        if loc_network_has_flag(network, UInt32(LOC_NETWORK_FLAG_SATELLITE_PROVIDER.rawValue)) != 0 { flags.insert(.satelliteProvider) }
        if loc_network_has_flag(network, UInt32(LOC_NETWORK_FLAG_ANYCAST.rawValue)) != 0 { flags.insert(.anycast) }
        if loc_network_has_flag(network, UInt32(LOC_NETWORK_FLAG_DROP.rawValue)) != 0 { flags.insert(.drop) }
        return GeoAnswer(country: country, asn: loc_network_get_asn(network), flags: flags)
    }

    private static func words(_ address: UnsafePointer<in6_addr>?) -> (high: UInt64, low: UInt64) {
        guard let address else { return (0, 0) }
        return UnsafeRawPointer(address).withMemoryRebound(to: UInt8.self, capacity: 16) { bytes in
            var high: UInt64 = 0, low: UInt64 = 0
            for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
            return (high, low)
        }
    }
}
