// Addresses and networks in a config: IPv4 and IPv6 addresses (IPv4 kept IPv4-mapped), CIDR networks
// ("10.0.0.0/8", "2001:db8::/32") masked to their prefix, and listen addresses ("host:port").

import TrackstarCore

extension ConfigParse {
    /// Parses an IPv4 or IPv6 address without a prefix; IPv4 comes back IPv4-mapped (::ffff:a.b.c.d).
    public static func ipAddress(_ text: String) -> (UInt64, UInt64)? {
        let bytes = Array(text.utf8)[...]
        if let v4 = ipv4(bytes) { return mapped(v4) }
        return ipv6(bytes)
    }

    /// Parses "10.0.0.0/8", "10.0.0.1" (a /32), "::1/128" or "2001:db8::/32"; bits set past the prefix
    /// are refused. An IPv4 network is stored IPv4-mapped, so its `prefixLength` is 96 + the IPv4 prefix.
    public static func cidr(_ text: String) -> Result<CIDR, ConfigValueError> {
        let bytes = Array(text.utf8)[...]
        let slash = bytes.firstIndex(of: UInt8(ascii: "/"))
        let addressBytes = bytes[..<(slash ?? bytes.endIndex)]
        let isV4 = !addressBytes.contains(UInt8(ascii: ":"))
        guard let address = isV4 ? ipv4(addressBytes).map(mapped) : ipv6(addressBytes) else {
            return .failure(ConfigValueError("\"\(text)\" is not an IP address or network; write e.g. \"10.0.0.0/8\", "
                + "\"192.0.2.7\", \"::1/128\" or \"2001:db8::/32\""))
        }
        let maxLength = isV4 ? 32 : 128
        var length = maxLength
        if let slash {
            let digits = bytes[(slash + 1)...]
            guard (1...3).contains(digits.count), digits.allSatisfy(Byte.isDigit),
                  let value = Int(String(decoding: digits, as: UTF8.self)), value <= maxLength else {
                return .failure(ConfigValueError("\"\(text)\": the prefix after / must be 0-\(maxLength) for an IPv\(isV4 ? 4 : 6) network"))
            }
            length = value
        }
        let prefix = isV4 ? length + 96 : length
        let network = masked(address, prefix: prefix)
        guard network == address else {
            let fixed = (isV4 ? formatIPv4(UInt32(truncatingIfNeeded: network.1)) : formatIPv6(network)) + "/\(length)"
            return .failure(ConfigValueError("\"\(text)\" has host bits set beyond the /\(length) prefix; write \"\(fixed)\""))
        }
        return .success(CIDR(address: address, prefixLength: prefix))
    }

    /// Splits "HOST:PORT" ("[::1]:8080" for IPv6). The host must be a numeric address; port 0 means any free port.
    public static func listenAddress(_ text: String) -> Result<(host: String, port: UInt16), ConfigValueError> {
        let help = "write HOST:PORT with a numeric address, e.g. \"127.0.0.1:8080\", \"0.0.0.0:8080\" or \"[::1]:8080\""
        let bytes = Array(text.utf8)[...]
        guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")) else {
            return .failure(ConfigValueError("\"\(text)\" has no port; \(help)"))
        }
        let portBytes = bytes[(colon + 1)...]
        guard (1...5).contains(portBytes.count), portBytes.allSatisfy(Byte.isDigit),
              let port = UInt16(String(decoding: portBytes, as: UTF8.self)) else {
            return .failure(ConfigValueError("\"\(text)\": the port must be a number from 0 to 65535; \(help)"))
        }
        var host = bytes[..<colon]
        if host.first == UInt8(ascii: "["), host.last == UInt8(ascii: "]") {
            host = host.dropFirst().dropLast()
            guard ipv6(host) != nil else { return .failure(ConfigValueError("\"\(text)\": not a valid IPv6 address; \(help)")) }
        } else if host.contains(UInt8(ascii: ":")) {
            return .failure(ConfigValueError("\"\(text)\": put an IPv6 address in brackets, e.g. \"[::1]:8080\""))
        } else if ipv4(host) == nil {
            return .failure(ConfigValueError("\"\(text)\": the host must be a numeric address (names are not resolved); \(help)"))
        }
        return .success((String(decoding: host, as: UTF8.self), port))
    }

    private static func mapped(_ v4: UInt32) -> (UInt64, UInt64) { (0, 0x0000_FFFF_0000_0000 | UInt64(v4)) }

    private static func masked(_ address: (UInt64, UInt64), prefix: Int) -> (UInt64, UInt64) {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? ~0 : ~0 << UInt64(64 - bits) }
        return (address.0 & mask(prefix), address.1 & mask(prefix - 64))
    }

    private static func ipv4(_ bytes: ArraySlice<UInt8>) -> UInt32? {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(Byte.isDigit),
                  let octet = UInt32(String(decoding: part, as: UTF8.self)), octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    private static func ipv6(_ bytes: ArraySlice<UInt8>) -> (UInt64, UInt64)? {
        let colon = UInt8(ascii: ":")
        var groups: [UInt16]
        if let gap = bytes.indices.dropLast().first(where: { bytes[$0] == colon && bytes[$0 + 1] == colon }) {
            guard let head = hexGroups(bytes[..<gap], ipv4Tail: false),
                  let tail = hexGroups(bytes[(gap + 2)...], ipv4Tail: true),
                  head.count + tail.count <= 7 else { return nil }
            groups = head + repeatElement(0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = hexGroups(bytes, ipv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    /// Colon-separated groups of 1-4 hex digits; the last may be a dotted IPv4 address (two groups).
    private static func hexGroups(_ bytes: ArraySlice<UInt8>, ipv4Tail: Bool) -> [UInt16]? {
        if bytes.isEmpty { return [] }
        let parts = bytes.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (index, part) in parts.enumerated() {
            if ipv4Tail, index == parts.count - 1, part.contains(UInt8(ascii: ".")) {
                guard let v4 = ipv4(part) else { return nil }
                groups += [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
            } else {
                guard (1...4).contains(part.count), part.allSatisfy(Byte.isHexDigit),
                      let group = UInt16(String(decoding: part, as: UTF8.self), radix: 16) else { return nil }
                groups.append(group)
            }
        }
        return groups
    }

    private static func formatIPv4(_ v: UInt32) -> String {
        "\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)"
    }

    /// Formats an IPv6 address, shortening the longest run of two or more zero groups to `::`.
    private static func formatIPv6(_ address: (UInt64, UInt64)) -> String {
        let groups = (0..<8).map { i in UInt16(truncatingIfNeeded: (i < 4 ? address.0 : address.1) >> UInt64(48 - 16 * (i % 4))) }
        var best = (start: 0, count: 0), index = 0
        while index < 8 {
            let run = groups[index...].prefix(while: { $0 == 0 }).count
            if run > best.count { best = (index, run) }
            index += max(run, 1)
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.count >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.count)...].joined(separator: ":")
        return head + "::" + tail
    }
}
