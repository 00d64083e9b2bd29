// A strict reader of the Prometheus text exposition format (0.0.4) for tests: every line must be a
// comment, a HELP/TYPE line or a well-formed sample, and label values may hold only the escapes the
// format defines (\\, \", \n). /metrics output that a scraper would reject fails here.

/// One sample line, label values unescaped.
public struct PrometheusSample: Equatable, Sendable {
    public var name: String
    public var labels: [String: String]
    public var value: Double
}

/// Why a line did not parse: its number (from 1) and text.
public struct PrometheusParseError: Error, CustomStringConvertible {
    public var line: Int
    public var text: String
    public var description: String { "line \(line) is not valid exposition text: \(text)" }
}

public enum PrometheusExposition {
    /// The samples of `text`, or the first line that is not valid.
    public static func parse(_ text: String) throws(PrometheusParseError) -> [PrometheusSample] {
        var samples: [PrometheusSample] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let sample = sample(Array(line.unicodeScalars)) else { throw PrometheusParseError(line: i + 1, text: String(line)) }
            samples.append(sample)
        }
        return samples
    }

    static func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c == ":" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
    static func isNamePart(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || ("0"..."9").contains(c) }

    static func sample(_ s: [Unicode.Scalar]) -> PrometheusSample? {
        var i = 0
        func name(labelName: Bool) -> String? {
            guard i < s.count, isNameStart(s[i]), !(labelName && s[i] == ":") else { return nil }
            var out = ""
            while i < s.count, isNamePart(s[i]) { out.unicodeScalars.append(s[i]); i += 1 }
            return out
        }
        guard let metric = name(labelName: false) else { return nil }
        var labels: [String: String] = [:]
        if i < s.count, s[i] == "{" {
            i += 1
            while i < s.count, s[i] != "}" {
                guard let key = name(labelName: true), i + 1 < s.count, s[i] == "=", s[i + 1] == "\"" else { return nil }
                i += 2
                var value = ""
                while true {
                    guard i < s.count else { return nil }
                    let c = s[i]; i += 1
                    if c == "\"" { break }
                    if c == "\\" {
                        guard i < s.count else { return nil }
                        switch s[i] {
                        case "\\": value += "\\"
                        case "\"": value += "\""
                        case "n": value += "\n"
                        default: return nil
                        }
                        i += 1
                    } else {
                        value.unicodeScalars.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: key) == nil else { return nil }
                if i < s.count, s[i] == "," { i += 1 } else { guard i < s.count, s[i] == "}" else { return nil } }
            }
            guard i < s.count else { return nil }
            i += 1
        }
        guard i < s.count, s[i] == " " else { return nil }
        let rest = String(String.UnicodeScalarView(s[(i + 1)...])).split(separator: " ")
        guard (1...2).contains(rest.count) else { return nil }
        let value: Double
        switch rest[0] {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let v = Double(rest[0]), v.isFinite else { return nil }
            value = v
        }
        if rest.count == 2, Int64(rest[1]) == nil { return nil }
        return PrometheusSample(name: metric, labels: labels, value: value)
    }
}
