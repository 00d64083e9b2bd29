// Start-up and operational messages, one line each on standard error, with a UTC timestamp.
#if canImport(Glibc)
import Glibc
#endif

/// Minimal line logger (off the request path, or rate-limited by its callers).
enum Log {
    static func error(_ message: String) { write("error", message) }
    static func info(_ message: String) { write("info", message) }

    static func write(_ level: String, _ message: String) {
        let line = "trackstar \(level): \(message)\n"
        _ = line.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
    }
}
