// A partner postback URL template: literal runs and macros, `{name}` percent-encoded or
// `{raw:name}` passed through as the value's bytes (for partners whose ids are already encoded),
// except the bytes that would change the URL's structure.
// Rendered on the dispatcher thread, never on a request path.
import TrackstarCore

/// A compiled postback URL template.
public struct PartnerTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case literal([UInt8])
        case macro(Macro, raw: Bool)
    }
    let parts: [Part]
    /// `scheme://host:port` of the URL (macros never appear before the path, so this is fixed).
    public let endpoint: String
    public let source: String

    /// Compiles a template the config loader has already checked; nil if it is not a usable URL.
    public init?(_ source: String) {
        var parts: [Part] = []
        var literal: [UInt8] = []
        var bytes = Array(source.utf8)[...]
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            guard byte == UInt8(ascii: "{") else { literal.append(byte); continue }
            guard let close = bytes.firstIndex(of: UInt8(ascii: "}")) else { return nil }
            var name = String(decoding: bytes[..<close], as: UTF8.self)
            let raw = name.hasPrefix("raw:")
            if raw { name.removeFirst(4) }
            guard let macro = Macro.allCases.first(where: { $0.name == name }) else { return nil }
            if !literal.isEmpty { parts.append(.literal(literal)); literal = [] }
            parts.append(.macro(macro, raw: raw))
            bytes = bytes[(close + 1)...]
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        guard let endpoint = PartnerTemplate.endpoint(of: source) else { return nil }
        self.parts = parts
        self.endpoint = endpoint
        self.source = source
    }

    /// `scheme://host:port` with the scheme's default port filled in.
    public static func endpoint(of url: String) -> String? {
        let https = url.hasPrefix("https://")
        guard https || url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(https ? 8 : 7)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty else { return nil }
        let hasPort: Bool
        if authority.hasPrefix("[") { hasPort = authority.contains("]:") } else { hasPort = authority.contains(":") }
        return (https ? "https://" : "http://") + authority.lowercased() + (hasPort ? "" : (https ? ":443" : ":80"))
    }

    /// The URL with every macro replaced by `value(macro)`'s bytes, encoded as the template asks.
    public func render(_ value: (Macro) -> [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        for part in parts {
            switch part {
            case .literal(let bytes): out.append(contentsOf: bytes)
            case .macro(let macro, let raw): PartnerTemplate.append(value(macro), raw: raw, to: &out)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `value` encoded with ByteWriter's percent-encoder: every byte but RFC 3986's unreserved ones,
    /// or for `raw`, only what would change the URL's structure (see `ByteWriter.appendRawURLValue`).
    static func append(_ value: [UInt8], raw: Bool, to out: inout [UInt8]) {
        guard !value.isEmpty else { return }
        let encoded = [UInt8](unsafeUninitializedCapacity: value.count * 3) { buffer, count in
            var writer = ByteWriter(base: UnsafeMutableRawPointer(buffer.baseAddress!), capacity: buffer.count)
            value.withUnsafeBytes { raw ? writer.appendRawURLValue($0) : writer.appendPercentEncoded($0) }
            count = writer.count
        }
        out.append(contentsOf: encoded)
    }

    /// Money in millionths as a decimal with at least two places: 2500000 → "2.50", 1234567 → "1.234567".
    public static func money(_ micros: Int64) -> String { MoneyText.decimal(micros, minimumFractionDigits: 2) }
}
