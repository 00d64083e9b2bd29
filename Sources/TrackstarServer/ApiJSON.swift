// The management API's object model: `CatalogValue` is a JSON value that maps 1:1 onto a TOML value
// (object ↔ table, array ↔ array, integer ↔ integer, a number with a fraction ↔ float kept as its text),
// and its JSON writer (the reader: CatalogJSONReader.swift). Admin path only: it allocates freely.
import TrackstarConfiguration
import TrackstarCore

/// A catalog value: what a TOML file and a JSON body can both say. Objects keep their key order.
indirect enum CatalogValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    /// A number with a fraction or exponent, kept as written so amounts stay exact.
    case float(String)
    case bool(Bool)
    case array([CatalogValue])
    case object([(String, CatalogValue)])

    static func == (a: CatalogValue, b: CatalogValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.float(let x), .float(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The value under `key` of an object.
    subscript(key: String) -> CatalogValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    /// An object with `key` set to `value` (appended when new), or removed when `value` is nil.
    func setting(_ key: String, _ value: CatalogValue?) -> CatalogValue {
        guard case .object(var pairs) = self else { return self }
        if let index = pairs.firstIndex(where: { $0.0 == key }) {
            if let value { pairs[index].1 = value } else { pairs.remove(at: index) }
        } else if let value {
            pairs.append((key, value))
        }
        return .object(pairs)
    }

    /// The object without the member at `path` (nested object keys); unchanged when it is not there.
    func removing(_ path: ArraySlice<String>) -> CatalogValue {
        guard let first = path.first else { return self }
        if path.count == 1 { return setting(first, nil) }
        guard let child = self[first], case .object = child else { return self }
        return setting(first, child.removing(path.dropFirst()))
    }

    /// The TOML node's value as a catalog value (a TOML float keeps its source text).
    init(_ value: TOMLValue) {
        switch value {
        case .string(let s): self = .string(s)
        case .integer(let i): self = .integer(i)
        case .float(_, let text): self = .float(text)
        case .boolean(let b): self = .bool(b)
        case .array(let items): self = .array(items.map { CatalogValue($0.value) })
        case .table(let table): self = .object(table.entries.map { ($0.key, CatalogValue($0.node.value)) })
        }
    }

    /// A short text for list filters: strings as they are, numbers and booleans as written.
    var filterText: String? {
        switch self {
        case .string(let s): s
        case .integer(let i): String(i)
        case .float(let t): t
        case .bool(let b): b ? "true" : "false"
        default: nil
        }
    }
}

// MARK: - JSON writing

extension CatalogValue {
    /// Compact JSON text.
    var json: String {
        var out = ""
        CatalogValue.write(self, to: &out)
        return out
    }

    static func write(_ value: CatalogValue, to out: inout String) {
        switch value {
        case .string(let s): writeString(s, to: &out)
        case .integer(let i): out += String(i)
        case .float(let text): out += jsonNumber(text)
        case .bool(let b): out += b ? "true" : "false"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                write(item, to: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (i, pair) in pairs.enumerated() {
                if i > 0 { out += "," }
                writeString(pair.0, to: &out)
                out += ":"
                write(pair.1, to: &out)
            }
            out += "}"
        }
    }

    /// A TOML float's text as a JSON number: `+` and a leading `.` are not JSON; inf and nan become strings.
    static func jsonNumber(_ text: String) -> String {
        var t = text.hasPrefix("+") ? String(text.dropFirst()) : text
        if t.contains("inf") || t.contains("nan") { return "\"\(t)\"" }
        if t.hasPrefix(".") { t = "0" + t } else if t.hasPrefix("-.") { t = "-0" + t.dropFirst() }
        return t
    }

    /// A JSON string literal: Core's one escaper (ByteWriter's, through JSONText).
    static func writeString(_ s: String, to out: inout String) { JSONText.appendQuoted(s, to: &out) }
}
