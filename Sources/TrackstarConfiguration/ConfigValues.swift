// Parsers for the value syntaxes a Trackstar config uses: durations ("1h30m"), money read exactly
// into micros ("2.50"), listen addresses, IP networks ("10.0.0.0/8", "2001:db8::/32") and URL
// templates with {macro} placeholders. Each failure message says how to write the value instead.

import TrackstarCore

/// Why a config value was refused; `message` says what is wrong and how to write it instead.
public struct ConfigValueError: Error, Sendable, Equatable {
    /// What is wrong and how to fix it, without the key name (the loader adds that).
    public var message: String
    /// A refusal with `message`.
    public init(_ message: String) { self.message = message }
}

/// Parsers for config value syntaxes, shared by the loader and anything else reading such values.
public enum ConfigParse {
    /// Macros an offer's `url` and `fallback_url` may use.
    public static let offerURLMacros = Macro.clickMacros.map(\.name)

    /// Macros an affiliate's `postback_url` may use.
    public static let postbackURLMacros = Macro.postbackMacros.map(\.name) + Macro.postbackMacros.map { "raw:" + $0.name }

    // MARK: Durations

    /// The longest duration any setting takes: 100 years. Durations are added to the current time at
    /// run time (deadlines, windows); this bound keeps every such sum far from Int64's limit.
    public static let maxDurationMillis: Int64 = 36_500 * 86_400_000

