// CPU time and resident memory of the server under test (and of tsload itself), read from /proc:
// utime + stime from /proc/PID/stat in clock ticks, VmRSS from /proc/PID/status.
#if canImport(Glibc)
import Glibc
#endif

/// One reading of a set of processes.
struct ProcessSample {
    /// utime + stime over all the processes, in clock ticks (all threads included).
    var cpuTicks: UInt64 = 0
    var rssKB: UInt64 = 0
}

enum ProcReader {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The given processes and their children (nginx: the master and its workers).
    static func withChildren(_ pids: [Int32]) -> [Int32] {
        var all: [Int32] = []
        for pid in pids where !all.contains(pid) {
            all.append(pid)
            let children = readFile("/proc/\(pid)/task/\(pid)/children") ?? ""
            for child in children.split(separator: " ").compactMap({ Int32($0) }) where !all.contains(child) { all.append(child) }
        }
        return all
    }

    /// Waits until `pids` are idle: two 250 ms intervals in a row in which they used at most one tick
    /// (at most 30 s). Returns the last sample and the seconds waited.
    static func settle(_ pids: [Int32]) -> (sample: ProcessSample, seconds: Double) {
        var last = sample(pids), quiet = 0, waited = 0.0
        while quiet < 2 && waited < 30 {
            usleep(250_000)
            waited += 0.25
            let now = sample(pids)
            quiet = now.cpuTicks &- last.cpuTicks <= 1 ? quiet + 1 : 0
            last = now
        }
        return (last, waited)
    }

    /// CPU ticks and RSS summed over `pids`; a process that is gone counts nothing.
    static func sample(_ pids: [Int32]) -> ProcessSample {
        var sample = ProcessSample()
        for pid in pids {
            sample.cpuTicks += cpuTicks(pid)
            sample.rssKB += rssKB(pid)
        }
        return sample
    }

    /// Fields 14 and 15 of /proc/PID/stat (counted after the parenthesised command name, which may hold spaces).
    static func cpuTicks(_ pid: Int32) -> UInt64 {
        guard let text = readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return 0 }
        return user + system
    }

    /// VmRSS from /proc/PID/status, in KiB.
    static func rssKB(_ pid: Int32) -> UInt64 {
        guard let text = readFile("/proc/\(pid)/status") else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return UInt64(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
        }
        return 0
    }

    /// A small file's contents, or nil.
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
