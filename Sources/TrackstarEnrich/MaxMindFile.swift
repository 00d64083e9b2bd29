// A MaxMind DB file (.mmdb: GeoLite2, GeoIP2, or any file in the format) opened with libmaxminddb in
// mmap mode: GeoDatabase's optional backend. A lookup walks the file's search tree and reads the
// country, ASN, trait and city fields in place; libmaxminddb allocates nothing for it and reads only,
// so loops share one file. The city's name is returned as a view into the mapping, never copied.
import CMaxMindDB
#if canImport(Glibc)
import Glibc
#endif

/// An open .mmdb file; immutable, shareable.
final class MaxMindFile: @unchecked Sendable {
    // @unchecked: libmaxminddb documents lookups on an MMDB_s opened once as thread-safe (read-only
    // mapping); `database` and the paths are written only in init and freed in deinit.
    private let database: UnsafeMutablePointer<MMDB_s>
    private let paths: MaxMindPaths
    /// The file, for messages.
    let path: String

    /// Opens `path`; the error names it and says what libmaxminddb found wrong.
    init(path: String) throws {
        self.path = path
        database = .allocate(capacity: 1)
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), database)
        guard status == MMDB_SUCCESS else {
            database.deallocate()
            let reason = String(cString: MMDB_strerror(status))
            throw EnrichError("geo database \(path): cannot open as a MaxMind DB (\(reason)); point the path at a .mmdb file such as GeoLite2-City.mmdb")
        }
        paths = MaxMindPaths()
    }

    deinit {
        MMDB_close(database)
        database.deallocate()
    }

    /// Search-tree nodes in the file (its size, as the metadata says).
    var nodeCount: Int { Int(database.pointee.metadata.node_count) }
    /// When the file was built, seconds since the Unix epoch.
    var buildEpoch: Int64 { Int64(database.pointee.metadata.build_epoch) }

    /// Country, ASN and flags for a 128-bit address (IPv4 mapped), and with `city` the city's English
    /// name; unknown and empty where the file has nothing.
    func place(high: UInt64, low: UInt64, city: Bool) -> GeoPlace {
        var error: Int32 = 0
        var result: MMDB_lookup_result_s
        if high == 0, low >> 32 == 0xFFFF {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(truncatingIfNeeded: low).bigEndian
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(database, $0, &error) }
            }
        } else {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &address.sin6_addr) { raw in
                raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(database, $0, &error) }
            }
        }
        guard error == MMDB_SUCCESS, result.found_entry else { return GeoPlace(answer: .unknown) }
        var entry = result.entry
        var answer = GeoAnswer.unknown
        var data = MMDB_entry_data_s()
        for path in [paths.country, paths.registeredCountry] where answer.country == 0 {
            if value(&entry, path, &data), data.type == UInt32(MMDB_DATA_TYPE_UTF8_STRING), data.data_size == 2 {
                let letters = UnsafeRawPointer(data.utf8_string!)
                answer.country = UInt16(letters.load(as: UInt8.self)) << 8 | UInt16(letters.load(fromByteOffset: 1, as: UInt8.self))
            }
        }
        if value(&entry, paths.asn, &data), data.type == UInt32(MMDB_DATA_TYPE_UINT32) { answer.asn = data.uint32 }
        if flag(&entry, paths.anonymousProxy, &data) { answer.flags.insert(.anonymousProxy) }
        if flag(&entry, paths.satelliteProvider, &data) { answer.flags.insert(.satelliteProvider) }
        if flag(&entry, paths.anycast, &data) { answer.flags.insert(.anycast) }
        var place = GeoPlace(answer: answer)
        if city, value(&entry, paths.city, &data), data.type == UInt32(MMDB_DATA_TYPE_UTF8_STRING), data.data_size > 0,
           let name = data.utf8_string {
            place.city = UnsafeRawBufferPointer(start: name, count: Int(data.data_size))
        }
        return place
    }

    private func value(_ entry: inout MMDB_entry_s, _ path: UnsafeMutablePointer<UnsafePointer<CChar>?>, _ data: inout MMDB_entry_data_s) -> Bool {
        MMDB_aget_value(&entry, &data, path) == MMDB_SUCCESS && data.has_data
    }

    private func flag(_ entry: inout MMDB_entry_s, _ path: UnsafeMutablePointer<UnsafePointer<CChar>?>, _ data: inout MMDB_entry_data_s) -> Bool {
        value(&entry, path, &data) && data.type == UInt32(MMDB_DATA_TYPE_BOOLEAN) && data.boolean
    }
}

/// The field paths a lookup reads, as the NULL-terminated C string arrays MMDB_aget_value takes,
/// allocated once (MaxMind's GeoIP2 / GeoLite2 field names).
final class MaxMindPaths: @unchecked Sendable {
    // @unchecked: written in init, freed in deinit, read-only in between.
    let country = MaxMindPaths.make(["country", "iso_code"])
    let registeredCountry = MaxMindPaths.make(["registered_country", "iso_code"])
    let asn = MaxMindPaths.make(["autonomous_system_number"])
    let anonymousProxy = MaxMindPaths.make(["traits", "is_anonymous_proxy"])
    let satelliteProvider = MaxMindPaths.make(["traits", "is_satellite_provider"])
    let anycast = MaxMindPaths.make(["traits", "is_anycast"])
    let city = MaxMindPaths.make(["city", "names", "en"])

    private static func make(_ keys: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        let path = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: keys.count + 1)
        for (index, key) in keys.enumerated() { (path + index).initialize(to: UnsafePointer(strdup(key))) }
        (path + keys.count).initialize(to: nil)
        return path
    }

    deinit {
        for path in [country, registeredCountry, asn, anonymousProxy, satelliteProvider, anycast, city] {
            var index = 0
            while let key = path[index] { free(UnsafeMutableRawPointer(mutating: key)); index += 1 }
            path.deallocate()
        }
    }
}
