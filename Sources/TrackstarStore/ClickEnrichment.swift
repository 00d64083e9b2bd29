// What a click was enriched with, as its record stores it (click format 2): country, device, bot
// reason and the unique flag in the slot's four formerly reserved bytes (28..<32), and the ASN, the
// uniqueness fingerprint, the OS and browser family names (and, in format 4, the city) as a ninth
// variable field. Format 1 records (written before) hold zeros there and eight variable fields: "not enriched".
#if canImport(Glibc)
import Glibc
#endif

/// A click's device type as stored (stable numbers; 0: the click was not enriched).
public enum ClickDevice: UInt8, CaseIterable, Sendable {
    case unknown = 0, desktop, mobile, tablet, tv, bot, other

    /// The name reports and macros use ("" for a click that was not enriched).
    public var name: StaticString {
        switch self {
        case .unknown: ""
        case .desktop: "desktop"
        case .mobile: "mobile"
        case .tablet: "tablet"
        case .tv: "tv"
        case .bot: "bot"
        case .other: "other"
        }
    }
}

/// Why a click counts as a bot, as stored (stable numbers; 0: not a bot).
public enum ClickBotReason: UInt8, CaseIterable, Sendable {
    case none = 0, emptyUserAgent, spider, userAgentSubstring, listedNetwork, listedASN, anonymousProxy

    /// The name exports and reports use ("" for none).
    public var name: StaticString {
        switch self {
        case .none: ""
        case .emptyUserAgent: "empty_user_agent"
        case .spider: "spider"
        case .userAgentSubstring: "user_agent_substring"
        case .listedNetwork: "listed_network"
        case .listedASN: "listed_asn"
        case .anonymousProxy: "anonymous_proxy"
        }
    }
}

/// The fixed part of a click's enrichment (slot bytes 28..<32):
/// `flags:1 (bit 0: enriched, bit 1: unique, bit 2: personal data wiped) | device:4 bits + botReason:4 bits
///  | country:2`. Bit 2 may be set on format 1 records too (`ClickSlot.wipePersonalData`).
public struct ClickEnrichmentHead: Equatable, Sendable {
    /// Two ASCII letters, the first in the low byte (0: unknown).
    public var country: UInt16
    public var device: ClickDevice
    public var botReason: ClickBotReason
    public var unique: Bool
    /// False for records written before enrichment (format 1): every other field is then empty.
    public var enriched: Bool
    /// The client address, user agent and fingerprint were wiped (`[privacy] personal_data_retention`).
    public var wiped = false

    public init(country: UInt16, device: ClickDevice, botReason: ClickBotReason, unique: Bool, enriched: Bool = true) {
        self.country = country; self.device = device; self.botReason = botReason; self.unique = unique; self.enriched = enriched
    }

    public static let none = ClickEnrichmentHead(country: 0, device: .unknown, botReason: .none, unique: false, enriched: false)

    /// The packed word stored at slot offset 28.
    public var word: UInt32 {
        guard enriched else { return wiped ? 4 : 0 }
        let flags: UInt32 = 1 | (unique ? 2 : 0) | (wiped ? 4 : 0)
        return flags | UInt32(device.rawValue & 0xf) << 8 | UInt32(botReason.rawValue & 0xf) << 12 | UInt32(country) << 16
    }

    public init(word: UInt32) {
        enriched = word & 1 != 0
        unique = word & 2 != 0
        wiped = word & 4 != 0
        device = ClickDevice(rawValue: UInt8(word >> 8 & 0xf)) ?? .other
        botReason = ClickBotReason(rawValue: UInt8(word >> 12 & 0xf)) ?? .none
        country = UInt16(truncatingIfNeeded: word >> 16)
    }

    /// The country's two letters ("" when unknown).
    public var countryText: String {
        country == 0 ? "" : String(decoding: [UInt8(truncatingIfNeeded: country), UInt8(truncatingIfNeeded: country >> 8)], as: UTF8.self)
    }
}

