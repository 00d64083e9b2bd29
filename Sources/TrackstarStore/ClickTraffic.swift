// Where a click went and why (issue 14, click format 3): a click its offer could not take (paused,
// capped, targeting) or that came through a smart link carries, after the OS and browser names of
// its enrichment field, `reason:1 | destination:1 | requestedOffer:4 | smartlink:4`. Format 2
// records (and plain clicks, which stay byte for byte as before) end after the browser name.

/// Why a click did not go to the offer it asked for (stable numbers; 0: it did).
public enum TrafficReason: UInt8, CaseIterable, Sendable {
    case none = 0, offerPaused, capReached, geo, device, os, noEligibleOffer
    /// A bot on an offer with `bot_action = "fallback"` (appended: the numbers are stored).
    case bot = 7

    /// The name records, reports and /metrics use ("" for none).
    public var name: StaticString {
        switch self {
        case .none: ""
        case .offerPaused: "offer_paused"
        case .capReached: "cap_reached"
        case .geo: "geo"
        case .device: "device"
        case .os: "os"
        case .noEligibleOffer: "no_eligible_offer"
        case .bot: "bot"
        }
    }
}

/// Where a click was sent (stable numbers).
public enum TrafficDestination: UInt8, CaseIterable, Sendable {
    /// The landing page of the record's offer (which counted the click against its caps).
    case offer = 0
    /// A trafficback URL: the (last tried) offer's, the affiliate's, the smart link's, the server's;
    /// or, with none of those, the offer's `fallback_url`.
    case offerTrafficback, affiliateTrafficback, smartLinkTrafficback, serverTrafficback, offerFallback

    public var name: StaticString {
        switch self {
        case .offer: "offer"
        case .offerTrafficback: "offer_trafficback_url"
        case .affiliateTrafficback: "affiliate_trafficback_url"
        case .smartLinkTrafficback: "smartlink_trafficback_url"
        case .serverTrafficback: "server_trafficback_url"
        case .offerFallback: "offer_fallback_url"
        }
    }
}

/// The traffic extension of a click's enrichment field.
public struct ClickTraffic: Equatable, Sendable {
    public var reason: TrafficReason
    public var destination: TrafficDestination
    /// The offer the click asked for (a smart link's: the offer chosen or first listed); 0: the record's.
    public var requestedOffer: UInt32
    /// The smart link the click came through; 0: none.
    public var smartlink: UInt32

    public init(reason: TrafficReason = .none, destination: TrafficDestination = .offer, requestedOffer: UInt32 = 0, smartlink: UInt32 = 0) {
        self.reason = reason; self.destination = destination; self.requestedOffer = requestedOffer; self.smartlink = smartlink
    }

    public static let plain = ClickTraffic()
    /// Bytes of the extension when present.
    public static let encodedCount = 10
    /// Whether the record stores the extension (a plain click does not).
    public var isPresent: Bool { self != .plain }
    /// Whether the click counted against its record offer's click caps (start-up replay reads this).
    public var countsAgainstCaps: Bool { destination == .offer }

    public func write(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: reason.rawValue, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: destination.rawValue, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: requestedOffer.littleEndian, toByteOffset: 2, as: UInt32.self)  // unaligned: fine on x86/arm64
        p.storeBytes(of: smartlink.littleEndian, toByteOffset: 6, as: UInt32.self)
    }

    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= ClickTraffic.encodedCount, let reason = TrafficReason(rawValue: bytes[0]),
              let destination = TrafficDestination(rawValue: bytes[1]) else { return nil }
        self.reason = reason
        self.destination = destination
        requestedOffer = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        smartlink = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt32.self))
    }
}

extension ClickSlot {
    /// A click's traffic extension from its variable bytes (`.plain` when it has none).
    public static func traffic(_ bytes: UnsafeRawBufferPointer) -> ClickTraffic { enrichmentTail(bytes).traffic }
}
