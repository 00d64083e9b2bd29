// Allocation-free reading of an application/json postback body: a flat object whose members are strings,
// numbers or null, scanned in place (RFC 8259 syntax, checked strictly), with string escapes decoded into
// caller-provided storage. Anything else (nesting, true/false, bad syntax) stops with a named problem.

/// Why a JSON body is refused; `message` says it in words (for the 400 answer).
public enum JSONProblem: UInt8, Sendable, Error {
    case notAnObject, expectedName, expectedColon, expectedValue, expectedCommaOrEnd, nested, notStringOrNumber
    case badNumber, badEscape, controlCharacter, unterminatedString, trailingText, duplicateName, tooManyMembers

    /// The problem in words.
    public var message: StaticString {
        switch self {
        case .notAnObject: "JSON body: expected an object"
        case .expectedName: "JSON body: expected a member name in double quotes"
        case .expectedColon: "JSON body: expected ':' after the member name"
        case .expectedValue: "JSON body: expected a value"
        case .expectedCommaOrEnd: "JSON body: expected ',' or '}' after a value"
        case .nested: "JSON body: nested objects and arrays are not accepted; send a flat object of strings and numbers"
        case .notStringOrNumber: "JSON body: expected a string, a number or null"
        case .badNumber: "JSON body: invalid number"
        case .badEscape: "JSON body: invalid escape in a string"
        case .controlCharacter: "JSON body: unescaped control character in a string"
        case .unterminatedString: "JSON body: unterminated string"
        case .trailingText: "JSON body: text after the object"
        case .duplicateName: "JSON body: the same member name appears twice"
        case .tooManyMembers: "JSON body: more than 512 members"
        }
    }
}

/// One member of the object: raw ranges relative to the scanned buffer (strings without their quotes).
public struct JSONMember: Sendable, Equatable {
    /// What the value is. A number keeps its literal text (`12.50` stays `12.50`).
    public enum Kind: UInt8, Sendable { case string, number, null }
    public var name: ByteRange
    /// True when the name holds a backslash escape (decode it with `JSONString.decode`).
    public var nameEscaped: Bool
    /// The string's bytes between the quotes, the number's literal, or empty for null.
    public var value: ByteRange
    /// True when a string value holds a backslash escape.
    public var valueEscaped: Bool
    public var kind: Kind
}

/// Yields the members of the flat JSON object filling `range` of a buffer, one per `next()`, after checking
/// each one's syntax. Whitespace around the object is allowed; anything after it is `.trailingText`.
public struct JSONObjectScanner {
    private let bytes: UnsafeRawBufferPointer
    private let start: Int
    private let end: Int
    private var pos: Int
    /// 0: before '{'; 1: inside, a member read; 2: after '}'.
    private var state: UInt8 = 0
    private var first = true

    /// Scans `range` of `buffer` (a request body as the parser reports it).
    public init(_ buffer: UnsafeRawBufferPointer, range: ByteRange) {
        bytes = buffer
        start = Int(range.start)
        end = Int(range.end)
        pos = start
    }

    /// Where scanning stands (after a thrown problem: where it was found), counted from the body's start.
    public var offset: Int { pos - start }

    /// The next member, nil after the closing '}', or the first problem found.
    public mutating func next() throws(JSONProblem) -> JSONMember? {
        if state == 2 { return nil }
        skipWhitespace()
        if state == 0 {
            guard pos < end, bytes[pos] == UInt8(ascii: "{") else { throw .notAnObject }
            pos += 1
            state = 1
            skipWhitespace()
        }
        if pos < end, bytes[pos] == UInt8(ascii: "}"), first {
            return try close()
        }
        if !first {
            guard pos < end else { throw .expectedCommaOrEnd }
            if bytes[pos] == UInt8(ascii: "}") { return try close() }
            guard bytes[pos] == .comma else { throw .expectedCommaOrEnd }
            pos += 1
            skipWhitespace()
        }
        first = false
        guard pos < end, bytes[pos] == UInt8(ascii: "\"") else { throw .expectedName }
        let (name, nameEscaped) = try string()
        skipWhitespace()
        guard pos < end, bytes[pos] == .colon else { throw .expectedColon }
        pos += 1
        skipWhitespace()
        guard pos < end else { throw .expectedValue }
        switch bytes[pos] {
        case UInt8(ascii: "\""):
            let (value, escaped) = try string()
            return JSONMember(name: name, nameEscaped: nameEscaped, value: value, valueEscaped: escaped, kind: .string)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONMember(name: name, nameEscaped: nameEscaped, value: try number(), valueEscaped: false, kind: .number)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            throw .nested
        case UInt8(ascii: "n"):
            guard literal("null") else { throw .notStringOrNumber }
            return JSONMember(name: name, nameEscaped: nameEscaped, value: ByteRange(pos, pos), valueEscaped: false, kind: .null)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            throw .notStringOrNumber
        default:
            throw .expectedValue
        }
    }

    /// Consumes the closing '}' and checks that only whitespace follows.
    private mutating func close() throws(JSONProblem) -> JSONMember? {
        pos += 1
        skipWhitespace()
        guard pos == end else { throw .trailingText }
        state = 2
        return nil
    }