/// The variable part of a click's enrichment, the ninth length-prefixed field:
/// `asn:4 | fingerprint:8 | osLength:1 | os | browserLength:1 | browser` (little-endian), then in
/// format 3 the click's traffic extension when it has one (ClickTraffic.swift), then in format 4
/// `cityLength:1 | city` when the location database named a city (MaxMind City files). A click with
/// a city always stores the 10-byte traffic extension before it (zeros: `.plain`), so what follows
/// the browser name is: nothing (format 2), the extension (format 3), or the extension and the city.
public struct ClickEnrichmentTail {
    public var asn: UInt32
    /// The uniqueness fingerprint of (offer, full client address, user agent); 0: none.
    public var fingerprint: UInt64
    public var os: UnsafeRawBufferPointer
    public var browser: UnsafeRawBufferPointer
    /// Where the click went and why (`.plain`: to its offer, not stored unless a city follows).
    public var traffic: ClickTraffic = .plain
    /// The city's name (UTF-8, cut to `maxCityBytes` on a character boundary); empty: unknown.
    public var city = UnsafeRawBufferPointer(start: nil, count: 0)

    public init(asn: UInt32, fingerprint: UInt64, os: UnsafeRawBufferPointer, browser: UnsafeRawBufferPointer,
                traffic: ClickTraffic = .plain, city: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        self.asn = asn; self.fingerprint = fingerprint; self.os = os; self.browser = browser; self.traffic = traffic
        self.city = city
    }

    /// Family names are cut to this many bytes (uap-core's are far shorter).
    public static let maxNameBytes = 48
    /// City names are cut to this many bytes (GeoNames' English names run to about 40).
    public static let maxCityBytes = 64

    /// Bytes of the field's content (without its 2-byte length prefix).
    public var encodedCount: Int {
        let names = min(os.count, Self.maxNameBytes) + min(browser.count, Self.maxNameBytes)
        let cityBytes = Self.cityCount(city)
        let extensions = cityBytes > 0 ? ClickTraffic.encodedCount + 1 + cityBytes : traffic.isPresent ? ClickTraffic.encodedCount : 0
        return 14 + names + extensions
    }

    /// Writes the content at `p` (room for `encodedCount` bytes).
    public func write(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: asn.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: fingerprint.littleEndian, toByteOffset: 4, as: UInt64.self)  // unaligned stores are fine on x86/arm64
        let next = Self.putName(os, at: p + 12)
        let end = Self.putName(browser, at: next)
        let cityBytes = Self.cityCount(city)
        if traffic.isPresent || cityBytes > 0 { traffic.write(to: end) }
        guard cityBytes > 0, let base = city.baseAddress else { return }
        let at = end + ClickTraffic.encodedCount
        at.storeBytes(of: UInt8(cityBytes), as: UInt8.self)
        (at + 1).copyMemory(from: base, byteCount: cityBytes)
    }

    /// How many of the city's bytes are stored: all up to `maxCityBytes`, else the longest prefix
    /// that ends on a UTF-8 character boundary (a cut never leaves half a character).
    @inline(__always)
    static func cityCount(_ city: UnsafeRawBufferPointer) -> Int {
        guard city.count > maxCityBytes else { return city.count }
        var count = maxCityBytes
        while count > 0, city[count] & 0xC0 == 0x80 { count -= 1 }  // city[count] continues a character
        return count
    }

    /// A 1-byte length and the name (cut to `maxNameBytes`); returns the position after it.
    @inline(__always)
    static func putName(_ name: UnsafeRawBufferPointer, at p: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        let count = min(name.count, maxNameBytes)
        p.storeBytes(of: UInt8(count), as: UInt8.self)
        if count > 0, let base = name.baseAddress { (p + 1).copyMemory(from: base, byteCount: count) }
        return p + 1 + count
    }

    /// Reads the content of a ninth field; nil when it is malformed (never for a sealed record).
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 14 else { return nil }
        asn = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        fingerprint = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
        let osCount = Int(bytes[12])
        guard 13 + osCount < bytes.count else { return nil }
        os = UnsafeRawBufferPointer(rebasing: bytes[13..<(13 + osCount)])
        let browserCount = Int(bytes[13 + osCount])
        guard 14 + osCount + browserCount <= bytes.count else { return nil }
        browser = UnsafeRawBufferPointer(rebasing: bytes[(14 + osCount)..<(14 + osCount + browserCount)])
        let rest = 14 + osCount + browserCount
        traffic = ClickTraffic(parsing: UnsafeRawBufferPointer(rebasing: bytes[rest...])) ?? .plain
        let cityAt = rest + ClickTraffic.encodedCount
        if cityAt < bytes.count {
            let cityCount = Int(bytes[cityAt])
            guard cityAt + 1 + cityCount <= bytes.count else { return nil }
            city = UnsafeRawBufferPointer(rebasing: bytes[(cityAt + 1)..<(cityAt + 1 + cityCount)])
        }
    }

    public static var empty: ClickEnrichmentTail {
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        return ClickEnrichmentTail(asn: 0, fingerprint: 0, os: none, browser: none)
    }
}

