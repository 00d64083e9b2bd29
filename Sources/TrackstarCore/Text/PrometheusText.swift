// The one writer of the Prometheus text exposition format (0.0.4) for /metrics: `# HELP` and
// `# TYPE` lines, samples, and label values escaped as the format asks (backslash, double quote and
// line feed), so an endpoint or any other value taken from configuration cannot break a line.

/// Builds Prometheus text: use an instance to collect a whole exposition, or the static functions
/// for single lines.
public struct PrometheusText {
    /// The text so far.
    public private(set) var text = ""

    public init() {}

    /// Appends the `# HELP` and `# TYPE` lines of a metric.
    public mutating func header(_ name: String, type: String, help: String) {
        text += PrometheusText.header(name, type: type, help: help)
    }

    /// Appends one sample; `labels` as made by `labels(_:)`, or empty.
    public mutating func sample(_ name: String, labels: String = "", _ value: some BinaryInteger) {
        text += PrometheusText.sample(name, labels: labels, value)
    }

    /// Appends a metric: its header and one sample per (labels, value).
    public mutating func metric<Value: BinaryInteger>(_ name: String, type: String, help: String, _ samples: [(labels: String, value: Value)]) {
        header(name, type: type, help: help)
        for (labels, value) in samples { sample(name, labels: labels, value) }
    }

    // MARK: Lines

    /// `# HELP name help\n# TYPE name type\n`, the help text escaped (backslash, line feed).
    public static func header(_ name: String, type: String, help: String) -> String {
        "# HELP \(name) \(escaped(help, quotes: false))\n# TYPE \(name) \(type)\n"
    }

    /// `name{labels} value\n` (no braces without labels).
    public static func sample(_ name: String, labels: String = "", _ value: some BinaryInteger) -> String {
        line(name, labels, String(value))
    }

    /// A sample with a floating-point value (`+Inf`, `-Inf` and `NaN` spelled as the format has them).
    public static func sample(_ name: String, labels: String = "", _ value: Double) -> String {
        line(name, labels, number(value))
    }

    static func line(_ name: String, _ labels: String, _ value: String) -> String {
        labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n"
    }

    /// A float as the format writes it.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        return String(value)
    }

    // MARK: Labels

    /// `a="x",b="y"` with every value escaped.
    public static func labels(_ pairs: KeyValuePairs<String, String>) -> String {
        pairs.map { label($0.key, $0.value) }.joined(separator: ",")
    }

    /// `name="value"` with the value escaped.
    public static func label(_ name: String, _ value: String) -> String {
        "\(name)=\"\(escaped(value, quotes: true))\""
    }

    /// A label value (`quotes`) or help text escaped: `\` → `\\`, line feed → `\n`, and in label
    /// values `"` → `\"`.
    public static func escaped(_ text: String, quotes: Bool) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") || (quotes && $0 == UInt8(ascii: "\"")) })
        else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