    private mutating func skipWhitespace() {
        while pos < end {
            let b = bytes[pos]
            guard b == .space || b == .tab || b == .lf || b == .cr else { return }
            pos += 1
        }
    }

    /// Consumes `word` when it is next and ends at a delimiter.
    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard end - pos >= n, ASCII.equals(bytes, pos, pos + n, word) else { return false }
        guard pos + n == end || JSONObjectScanner.isDelimiter(bytes[pos + n]) else { return false }
        pos += n
        return true
    }

    private static func isDelimiter(_ b: UInt8) -> Bool {
        b == .comma || b == UInt8(ascii: "}") || b == .space || b == .tab || b == .lf || b == .cr
    }

    /// A string at `pos` (on its opening quote): its bytes between the quotes and whether it holds escapes.
    private mutating func string() throws(JSONProblem) -> (ByteRange, Bool) {
        pos += 1
        let contentStart = pos
        var escaped = false
        while true {
            guard pos < end else { throw .unterminatedString }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") { break }
            guard b >= .space else { throw .controlCharacter }
            if b == UInt8(ascii: "\\") {
                escaped = true
                try escape()
            } else {
                pos += 1
            }
        }
        let range = ByteRange(contentStart, pos)
        pos += 1
        return (range, escaped)
    }

    /// Checks the escape at `pos` (on its backslash); a `\u` high surrogate must be followed by a low one.
    private mutating func escape() throws(JSONProblem) {
        guard pos + 1 < end else { throw .unterminatedString }
        switch bytes[pos + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            pos += 2
        case UInt8(ascii: "u"):
            guard let unit = JSONString.unit(bytes, pos, end) else { throw .badEscape }
            pos += 6
            if unit & 0xFC00 == 0xDC00 { throw .badEscape }
            if unit & 0xFC00 == 0xD800 {
                guard let low = JSONString.unit(bytes, pos, end), low & 0xFC00 == 0xDC00 else { throw .badEscape }
                pos += 6
            }
        default:
            throw .badEscape
        }
    }

    /// A number at `pos`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, ending at a delimiter.
    private mutating func number() throws(JSONProblem) -> ByteRange {
        let numberStart = pos
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < end, isDigit(bytes[pos]) else { throw .badNumber }
        if bytes[pos] == .digitZero { pos += 1 } else { skipDigits() }
        if pos < end, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard pos < end, isDigit(bytes[pos]) else { throw .badNumber }
            skipDigits()
        }
        if pos < end, bytes[pos] | 0x20 == UInt8(ascii: "e") {
            pos += 1
            if pos < end, bytes[pos] == .plus || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < end, isDigit(bytes[pos]) else { throw .badNumber }
            skipDigits()
        }
        guard pos == end || JSONObjectScanner.isDelimiter(bytes[pos]) else { throw .badNumber }
        return ByteRange(numberStart, pos)
    }

    @inline(__always) private func isDigit(_ b: UInt8) -> Bool { b &- .digitZero < 10 }
    private mutating func skipDigits() { while pos < end, isDigit(bytes[pos]) { pos += 1 } }
}

/// The member names of one JSON body, by fingerprint, to refuse a repeated name: an open-addressing
/// table of `slotCount` fingerprints and the list of slots used (cleared by `removeAll`), in memory
/// allocated once per loop.
public struct JSONNameSet {
    /// Most names one body may have (`.tooManyMembers` beyond).
    public static var maxMembers: Int { 512 }
    static var slotCount: Int { 1024 }
    /// Slots (UInt64, 0 = free), then the used slot indices (UInt16), then the count (Int).
    private let storage: UnsafeMutableRawPointer

    private var slots: UnsafeMutablePointer<UInt64> { storage.assumingMemoryBound(to: UInt64.self) }
    private var used: UnsafeMutablePointer<UInt16> { (storage + 8 * JSONNameSet.slotCount).assumingMemoryBound(to: UInt16.self) }
    private var countPointer: UnsafeMutablePointer<Int> {
        (storage + 8 * JSONNameSet.slotCount + 2 * JSONNameSet.maxMembers).assumingMemoryBound(to: Int.self)
    }

    /// Allocates an empty set (free it with `deallocate`).
    public init() {
        let bytes = 8 * JSONNameSet.slotCount + 2 * JSONNameSet.maxMembers + 8
        storage = .allocate(byteCount: bytes, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    public func deallocate() { storage.deallocate() }

    /// Empties the set (only the slots used are touched).
    public func removeAll() {
        for k in 0..<countPointer.pointee { slots[Int(used[k])] = 0 }
        countPointer.pointee = 0
    }

    /// Adds `fingerprint`: nil when added, else the problem (already present, or the set is full).
    public func insert(_ fingerprint: UInt64) -> JSONProblem? {
        let key = fingerprint | 1
        var i = Int(truncatingIfNeeded: fingerprint >> 32) & (JSONNameSet.slotCount - 1)
        while slots[i] != 0 {
            if slots[i] == key { return .duplicateName }
            i = (i + 1) & (JSONNameSet.slotCount - 1)
        }
        let count = countPointer.pointee
        guard count < JSONNameSet.maxMembers else { return .tooManyMembers }
        slots[i] = key
        used[count] = UInt16(i)
        countPointer.pointee = count + 1
        return nil
    }
}
