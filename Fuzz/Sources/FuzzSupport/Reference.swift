// Reference models the harnesses compare Trackstar's allocation-free code against: deliberately
// simple, array-based and obviously correct, so any disagreement is a bug in one of the two.

/// Stops the run with `message` when `condition` is false; libFuzzer records the input as a crash.
@inline(__always)
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        fatalError("invariant violated: \(message())", file: file, line: line)
    }
}

/// Printable form of bytes for failure messages (non-printable bytes as \xNN).
public func show<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    var out = ""
    for b in bytes.prefix(200) {
        if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") { out.unicodeScalars.append(Unicode.Scalar(b)) }
        else { out += "\\x" + String(b, radix: 16).leftPadded(2) }
    }
    return bytes.count > 200 ? out + "…" : out
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

public enum Reference {
    /// The value of a hex digit, either case, or nil.
    public static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// application/x-www-form-urlencoded decoding: %XX and '+' → space; nil for a '%' not followed by two hex digits.
    public static func percentDecode(_ input: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            let b = input[i]
            if b == UInt8(ascii: "+") {
                out.append(0x20); i += 1
            } else if b == UInt8(ascii: "%") {
                guard i + 2 < input.count, let h = hex(input[i + 1]), let l = hex(input[i + 2]) else { return nil }
                out.append(h << 4 | l); i += 3
            } else {
                out.append(b); i += 1
            }
        }
        return out
    }

    /// `name=value` pairs separated by '&', empty pairs skipped, split at the first '='; offsets are
    /// absolute (`base` is the offset of `bytes[0]`). A pair without '=' has an empty value at its end.
    public static func pairs(_ bytes: [UInt8], base: Int) -> [(name: Range<Int>, value: Range<Int>)] {
        var result: [(name: Range<Int>, value: Range<Int>)] = []
        var start = 0
        func emit(_ end: Int) {
            guard end > start else { return }
            if let eq = bytes[start..<end].firstIndex(of: UInt8(ascii: "=")) {
                result.append(((base + start)..<(base + eq), (base + eq + 1)..<(base + end)))
            } else {
                result.append(((base + start)..<(base + end), (base + end)..<(base + end)))
            }
        }
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "&") {
            emit(i)
            start = i + 1
        }
        emit(bytes.count)
        return result
    }

    /// Crockford base32 digit value (case-insensitive, I/L → 1, O → 0) or nil.
    public static func crockford(_ b: UInt8) -> UInt8? {
        var c = b
        if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { c -= 0x20 }
        if c == UInt8(ascii: "I") || c == UInt8(ascii: "L") { return 1 }
        if c == UInt8(ascii: "O") { return 0 }
        return crockfordAlphabet.firstIndex(of: c).map { UInt8($0) }
    }

    public static let crockfordAlphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
}

/// RFC 3986 reg-name bytes (unreserved, sub-delims, '%').
let regName = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%".utf8))

extension Reference {
    /// A Host header value (RFC 9110 §7.2, RFC 3986 §3.2.2) as Trackstar accepts it: empty; or a
    /// reg-name / IPv4 (unreserved, sub-delims, `%XX`) or a non-empty `[…]` of hex digits, ':', '.',
    /// and the reg-name bytes; then optionally ':' and at most five digits with a value up to 65535.
    public static func isValidHost(_ b: [UInt8]) -> Bool {
        if b.isEmpty { return true }
        var i = 0
        if b[0] == UInt8(ascii: "[") {
            guard let close = b.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            guard b[1..<close].allSatisfy({ regName.contains($0) || $0 == UInt8(ascii: ":") }) else { return false }
            i = close + 1
        } else {
            let end = b.firstIndex(of: UInt8(ascii: ":")) ?? b.count
            var k = 0
            while k < end {
                guard regName.contains(b[k]) else { return false }
                if b[k] == UInt8(ascii: "%") {
                    guard k + 2 < end, hex(b[k + 1]) != nil, hex(b[k + 2]) != nil else { return false }
                    k += 2
                }
                k += 1
            }
            i = end
        }
        if i == b.count { return true }
        guard b[i] == UInt8(ascii: ":") else { return false }
        let port = b[(i + 1)...]
        guard port.count <= 5, port.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        return port.reduce(0) { $0 * 10 + Int($1) - 48 } <= 65535
    }
}
