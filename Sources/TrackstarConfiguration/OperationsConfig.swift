// `[log]` and `[admin]`: how the node reports on itself — log level, line format and the interval of
// refusal summaries — and the operator-only listener: where it binds, and the API's bearer tokens.

import TrackstarCore

/// Severity of a log line, least to most severe; the names are swift-log's.
public enum LogLevel: String, Sendable, Equatable, CaseIterable, Comparable {
    case trace, debug, info, notice, warning, error, critical

    public static func < (a: LogLevel, b: LogLevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// How each log line is written.
public enum LogFormat: String, Sendable, Equatable, CaseIterable {
    /// `TIME LEVEL trackstar: message key=value …` (logfmt-style metadata, quoted when needed).
    case text
    /// One JSON object per line: `ts`, `level`, `msg` and the metadata keys.
    case json
}

/// `[log]`: what is written to standard error.
public struct LogConfig: Sendable, Equatable {
    /// Lines below this level are dropped.
    public var level: LogLevel = .info
    public var format: LogFormat = .text
    /// Refused postbacks and bad requests are summarised once per interval, one line per class.
    public var summaryIntervalMillis: Int64 = 10_000
    public init() {}
}

/// `[admin]`: the operator-only listener (/metrics, /healthz, /readyz, the management API and the
/// console). On by default on loopback; `listen = "off"` turns it off.
public struct AdminConfig: Sendable, Equatable {
    /// The default address: loopback only, so nothing operator-facing is reachable from outside.
    public static let defaultHost = "127.0.0.1"
    public static let defaultPort: UInt16 = 9091
    /// Numeric host (IPv6 without brackets) and port; nil when no admin listener is wanted.
    public var host: String? = AdminConfig.defaultHost
    public var port: UInt16 = AdminConfig.defaultPort
    /// `public_metrics = true`: the public port serves /metrics too (off: it answers 404).
    public var publicMetrics = false
    /// `[[admin.tokens]]`: who may use the management API, and as what.
    public var tokens: [AdminToken] = []
    public init() {}

    /// Whether an admin listener is configured.
    public var isEnabled: Bool { host != nil }
}

/// What a bearer token may do through the management API.
public enum AdminRole: String, Sendable, Equatable, CaseIterable {
    /// Everything, tokens included.
    case admin
    /// Read and change the catalog.
    case editor
    /// Read only.
    case viewer
}

/// `[[admin.tokens]]`: a named bearer token, kept as the hex of its SHA-256 (the token itself is never stored).
public struct AdminToken: Sendable, Equatable {
    public var name: String
    /// 64 lowercase hex digits.
    public var sha256: String
    public var role: AdminRole
    public init(name: String, sha256: String, role: AdminRole) { self.name = name; self.sha256 = sha256; self.role = role }
}
