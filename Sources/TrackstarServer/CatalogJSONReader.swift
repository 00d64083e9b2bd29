// Reads a management API request body into `CatalogValue`s (ApiJSON.swift): strict JSON, nesting
// bounded, `null` only where a merge patch may remove a key. Admin path only: it allocates freely.
import TrackstarConfiguration
import TrackstarCore

/// A JSON body that is not valid, or holds a value TOML cannot (null where not allowed).
struct JSONSyntaxError: Error, Sendable {
    var message: String
}

/// Reads JSON into catalog values. `null` is allowed only as an object member's value when
/// `allowNull` (a JSON merge patch's "remove this key"); it is returned as `nulls`' paths.
struct CatalogJSONReader {
    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses a whole document. With `allowNull` (a JSON merge patch, RFC 7396) a `null` member at any
    /// depth of nested objects is dropped from the value and its path reported in `removed`; a null in
    /// an array, or a whole body of null, has no TOML equivalent and is refused.
    static func parse(_ bytes: [UInt8], allowNull: Bool = false) -> Result<(CatalogValue, removed: [[String]]), JSONSyntaxError> {
        var reader = CatalogJSONReader(bytes)
        do throws(JSONSyntaxError) {
            reader.skipSpace()
            var removed: [[String]] = []
            let value = try reader.value(allowNull: allowNull, removed: &removed, path: [], top: true)
            reader.skipSpace()
            guard reader.index == bytes.count else { throw reader.error("unexpected text after the JSON value") }
            return .success((value ?? .object([]), removed))
        } catch {
            return .failure(error)
        }
    }

    func error(_ what: String) -> JSONSyntaxError { JSONSyntaxError(message: "invalid JSON at byte \(index): \(what)") }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[index]) { index += 1 }
    }

    /// A value; nil for `null` (only where allowed).
    mutating func value(allowNull: Bool, removed: inout [[String]], path: [String], top: Bool = false) throws(JSONSyntaxError) -> CatalogValue? {
        guard index < bytes.count else { throw error("the body ends where a value was expected") }
        depth += 1
        defer { depth -= 1 }
        guard depth < 64 else { throw error("nested more than 64 deep") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(allowNull: allowNull, removed: &removed, path: path)
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            if allowNull && !top { return nil }
            throw error("null has no TOML equivalent; leave the key out instead")
        default: return try number()
        }
    }

    mutating func object(allowNull: Bool, removed: inout [[String]], path: [String]) throws(JSONSyntaxError) -> CatalogValue {
        index += 1
        var pairs: [(String, CatalogValue)] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object([]) }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name in quotes") }
            let key = try string()
            if pairs.contains(where: { $0.0 == key }) { throw error("member \"\(key)\" appears twice") }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after \"\(key)\"") }
            index += 1
            skipSpace()
            if let value = try value(allowNull: allowNull, removed: &removed, path: path + [key]) { pairs.append((key, value)) } else {
                removed.append(path + [key])
            }
            skipSpace()
            guard index < bytes.count else { throw error("the object is not closed") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(pairs) }
            throw error("expected ',' or '}'")
        }
    }

    mutating func array() throws(JSONSyntaxError) -> CatalogValue {
        index += 1
        var items: [CatalogValue] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array([]) }
        while true {
            skipSpace()
            var unused: [[String]] = []
            guard let item = try value(allowNull: false, removed: &unused, path: []) else { throw error("null in an array") }
            items.append(item)
            skipSpace()
            guard index < bytes.count else { throw error("the array is not closed") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            throw error("expected ',' or ']'")
        }
    }

    mutating func literal(_ word: String) throws(JSONSyntaxError) {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else { throw error("unexpected character") }
        index += w.count
    }

    mutating func number() throws(JSONSyntaxError) -> CatalogValue {
        let start = index
        var fraction = false
        while index < bytes.count {
            let b = bytes[index]
            if b >= 0x30 && b <= 0x39 || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") { index += 1; continue }
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { fraction = true; index += 1; continue }
            break
        }
        guard index > start else { throw error("unexpected character") }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if !fraction {
            guard let value = Int64(text), !text.hasPrefix("+") else { throw error("\(text) is not a number that fits 64 bits") }
            return .integer(value)
        }
        guard Double(text) != nil, !text.hasPrefix("+"), !text.hasPrefix("."), !text.hasSuffix("."), !text.contains(".e"), !text.contains(".E")
        else { throw error("\(text) is not a JSON number") }
        return .float(text)
    }

    mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() { scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                flush()
                let text = String(scalars)
                guard String(validating: Array(text.utf8), as: UTF8.self) != nil else { throw error("not UTF-8") }
                return text
            }
            if b < 0x20 { throw error("control character in a string; escape it") }
            if b != UInt8(ascii: "\\") { raw.append(b); index += 1; continue }
            flush()
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{8}")
            case UInt8(ascii: "f"): scalars.append("\u{c}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xd800..<0xdc00).contains(code) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xdc00..<0xe000).contains(low) else { throw error("unpaired surrogate") }
                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                scalars.append(scalar)
            default: throw error("unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        throw error("the string is not closed")
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else {
            throw error("\\u needs four hex digits")
        }
        index += 4
        return code
    }
}