    /// Parses "250ms", "30s", "10m", "2h", "30d" or a combination such as "1h30m" into milliseconds.
    public static func durationMillis(_ text: String) -> Result<Int64, ConfigValueError> {
        let help = "write a whole number with a unit (ms, s, m, h, d), e.g. \"250ms\", \"30s\", \"10m\", \"2h\" or \"1h30m\""
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return .failure(ConfigValueError("the duration is empty; \(help)")) }
        var index = 0, total: Int64 = 0, previousRank = Int.max
        while index < bytes.count {
            let start = index
            while index < bytes.count, Byte.isDigit(bytes[index]) { index += 1 }
            guard index > start, let amount = Int64(String(decoding: bytes[start..<index], as: UTF8.self)) else {
                return .failure(ConfigValueError("\"\(text)\" is not a duration; \(help)"))
            }
            guard let unit = durationUnit(bytes, at: index) else {
                let what = index == bytes.count ? "has no unit" : "has an unknown unit"
                return .failure(ConfigValueError("\"\(text)\" \(what); \(help)"))
            }
            guard unit.rank < previousRank else {
                return .failure(ConfigValueError("\"\(text)\": write each unit once, largest first, e.g. \"1h30m\""))
            }
            let (part, overflow1) = amount.multipliedReportingOverflow(by: unit.millis)
            let (sum, overflow2) = total.addingReportingOverflow(part)
            guard !overflow1, !overflow2, sum <= maxDurationMillis else {
                return .failure(ConfigValueError("\"\(text)\" is too long a duration; at most 36500d (100 years)"))
            }
            total = sum
            previousRank = unit.rank
            index += unit.length
        }
        return .success(total)
    }

    private static func durationUnit(_ bytes: [UInt8], at index: Int) -> (millis: Int64, rank: Int, length: Int)? {
        guard index < bytes.count else { return nil }
        let next = index + 1 < bytes.count ? bytes[index + 1] : 0
        switch bytes[index] {
        case UInt8(ascii: "m") where next == UInt8(ascii: "s"): return (1, 0, 2)
        case UInt8(ascii: "s"): return (1000, 1, 1)
        case UInt8(ascii: "m"): return (60_000, 2, 1)
        case UInt8(ascii: "h"): return (3_600_000, 3, 1)
        case UInt8(ascii: "d"): return (86_400_000, 4, 1)
        default: return nil
        }
    }

    // MARK: Money

    /// Every amount, configured or sent in a postback, is below 10^12 units (10^18 micros): nine of
    /// them still add up within Int64, and no real payout comes near it.
    public static let maxAmountMicros: Int64 = 1_000_000_000_000 * 1_000_000

    /// Parses a decimal amount such as "2.50", "10", "-0.75" or "1.5e2" exactly (never through
    /// floating point) into micros; more than 6 significant decimal places is refused.
    public static func micros(_ text: String) -> Result<Micros, ConfigValueError> {
        guard let number = DecimalText(text) else {
            return .failure(ConfigValueError("\"\(text)\" is not an amount; write a decimal number such as 2.50"))
        }
        var digits = number.digits
        var scale = number.exponent + 6  // value in micros = digits × 10^scale
        if scale < 0 {
            let dropped = min(-scale, digits.count)
            guard digits.suffix(dropped).allSatisfy({ $0 == 0 }) else {
                return .failure(ConfigValueError("\(text) has more than 6 decimal places; amounts are kept in millionths"))
            }
            digits.removeLast(dropped)
            scale = 0
        }
        if digits.allSatisfy({ $0 == 0 }) { return .success(0) }
        digits += repeatElement(0, count: scale)
        var value: Int64 = 0
        for digit in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return .failure(ConfigValueError("\(text) is too large an amount")) }
            value = sum
        }
        return .success(number.isNegative ? -value : value)
    }

    /// A decimal number split into its digits and a power of ten: value = digits × 10^exponent.
    private struct DecimalText {
        var isNegative = false
        var digits: [UInt8] = []
        var exponent = 0

        init?(_ text: String) {
            var rest = Array(text.utf8)[...]
            if let sign = rest.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                isNegative = sign == UInt8(ascii: "-")
                rest = rest.dropFirst()
            }
            let integer = Self.takeDigits(&rest)
            guard !integer.isEmpty else { return nil }
            digits = integer
            if rest.first == UInt8(ascii: ".") {
                rest = rest.dropFirst()
                let fraction = Self.takeDigits(&rest)
                guard !fraction.isEmpty else { return nil }
                digits += fraction
                exponent = -fraction.count
            }
            if let e = rest.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                rest = rest.dropFirst()
                var negative = false
                if let sign = rest.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                    negative = sign == UInt8(ascii: "-")
                    rest = rest.dropFirst()
                }
                let power = Self.takeDigits(&rest)
                guard (1...4).contains(power.count) else { return nil }
                let magnitude = power.reduce(0) { $0 * 10 + Int($1) }
                exponent += negative ? -magnitude : magnitude
            }
            guard rest.isEmpty else { return nil }
        }

        /// Removes leading ASCII digits from `rest`, returning their values.
        static func takeDigits(_ rest: inout ArraySlice<UInt8>) -> [UInt8] {
            let run = rest.prefix(while: Byte.isDigit)
            rest = rest.dropFirst(run.count)
            return run.map { $0 - UInt8(ascii: "0") }
        }
    }

    // MARK: Addresses and networks

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

    // MARK: URL templates

    /// Checks a URL template: an http(s) scheme, a literal host (no macro, blank or control character
    /// before the path), no blanks or control characters anywhere, balanced braces and only `macros`.
    public static func checkURLTemplate(_ text: String, macros: [String]) -> ConfigValueError? {
        let bytes = Array(text.utf8)[...]
        let schemeLength = bytes.starts(with: "https://".utf8) ? 8 : bytes.starts(with: "http://".utf8) ? 7 : 0
        guard schemeLength > 0 else {
            return ConfigValueError("\"\(text)\" must start with http:// or https://")
        }
        if bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return ConfigValueError("\"\(text)\" contains a blank or control character; percent-encode it (a space is %20)")
        }
        let rest = bytes[schemeLength...]
        let authority = rest[..<(rest.firstIndex { "/?#".utf8.contains($0) } ?? rest.endIndex)]
        if let problem = checkAuthority(authority, url: text) { return problem }
        return checkMacros(bytes, url: text, macros: macros)
    }

    private static func checkAuthority(_ authority: ArraySlice<UInt8>, url: String) -> ConfigValueError? {
        let shown = String(decoding: authority, as: UTF8.self)
        if authority.contains(UInt8(ascii: "{")) || authority.contains(UInt8(ascii: "}")) {
            return ConfigValueError("\"\(url)\": the host part \"\(shown)\" must not contain a macro; "
                + "put macros in the path or query so they can never change the host")
        }
        if authority.contains(UInt8(ascii: "@")) {
            return ConfigValueError("\"\(url)\": remove the user info (the part up to @) before the host")
        }
        var host = authority
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else {
                return ConfigValueError("\"\(url)\": the IPv6 host has no closing ]")
            }
            host = authority[...close]
        } else if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
            host = authority[..<colon]
        }
        let port = authority[host.endIndex...]
        if !port.isEmpty, port.first != UInt8(ascii: ":") || !(2...6).contains(port.count) || !port.dropFirst().allSatisfy(Byte.isDigit) {
            return ConfigValueError("\"\(url)\": \"\(shown)\" has an invalid port; write host:port with a number, e.g. 127.0.0.1:9000")
        }
        if host.isEmpty {
            return ConfigValueError("\"\(url)\" has no host; write e.g. https://shop.example/landing")
        }
        return nil
    }

    private static func checkMacros(_ bytes: ArraySlice<UInt8>, url: String, macros: [String]) -> ConfigValueError? {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "}") {
                return ConfigValueError("\"\(url)\" has a } without a matching {; macros look like {click_id}")
            }
            guard bytes[index] == UInt8(ascii: "{") else { index += 1; continue }
            let inner = bytes[(index + 1)...]
            guard let close = inner.firstIndex(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }),
                  bytes[close] == UInt8(ascii: "}") else {
                return ConfigValueError("\"\(url)\" has a { without a matching }; macros look like {click_id}")
            }
            let name = String(decoding: bytes[(index + 1)..<close], as: UTF8.self)
            if !macros.contains(name) { return unknownMacro(name, macros: macros) }
            index = close + 1
        }
        return nil
    }

    private static func unknownMacro(_ name: String, macros: [String]) -> ConfigValueError {
        let known = macros.map { "{\($0)}" }.joined(separator: " ")
        if let guess = closestMatch(to: name, in: macros) {
            return ConfigValueError("unknown macro {\(name)}; did you mean {\(guess)}? Known macros here: \(known)")
        }
        return ConfigValueError("unknown macro {\(name)}; known macros here: \(known)")
    }

    // MARK: Names

    /// Whether `name` is a valid event name: 1-64 characters of A-Z a-z 0-9 _ . -
    public static func isValidEventName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy {
            Byte.isDigit($0) || Byte.isLetter($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    /// The candidate within edit distance 2 of `word` (1 for words under 4 characters) that is
    /// closer than all others, if there is one.
    static func closestMatch(to word: String, in candidates: [String]) -> String? {
        let limit = word.utf8.count < 4 ? 1 : 2
        let scored = candidates.map { ($0, editDistance(Array(word.utf8), Array($0.utf8))) }.filter { $0.1 <= limit }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return scored.count(where: { $0.1 == best.1 }) == 1 ? best.0 : nil
    }

    /// Levenshtein distance between two byte strings.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var row = [i + 1]
            for (j, y) in b.enumerated() {
                row.append(min(previous[j + 1] + 1, row[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = row
        }
        return previous[b.count]
    }

    /// ASCII classes used above.
    private enum Byte {
        static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
        static func isHexDigit(_ c: UInt8) -> Bool {
            isDigit(c) || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "f"))
        }
    }
}
