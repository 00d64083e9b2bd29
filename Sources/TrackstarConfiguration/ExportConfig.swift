// `[export]`: where clicks, conversions and refused postbacks are sent for reporting, and how they
// are batched. The exporter and `trackstar report` both read it; the loader validates it.

import TrackstarCore

/// Which reporting store the exporter writes.
public enum ExportSinkKind: String, Sendable, Equatable, CaseIterable {
    /// Embedded SQLite at `data_dir/report.sqlite` (the default).
    case sqlite
    /// A ClickHouse server over its HTTP interface (`url`, `database`, `user`, `password`).
    case clickhouse
    /// No export: the logs are kept, nothing is reported.
    case none
}

/// `[export]`: the reporting feed.
public struct ExportConfig: Sendable, Equatable {
    /// The reporting store.
    public var sink: ExportSinkKind = .sqlite
    /// A batch is closed when it holds this many rows… (50,000: each SQLite batch also upserts every
    /// roll-up group it touched, ~1,700 groups × 4 levels in the loadtest's campaign mix, so at 10,000
    /// the exporter spent 3.2 µs of CPU a click and at 50,000 1.4; freshness stays bounded by `batch_age`.)
    public var batchRows = 50_000
    /// …or when its oldest row has waited this long.
    public var batchAgeMillis: Int64 = 1000
    /// When the oldest record not yet exported is older than this, the exporter logs a warning (and
    /// says when it has caught up again); `/metrics` shows the lag always.
    public var lagWarningMillis: Int64 = 30_000
    /// ClickHouse: an INSERT's body is sent once it holds this many bytes of rows, so a batch of any
    /// size goes out in bounded inserts from bounded buffers (SQLite ignores it).
    public var batchBytes = 16 << 20
    /// How many exporter threads write to the store, each for its own group of shards (shard % N);
    /// 0 is "auto": one per 4 shards for ClickHouse. SQLite takes one writer, so always 1 there.
    public var exporters = 1
    /// ClickHouse HTTP interface, `http://HOST:PORT` or `https://HOST:PORT` (required when `sink = "clickhouse"`).
    public var url: String? = nil
    /// ClickHouse database the tables are created in.
    public var database = "trackstar"
    /// ClickHouse user, sent with `password` as HTTP basic authentication (none: ClickHouse's `default`).
    public var user: String? = nil
    /// The user's password (only with `user`).
    public var password: String? = nil
    /// PEM file of CA certificates trusted for an `https` url instead of the system's (always verified).
    public var caFile: String? = nil
    public init() {}

    /// `batch_rows` when the config does not give it and the sink is ClickHouse, which wants few
    /// large inserts (each one makes a part to merge); the inserts are cut at `batch_bytes`.
    public static let clickHouseBatchRows = 100_000

    /// The exporter threads to run over `shards` shards: 1 for SQLite (one writer), the configured
    /// number (or one per 4 shards for "auto") for ClickHouse, never more than the shards.
    public func exporterCount(shards: Int) -> Int {
        guard sink == .clickhouse else { return 1 }
        let wanted = exporters == 0 ? (shards + 3) / 4 : exporters
        return max(1, min(wanted, shards))
    }
}

extension ConfigReader {
    /// `exporters`: a whole number from 1 to 64, or "auto".
    mutating func exporterCount(_ node: TOMLNode, _ field: String) -> Int? {
        if case .string(let text) = node.value {
            guard text == "auto" else { report(node.line, "\(field): expected a whole number from 1 to 64 or \"auto\", got \"\(text)\""); return nil }
            return 0
        }
        return integer(node, field, 1...64)
    }

    /// The checks `[export]` needs once all its keys are read: ClickHouse's own batch_rows default,
    /// and one exporter for SQLite.
    mutating func finishExport(_ export: inout ExportConfig, _ table: TOMLTable) {
        if export.sink == .clickhouse && table["batch_rows"] == nil { export.batchRows = ExportConfig.clickHouseBatchRows }
        if export.sink == .sqlite, export.exporters > 1, let node = table["exporters"], !table.isIncomplete {
            report(node.line, "export.exporters: SQLite takes one writer at a time, so more exporters would only wait for each other; "
                + "remove the key (or write 1), or use sink = \"clickhouse\" to export with several")
        }
    }
}

/// A parsed `[export] url`: HTTP or HTTPS to a host and port.
public struct ExportURL: Sendable, Equatable {
    public var host: String
    public var port: UInt16
    /// `https://`: the connection is TLS (certificates checked against the system's CA bundle).
    public var tls = false
    /// The URL requests are made against: scheme, host (IPv6 in brackets) and port, no slash.
    public var base: String { "\(tls ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    public init(host: String, port: UInt16, tls: Bool = false) { self.host = host; self.port = port; self.tls = tls }

    /// Parses `http[s]://HOST[:PORT][/]` (port 8123, or 8443 for https, when omitted; IPv6 in brackets);
    /// says how to write it otherwise.
    public static func parse(_ text: String) -> Result<ExportURL, ConfigValueError> {
        let help = "write the ClickHouse HTTP interface as http://HOST:PORT or https://HOST:PORT, e.g. \"http://127.0.0.1:8123\""
        let tls = text.hasPrefix("https://")
        guard tls || text.hasPrefix("http://") else {
            return .failure(ConfigValueError("\"\(text)\" is not an http:// or https:// URL; \(help)"))
        }
        var rest = Substring(text.dropFirst(tls ? 8 : 7))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else {
            return .failure(ConfigValueError("\"\(text)\": only a host and port are allowed (no path, user or query; "
                + "put the user and password in user and password); \(help)"))
        }
        var host = rest, port: UInt16 = tls ? 8443 : 8123
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let number = UInt16(rest[rest.index(after: colon)...]), number > 0 else {
                return .failure(ConfigValueError("\"\(text)\": the port must be a number from 1 to 65535; \(help)"))
            }
            host = rest[..<colon]
            port = number
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { return .failure(ConfigValueError("\"\(text)\" has no host; \(help)")) }
        return .success(ExportURL(host: String(host), port: port, tls: tls))
    }

    /// Whether `name` can be a ClickHouse database name without quoting: [A-Za-z_][A-Za-z0-9_]*, at most 64.
    public static func isValidDatabase(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, !(first >= 0x30 && first <= 0x39) else { return false }
        return bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x5f }
    }
}