extension ClickSlot {
    /// The enrichment word (slot bytes 28..<32; 0 in format 1 records).
    public static func enrichment(_ p: UnsafeRawPointer) -> ClickEnrichmentHead {
        ClickEnrichmentHead(word: p.load(fromByteOffset: 28, as: UInt32.self))
    }

    /// Stores the enrichment word; call before `seal` (the checksum covers it).
    public static func writeEnrichment(_ p: UnsafeMutableRawPointer, _ head: ClickEnrichmentHead) {
        p.storeBytes(of: head.word, toByteOffset: 28, as: UInt32.self)
    }

    /// The ninth variable field of an enriched click's arena bytes (empty for format 1).
    public static func enrichmentTail(_ bytes: UnsafeRawBufferPointer) -> ClickEnrichmentTail {
        var offset = 0
        for _ in 0..<Field.allCases.count {
            guard offset + 2 <= bytes.count else { return .empty }
            offset += 2 + Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        }
        guard offset + 2 <= bytes.count else { return .empty }
        let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        guard offset + 2 + length <= bytes.count else { return .empty }
        return ClickEnrichmentTail(parsing: UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + length)])) ?? .empty
    }
}

/// Wiping a click's personal data in place (`[privacy] personal_data_retention`): the client address,
/// the user agent's bytes (its length stays, so the fields after it are still found) and the
/// uniqueness fingerprint become zeros, and the enrichment word's `wiped` bit is set. Crash-safe
/// order: the checksum of the wiped record is stored *first*, then the bytes change; recovery
/// accepts a record whose stored checksum is that of its wiped image (`wipedChecksum`), so a crash
/// anywhere in between leaves a record that is valid and is wiped again by the next pass.
extension ClickSlot {
    /// The checksum the record will have once wiped, computed on copies (the record is not changed).
    public static func wipedChecksum(_ p: UnsafeRawPointer, variable: UnsafeRawBufferPointer) -> UInt64 {
        withUnsafeTemporaryAllocation(byteCount: stride, alignment: 8) { slot in
            slot.copyMemory(from: UnsafeRawBufferPointer(start: p, count: stride))
            let copy = Array(variable)
            return copy.withUnsafeBufferPointer { buffer in
                let bytes = UnsafeMutableRawBufferPointer(mutating: UnsafeRawBufferPointer(buffer))
                applyWipe(slot.baseAddress!, variable: bytes)
                return checksum(slot.baseAddress!, variable: UnsafeRawBufferPointer(bytes))
            }
        }
    }

    /// Wipes the record's personal data (any thread; see above). Idempotent.
    public static func wipePersonalData(_ p: UnsafeMutableRawPointer, variable: UnsafeMutableRawBufferPointer) {
        p.storeBytes(of: wipedChecksum(p, variable: UnsafeRawBufferPointer(variable)), toByteOffset: 56, as: UInt64.self)
        applyWipe(p, variable: variable)
    }

    /// Whether the record's personal data was wiped.
    public static func isWiped(_ p: UnsafeRawPointer) -> Bool { p.load(fromByteOffset: 28, as: UInt32.self) & 4 != 0 }

    static func applyWipe(_ p: UnsafeMutableRawPointer, variable: UnsafeMutableRawBufferPointer) {
        p.storeBytes(of: p.load(fromByteOffset: 28, as: UInt32.self) | 4, toByteOffset: 28, as: UInt32.self)
        p.storeBytes(of: UInt64(0), toByteOffset: 40, as: UInt64.self)
        p.storeBytes(of: UInt64(0), toByteOffset: 48, as: UInt64.self)
        var offset = 0
        for index in 0...Field.allCases.count {  // eight fields, then the enrichment field
            guard offset + 2 <= variable.count else { return }
            let length = Int(variable.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let end = min(variable.count, offset + 2 + length)
            if index == Field.userAgent.rawValue {
                for i in (offset + 2)..<end { variable[i] = 0 }
            } else if index == Field.allCases.count && end - offset - 2 >= 12 {
                for i in (offset + 2 + 4)..<(offset + 2 + 12) { variable[i] = 0 }  // the fingerprint
            }
            offset = end
        }
    }
}
