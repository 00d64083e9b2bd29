// The client's address: the TCP peer, or — only when the peer is a trusted proxy — the nearest
// untrusted address in X-Forwarded-For or Forwarded (walking from the right, as proxies append).
import TrackstarCore
import TrackstarHTTP
import TrackstarIO
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

extension RequestHandler {
    /// The address clicks are recorded with and postback allowlists are checked against.
    func clientAddress(_ exchange: Exchange) -> PeerAddress {
        let peer = exchange.context.peer
        let proxies = engine.config.server.trustedProxies
        guard !proxies.isEmpty, ClientAddress.trusted(peer, proxies) else { return peer }
        let head = exchange.head
        if !head.xForwardedFor.isEmpty,
           let found = ClientAddress.rightmostUntrusted(exchange.bytes(head.xForwardedFor, limit: 4096), proxies, forwarded: false) {
            return found
        }
        if !head.forwarded.isEmpty,
           let found = ClientAddress.rightmostUntrusted(exchange.bytes(head.forwarded, limit: 4096), proxies, forwarded: true) {
            return found
        }
        return peer
    }
}

/// Parsing of forwarding headers, without allocating.
enum ClientAddress {
    static func trusted(_ address: PeerAddress, _ proxies: [CIDR]) -> Bool {
        for network in proxies where CIDRMatch.contains(network, high: address.high, low: address.low) { return true }
        return false
    }

    /// Walks the comma-separated list from the right; returns the first address that is not a trusted
    /// proxy (or the leftmost, if all are). An unparsable element stops the walk: nothing beyond it
    /// can be trusted.
    static func rightmostUntrusted(_ list: UnsafeRawBufferPointer, _ proxies: [CIDR], forwarded: Bool) -> PeerAddress? {
        var end = list.count
        var last: PeerAddress?
        while end > 0 {
            var start = end
            while start > 0 && list[start - 1] != UInt8(ascii: ",") { start -= 1 }
            let element = UnsafeRawBufferPointer(rebasing: list[start..<end])
            guard let address = forwarded ? forwardedFor(element) : parse(trim(element)) else { return last }
            if !trusted(address, proxies) { return address }
            last = address
            end = start > 0 ? start - 1 : 0
        }
        return last
    }

    /// The `for=` value of one Forwarded element (`for=192.0.2.1;proto=https`, `for="[2001:db8::1]:4711"`).
    static func forwardedFor(_ element: UnsafeRawBufferPointer) -> PeerAddress? {
        var i = 0
        while i + 4 <= element.count {
            let f = element[i] | 0x20, o = element[i + 1] | 0x20, r = element[i + 2] | 0x20
            if f == UInt8(ascii: "f") && o == UInt8(ascii: "o") && r == UInt8(ascii: "r") && element[i + 3] == UInt8(ascii: "=")
                && (i == 0 || element[i - 1] == UInt8(ascii: ";") || element[i - 1] == UInt8(ascii: " ")) {
                var j = i + 4
                while j < element.count && element[j] != UInt8(ascii: ";") { j += 1 }
                var value = UnsafeRawBufferPointer(rebasing: element[(i + 4)..<j])
                if value.first == UInt8(ascii: "\""), value.count >= 2 { value = UnsafeRawBufferPointer(rebasing: value[1..<(value.count - 1)]) }
                return parse(value)
            }
            i += 1
        }
        return nil
    }

    static func trim(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0, end = bytes.count
        while start < end && (bytes[start] == 32 || bytes[start] == 9) { start += 1 }
        while end > start && (bytes[end - 1] == 32 || bytes[end - 1] == 9) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// An IPv4 or IPv6 address, optionally `[v6]:port` or `v4:port`, via inet_pton on a stack copy.
    static func parse(_ raw: UnsafeRawBufferPointer) -> PeerAddress? {
        var text = trim(raw)
        if text.first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            text = UnsafeRawBufferPointer(rebasing: text[1..<close])
        } else if let colon = text.firstIndex(of: UInt8(ascii: ":")), text.lastIndex(of: UInt8(ascii: ":")) == colon {
            text = UnsafeRawBufferPointer(rebasing: text[0..<colon])  // IPv4 with a port
        }
        guard text.count > 0, text.count < 64 else { return nil }
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var address: (UInt64, UInt64) = (0, 0)
        let ok = withUnsafeMutableBytes(of: &buffer) { cString -> Bool in
            cString.copyMemory(from: text)  // the rest of the buffer is zero: NUL-terminated
            let isV6 = text.contains(UInt8(ascii: ":"))
            return withUnsafeMutableBytes(of: &address) { out in
                inet_pton(isV6 ? AF_INET6 : AF_INET, cString.baseAddress!.assumingMemoryBound(to: CChar.self), out.baseAddress) == 1
            }
        }
        guard ok else { return nil }
        return withUnsafeBytes(of: address) { raw in
            if !text.contains(UInt8(ascii: ":")) {
                return PeerAddress(high: 0, low: 0xffff_0000_0000 | UInt64(UInt32(bigEndian: raw.load(as: UInt32.self))))
            }
            return PeerAddress(high: UInt64(bigEndian: raw.load(fromByteOffset: 0, as: UInt64.self)),
                               low: UInt64(bigEndian: raw.load(fromByteOffset: 8, as: UInt64.self)))
        }
    }
}
