// Structured logging: a swift-log `Logger` whose handler writes one line per event to standard error
// (text or JSON, see LogLine), and `Log`, the facade the rest of the server calls. Nothing here runs on
// the click or postback path; the only loop-side caller (a storage failure) is rate-limited.
import Logging
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

/// The server's log. `configure` once at start-up; until then lines are text at `info`.
public enum Log {
    /// The logger every call goes through (a value: taking it under the lock is cheap).
    static var logger: Logger {
        pthread_mutex_lock(&box.lock)
        defer { pthread_mutex_unlock(&box.lock) }
        return box.logger
    }

    /// Applies `[log]`: level and line format. Safe to call again (a test, a restart in-process).
    public static func configure(_ config: LogConfig) {
        var logger = Logger(label: "trackstar") { label in StderrLogHandler(label: label, format: config.format) }
        logger.logLevel = Logger.Level(config.level)
        pthread_mutex_lock(&box.lock)
        box.logger = logger
        pthread_mutex_unlock(&box.lock)
    }

    public static func trace(_ message: String, _ metadata: Logger.Metadata = [:]) { log(.trace, message, metadata) }
    public static func debug(_ message: String, _ metadata: Logger.Metadata = [:]) { log(.debug, message, metadata) }
    public static func info(_ message: String, _ metadata: Logger.Metadata = [:]) { log(.info, message, metadata) }
    public static func notice(_ message: String, _ metadata: Logger.Metadata = [:]) { log(.notice, message, metadata) }
    public static func warning(_ message: String, _ metadata: Logger.Metadata = [:]) { log(.warning, message, metadata) }
    public static func error(_ message: String, _ metadata: Logger.Metadata = [:]) { log(.error, message, metadata) }
    public static func critical(_ message: String, _ metadata: Logger.Metadata = [:]) { log(.critical, message, metadata) }

    public static func log(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata = [:]) {
        logger.log(level: level, "\(message)", metadata: metadata.isEmpty ? nil : metadata)
    }

    /// The logger and the lock guarding it (the facade is called from the main thread, the loops'
    /// rare error paths and background threads).
    private final class Box: @unchecked Sendable {  // `logger` is guarded by `lock`
        var lock = pthread_mutex_t()
        var logger = Logger(label: "trackstar") { StderrLogHandler(label: $0, format: .text) }
        init() { pthread_mutex_init(&lock, nil) }
    }
    private static let box = Box()
}

extension Logger.Level {
    /// The swift-log level of a configured one (the names are the same).
    init(_ level: LogLevel) { self = Logger.Level(rawValue: level.rawValue) ?? .info }
}

/// Writes each event as one line to file descriptor 2 with a single `write`, so lines from different
/// threads never interleave (each is far below PIPE_BUF in practice, and appends are atomic for files).
struct StderrLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(label: String, format: LogFormat) {
        self.label = label
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let line = LogLine.format(format, millis: WallClock.nowMillis(), level: event.level, label: label,
                                  message: event.message.description, metadata: merged)
        var bytes = line
        bytes.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }  // nowhere to report a failing stderr
                offset += n
            }
        }
    }
}
