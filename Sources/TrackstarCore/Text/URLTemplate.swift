// URL templates such as `https://shop.example/l?cid={click_id}`, compiled once from configuration into
// literal runs and macro slots, then rendered per request into a ByteWriter with every value
// percent-encoded, so no value can add a header line or move the target to another host.

/// Macros a landing-page or partner-postback template may use.
public enum Macro: UInt8, Sendable, CaseIterable {
    case clickID, offerID, affID, sub1, sub2, sub3, sub4, sub5, affClickID, source, timestamp
    case conversionID, event, payout, revenue, currency, status, txid, amount
    /// The click's enrichment: country code, device type, OS family, browser family.
    case country, device, os, browser

    /// The name written between braces in a template.
    public var name: String {
        switch self {
        case .clickID: "click_id"
        case .offerID: "offer_id"
        case .affID: "aff_id"
        case .sub1: "sub1"
        case .sub2: "sub2"
        case .sub3: "sub3"
        case .sub4: "sub4"
        case .sub5: "sub5"
        case .affClickID: "aff_click_id"
        case .source: "source"
        case .timestamp: "timestamp"
        case .conversionID: "conversion_id"
        case .event: "event"
        case .payout: "payout"
        case .revenue: "revenue"
        case .currency: "currency"
        case .status: "status"
        case .txid: "txid"
        case .amount: "amount"
        case .country: "country"
        case .device: "device"
        case .os: "os"
        case .browser: "browser"
        }
    }

    /// Macros a click's landing URL may use.
    public static let clickMacros: [Macro] = [
        .clickID, .offerID, .affID, .sub1, .sub2, .sub3, .sub4, .sub5, .affClickID, .source, .timestamp,
        .country, .device, .os, .browser,
    ]

    /// Macros an affiliate's postback URL may use: every one.
    public static let postbackMacros: [Macro] = Macro.allCases
}

/// A compiled template: literal byte runs interleaved with macro slots.
public struct URLTemplate: Sendable, Equatable {
    /// One step of rendering: a run of `literal` bytes, or a macro to substitute.
    public enum Part: Sendable, Equatable {
        case literal(start: Int, count: Int)
        case macro(Macro)
    }
    public let parts: [Part]
    public let literal: [UInt8]
    /// The template as written, for messages.
    public let source: String

    /// Errors a template can have; the config loader reports them with the line.
    public enum CompileError: Error, Equatable, CustomStringConvertible {
        case unknownMacro(String)
        case unbalancedBrace
        case notAllowed(String)
        public var description: String {
            switch self {
            case .unknownMacro(let name): "unknown macro {\(name)}"
            case .unbalancedBrace: "unbalanced '{' or '}'"
            case .notAllowed(let name): "macro {\(name)} is not available here"
            }
        }
    }

    /// Compiles `source`, accepting only the macros in `allowed`.
    public init(_ source: String, allowed: [Macro] = Macro.allCases) throws(CompileError) {
        var parts: [Part] = []
        var literal: [UInt8] = []
        var runStart = 0
        var bytes = Array(source.utf8)[...]
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: "}") { throw .unbalancedBrace }
            guard byte == UInt8(ascii: "{") else { literal.append(byte); continue }
            guard let close = bytes.firstIndex(of: UInt8(ascii: "}")) else { throw .unbalancedBrace }
            let name = String(decoding: bytes[..<close], as: UTF8.self)
            guard let macro = Macro.allCases.first(where: { $0.name == name }) else { throw .unknownMacro(name) }
            guard allowed.contains(macro) else { throw .notAllowed(name) }
            if literal.count > runStart { parts.append(.literal(start: runStart, count: literal.count - runStart)) }
            parts.append(.macro(macro))
            runStart = literal.count
            bytes = bytes[(close + 1)...]
        }
        if literal.count > runStart { parts.append(.literal(start: runStart, count: literal.count - runStart)) }
        self.parts = parts
        self.literal = literal
        self.source = source
    }

    /// Renders the template; `value` writes one macro's (already encoded) value into the writer.
    /// Generic rather than a closure existential so the call is specialised and allocates nothing.
    @inlinable
    public func render<Values: MacroValues>(into writer: inout ByteWriter, values: Values) {
        literal.withUnsafeBytes { lit in
            for part in parts {
                switch part {
                case .literal(let start, let count):
                    writer.append(UnsafeRawBufferPointer(rebasing: lit[start..<(start + count)]))
                case .macro(let macro):
                    values.write(macro, into: &writer)
                }
            }
        }
    }
}

/// Supplies macro values while a template renders; implementations percent-encode what they write.
public protocol MacroValues {
    func write(_ macro: Macro, into writer: inout ByteWriter)
}
