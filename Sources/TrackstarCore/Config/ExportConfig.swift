// `[export]`: where clicks, conversions and refused postbacks are sent for reporting, and how they
// are batched. The exporter and `trackstar report` both read it; the loader validates it.

/// Which reporting store the exporter writes.
public enum ExportSinkKind: String, Sendable, Equatable, CaseIterable {
    /// Embedded SQLite at `data_dir/report.sqlite` (the default).
    case sqlite
    /// A ClickHouse server over its HTTP interface (`url`, `database`).
    case clickhouse
    /// No export: the logs are kept, nothing is reported.
    case none
}

/// `[export]`: the reporting feed.
public struct ExportConfig: Sendable, Equatable {
    /// The reporting store.
    public var sink: ExportSinkKind = .sqlite
    /// A batch is closed when it holds this many rows…
    public var batchRows = 10_000
    /// …or when its oldest row has waited this long.
    public var batchAgeMillis: Int64 = 1000
    /// ClickHouse HTTP interface, `http://HOST:PORT` (required when `sink = "clickhouse"`).
    public var url: String? = nil
    /// ClickHouse database the tables are created in.
    public var database = "trackstar"
    public init() {}
}

/// A parsed `[export] url`: plain HTTP to a host and port.
public struct ExportURL: Sendable, Equatable {
    public var host: String
    public var port: UInt16
    /// Parses `http://HOST[:PORT][/]` (port 8123 when omitted; IPv6 in brackets); says how to write it otherwise.
    public static func parse(_ text: String) -> Result<ExportURL, ConfigValueError> {
        let help = "write the ClickHouse HTTP interface as http://HOST:PORT, e.g. \"http://127.0.0.1:8123\""
        guard text.hasPrefix("http://") else {
            let why = text.hasPrefix("https://") ? "https is not supported (put a local TLS proxy in front)" : "\"\(text)\" is not an http:// URL"
            return .failure(ConfigValueError("\(why); \(help)"))
        }
        var rest = Substring(text.dropFirst(7))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else {
            return .failure(ConfigValueError("\"\(text)\": only a host and port are allowed (no path, user or query); \(help)"))
        }
        var host = rest, port: UInt16 = 8123
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let number = UInt16(rest[rest.index(after: colon)...]), number > 0 else {
                return .failure(ConfigValueError("\"\(text)\": the port must be a number from 1 to 65535; \(help)"))
            }
            host = rest[..<colon]
            port = number
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { return .failure(ConfigValueError("\"\(text)\" has no host; \(help)")) }
        return .success(ExportURL(host: String(host), port: port))
    }

    /// Whether `name` can be a ClickHouse database name without quoting: [A-Za-z_][A-Za-z0-9_]*, at most 64.
    public static func isValidDatabase(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, !(first >= 0x30 && first <= 0x39) else { return false }
        return bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x5f }
    }
}
