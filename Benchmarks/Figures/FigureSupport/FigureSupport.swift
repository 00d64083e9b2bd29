// What every figure program reads and prints: the monotonic clock, the process's resident memory
// (/proc/self/statm, /proc/self/status; any /proc/self field) and numbers with a fixed count of decimals. One copy for
// the programs under Figures/ (each used to carry its own).
#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on the monotonic clock.
public func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Seconds on the monotonic clock.
public func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The process's resident bytes (the second field of /proc/self/statm, in pages).
public func rssBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { s in withUnsafeMutablePointer(to: &resident) { r in
        withVaList([s, r]) { vfscanf(file, "%ld %ld", $0) } } }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// The number on the `field:` line of /proc/self/`name`, in that file's unit (0 if there is none).
public func procSelfField(_ name: String, _ field: String) -> Int {
    guard let file = fopen("/proc/self/" + name, "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix(field + ":") { return Int(text.filter(\.isNumber)) ?? 0 }
    }
    return 0
}

/// A line of /proc/self/status in bytes (`RssAnon`, `VmRSS`: kB there).
public func statusBytes(_ field: String) -> Int { procSelfField("status", field) * 1024 }

/// `value` with `digits` decimals (none and no point when 0), without Foundation.
public func fixed(_ value: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    if digits == 0 { return String(scaled) }
    let whole = String(scaled / Int(scale)), fraction = String(scaled % Int(scale))
    return whole + "." + String(repeating: "0", count: digits - fraction.count) + fraction
}

/// Bytes as MiB with one decimal.
public func mib(_ bytes: Int) -> String { fixed(Double(bytes) / 1_048_576, 1) + " MiB" }
