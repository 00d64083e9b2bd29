// What the location database says about one address: country, autonomous system and flags, in eight
// bytes, so a click record can carry it and a lookup can return it without allocating.

/// Flags the location database sets on a network (libloc's A1, A2, A3 and XD).
public struct GeoFlags: OptionSet, Sendable, Hashable {
    /// The raw bits, as stored in a click record.
    public var rawValue: UInt8
    /// Flags from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// An anonymous proxy (libloc A1).
    public static let anonymousProxy = GeoFlags(rawValue: 1 << 0)
    /// A satellite provider (libloc A2).
    public static let satelliteProvider = GeoFlags(rawValue: 1 << 1)
    /// An anycast network (libloc A3).
    public static let anycast = GeoFlags(rawValue: 1 << 2)
    /// A network on a drop list (libloc XD: hijacked or spam-only space).
    public static let drop = GeoFlags(rawValue: 1 << 3)
}

/// Country, ASN and flags of one address; all zero when the database knows nothing of it.
public struct GeoAnswer: Sendable, Hashable {
    /// Two ASCII letters packed big-endian (`"US"` is 0x5553); 0 = unknown.
    public var country: UInt16
    /// The autonomous system number; 0 = unknown.
    public var asn: UInt32
    /// The network's flags.
    public var flags: GeoFlags

    /// An answer from its parts.
    public init(country: UInt16, asn: UInt32, flags: GeoFlags) {
        self.country = country; self.asn = asn; self.flags = flags
    }

    /// The answer for an address the database does not know.
    public static let unknown = GeoAnswer(country: 0, asn: 0, flags: [])

    /// The two letters as a String ("US"), or nil when unknown. Allocates: for reports, not clicks.
    public var countryCode: String? {
        guard country != 0 else { return nil }
        return String(decoding: [UInt8(truncatingIfNeeded: country >> 8), UInt8(truncatingIfNeeded: country)], as: UTF8.self)
    }

    /// Packs a two-letter code ("us" and "US" alike) into `country`'s form; 0 unless two ASCII letters.
    public static func packCountry(_ code: String) -> UInt16 {
        let bytes = Array(code.utf8)
        guard bytes.count == 2, bytes.allSatisfy({ (0x41...0x5A).contains($0 & 0xDF) }) else { return 0 }
        return UInt16(bytes[0] & 0xDF) << 8 | UInt16(bytes[1] & 0xDF)
    }
}

/// An address's answer with its city, where the database has one (MaxMind City files; IPFire's
/// libloc database has no cities). The name is a view, not a copy: valid while the `GeoDatabase`
/// that answered lives, which the caller holds for the click it enriches.
public struct GeoPlace {
    /// Country, ASN and flags.
    public var answer: GeoAnswer
    /// The city's English name (`city.names.en`, UTF-8) in the mapped file; empty when unknown.
    public var city: UnsafeRawBufferPointer

    /// A place from its parts.
    public init(answer: GeoAnswer, city: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        self.answer = answer; self.city = city
    }
}
