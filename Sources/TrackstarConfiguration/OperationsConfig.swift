// `[log]` and `[admin]`: how the node reports on itself — log level, line format and the interval of
// refusal summaries — and where the operator-only listener (/metrics, /healthz, /readyz) binds.

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

/// `[admin]`: the operator-only listener. Without `listen`, /metrics stays on the public listener.
public struct AdminConfig: Sendable, Equatable {
    /// Numeric host (IPv6 without brackets) and port; nil when no admin listener is wanted.
    public var host: String? = nil
    public var port: UInt16 = 0
    public init() {}

    /// Whether an admin listener is configured.
    public var isEnabled: Bool { host != nil }
}
