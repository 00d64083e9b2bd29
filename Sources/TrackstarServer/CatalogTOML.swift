// Writes a catalog document (the whole configuration as `CatalogValue`s) as TOML that `check-config`
// reads back to the same values, remembering which JSON path each line holds so the loader's
// line-numbered problems can be answered with the field they are about.
import TrackstarConfiguration
import TrackstarCore

/// TOML text of a document, with the JSON path written on each line (index 0 is line 1).
struct RenderedTOML: Sendable {
    var text = ""
    /// Path components (object keys, array indexes as decimal) of the key or header on each line.
    var paths: [[String]] = []

    mutating func line(_ text: String, _ path: [String]) {
        self.text += text + "\n"
        paths.append(path)
    }

    /// The path written on a 1-based line, nil when none (line 0, or a blank line).
    func path(ofLine line: Int) -> [String]? {
        guard line >= 1, line <= paths.count else { return nil }
        return paths[line - 1]
    }
}

enum CatalogTOML {
    /// Renders a root object: its plain keys first, then tables, then arrays of tables.
    static func render(_ root: CatalogValue, header: String = "") -> RenderedTOML {
        var out = RenderedTOML()
        if !header.isEmpty {
            for line in header.split(separator: "\n", omittingEmptySubsequences: false) { out.line(String(line), []) }
        }
        guard case .object(let pairs) = root else { return out }
        table(pairs, path: [], tomlPath: "", to: &out)
        return out
    }

    /// Whether a value is written as `[[path]]` sections: a non-empty array of objects only.
    static func isTableArray(_ value: CatalogValue) -> Bool {
        guard case .array(let items) = value, !items.isEmpty else { return false }
        return items.allSatisfy { if case .object = $0 { true } else { false } }
    }

    static func isTable(_ value: CatalogValue) -> Bool {
        if case .object = value { true } else { false }
    }

    /// The body of a table: plain keys, then `[sub]` tables, then `[[sub]]` arrays.
    static func table(_ pairs: [(String, CatalogValue)], path: [String], tomlPath: String, to out: inout RenderedTOML) {
        for (key, value) in pairs where !isTable(value) && !isTableArray(value) {
            out.line("\(TOML.displayKey(key)) = \(inline(value))", path + [key])
        }
        for (key, value) in pairs {
            let childPath = tomlPath.isEmpty ? TOML.displayKey(key) : tomlPath + "." + TOML.displayKey(key)
            if case .object(let inner) = value {
                out.line("", [])
                out.line("[\(childPath)]", path + [key])
                table(inner, path: path + [key], tomlPath: childPath, to: &out)
            } else if isTableArray(value), case .array(let items) = value {
                for (index, item) in items.enumerated() {
                    guard case .object(let inner) = item else { continue }
                    out.line("", [])
                    out.line("[[\(childPath)]]", path + [key, String(index)])
                    table(inner, path: path + [key, String(index)], tomlPath: childPath, to: &out)
                }
            }
        }
    }

    /// A value written on one line: strings quoted, arrays `[…]`, objects `{ … }`.
    static func inline(_ value: CatalogValue) -> String {
        switch value {
        case .string(let s): return quoted(s)
        case .integer(let i): return String(i)
        case .float(let text): return text
        case .bool(let b): return b ? "true" : "false"
        case .array(let items): return "[" + items.map(inline).joined(separator: ", ") + "]"
        case .object(let pairs):
            if pairs.isEmpty { return "{}" }
            return "{ " + pairs.map { "\(TOML.displayKey($0.0)) = \(inline($0.1))" }.joined(separator: ", ") + " }"
        }
    }

    /// A TOML basic string: Core's JSON escaper (`\"`, `\\`, `\u00XX` for control bytes and DEL) writes
    /// exactly the escapes a TOML basic string accepts.
    static func quoted(_ s: String) -> String { JSONText.quoted(s) }
}

extension Array where Element == String {
    /// The path as a JSON Pointer (RFC 6901): `/offers/0/url`.
    var jsonPointer: String {
        isEmpty ? "" : "/" + map { $0.replacingAll("~", "~0").replacingAll("/", "~1") }.joined(separator: "/")
    }
}

extension String {
    func replacingAll(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
