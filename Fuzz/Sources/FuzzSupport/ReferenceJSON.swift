// The reference model of a flat JSON object body (RFC 8259 syntax; values strings, numbers or null),
// array-based and obviously correct, for comparing with TrackstarHTTP's in-place scanner.

public enum ReferenceJSON {
    public enum Kind: Equatable { case string, number, null }

    /// One member, its name and string value decoded (a number as its literal text, null as empty).
    public struct Member: Equatable {
        public var name: [UInt8]
        public var value: [UInt8]
        public var kind: Kind
    }

    /// The members read before the first problem, and whether the whole text is a valid flat object.
    /// As the server does, a number or null must end at a delimiter (whitespace, ',' or '}') to count
    /// as a member, so a member is never cut out of `12abc`.
    public static func flatObject(_ b: [UInt8]) -> (members: [Member], valid: Bool) {
        var members: [Member] = []
        var i = 0
        func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }
        func at(_ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue! }
        func hex4() -> UInt32? {
            guard i + 4 <= b.count else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 { guard let h = Reference.hex(b[i + k]) else { return nil }; v = v << 4 | UInt32(h) }
            i += 4
            return v
        }
        func string() -> [UInt8]? {
            guard at("\"") else { return nil }
            i += 1
            var out: [UInt8] = []
            while i < b.count {
                let c = b[i]
                if c == 0x22 { i += 1; return out }
                if c < 0x20 { return nil }
                if c != 0x5C { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case 0x22, 0x5C, 0x2F: out.append(e)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    guard var v = hex4() else { return nil }
                    if v >= 0xDC00 && v < 0xE000 { return nil }
                    if v >= 0xD800 && v < 0xDC00 {
                        guard i + 1 < b.count, b[i] == 0x5C, b[i + 1] == UInt8(ascii: "u") else { return nil }
                        i += 2
                        guard let low = hex4(), low >= 0xDC00 && low < 0xE000 else { return nil }
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out += Array(String(Character(Unicode.Scalar(v)!)).utf8)
                default: return nil
                }
            }
            return nil
        }
        func digits() -> Bool {
            let s = i
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
            return i > s
        }
        func delimited() -> Bool { i == b.count || [0x20, 0x09, 0x0A, 0x0D, 0x2C, 0x7D].contains(b[i]) }
        func number() -> [UInt8]? {
            let s = i
            if at("-") { i += 1 }
            if at("0") { i += 1 } else { guard i < b.count, b[i] >= 0x31 && b[i] <= 0x39, digits() else { return nil } }
            if at(".") { i += 1; guard digits() else { return nil } }
            if at("e") || at("E") {
                i += 1
                if at("+") || at("-") { i += 1 }
                guard digits() else { return nil }
            }
            return delimited() ? Array(b[s..<i]) : nil
        }
        ws()
        guard at("{") else { return (members, false) }
        i += 1
        ws()
        if at("}") {
            i += 1; ws()
            return (members, i == b.count)
        }
        while true {
            ws()
            guard let name = string() else { return (members, false) }
            ws()
            guard at(":") else { return (members, false) }
            i += 1
            ws()
            if at("\"") {
                guard let value = string() else { return (members, false) }
                members.append(Member(name: name, value: value, kind: .string))
            } else if at("n") {
                guard i + 4 <= b.count, Array(b[i..<(i + 4)]) == Array("null".utf8) else { return (members, false) }
                i += 4
                guard delimited() else { return (members, false) }
                members.append(Member(name: name, value: [], kind: .null))
            } else {
                guard let value = number() else { return (members, false) }
                members.append(Member(name: name, value: value, kind: .number))
            }
            ws()
            if at(",") { i += 1; continue }
            guard at("}") else { return (members, false) }
            i += 1
            ws()
            return (members, i == b.count)
        }
    }
}
