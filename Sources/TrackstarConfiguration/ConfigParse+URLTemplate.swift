// URL templates in a config: an http(s) scheme, a literal host, no blanks or control characters,
// balanced braces and only the macros the setting allows; the message names the first fault.

import TrackstarCore

extension ConfigParse {
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
}
