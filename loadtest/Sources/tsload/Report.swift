// The result of one run, as JSON for the comparison harness and as a short table for people.
import Histogram
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Latency percentiles in microseconds.
struct LatencySummary: Codable {
    var p50, p90, p99, p999, max: Double

    init(_ histogram: Histogram<UInt64>) {
        func micros(_ nanos: UInt64) -> Double { (Double(nanos) / 100).rounded() / 10 }
        guard histogram.totalCount > 0 else { p50 = 0; p90 = 0; p99 = 0; p999 = 0; max = 0; return }
        p50 = micros(histogram.valueAtPercentile(50))
        p90 = micros(histogram.valueAtPercentile(90))
        p99 = micros(histogram.valueAtPercentile(99))
        p999 = micros(histogram.valueAtPercentile(99.9))
        max = micros(histogram.max)
    }
}

/// One request kind's share of the run.
struct KindReport: Codable {
    var kind: String
    var requests: UInt64
    var perSecond: Double
    var unexpected: UInt64
    var errors: UInt64
    var unfinished: UInt64
    /// Status code → count ("0" for a code outside 100–599).
    var statuses: [String: UInt64]
    var latency: LatencySummary
}

/// What the server process(es) spent in the window.
struct ServerReport: Codable {
    var pids: [Int32]
    var cpuSeconds: Double
    var cpuMicrosPerRequest: Double
    /// CPU from the window's start until the server was idle again after it (deferred work such as
    /// the exporter's and the dispatcher's catch-up included), per request of the window.
    var cpuMicrosPerRequestSettled: Double?
    /// How long after the window the server took to go idle.
    var settleSeconds: Double?
    /// Before the warm-up (and any minting): the run's clicks all land between this and `rssKBEnd`.
    var rssKBBeforeRun: UInt64
    var rssKBStart: UInt64
    var rssKBEnd: UInt64
}

/// Everything one run measured.
struct RunReport: Codable {
    var label: String?
    var target: String
    var scenario: String
    /// "closed" or "open".
    var mode: String
    var rate: Double?
    var threads: Int
    var connections: Int
    var pipeline: Int
    var windowSeconds: Double
    var requests: UInt64
    var perSecond: Double
    var unexpected: UInt64
    var errors: UInt64
    var unfinished: UInt64
    var latency: LatencySummary
    /// Open loop: how late requests left against their intended time (the generator's own lag).
    var sendLag: LatencySummary?
    var kinds: [KindReport]
    /// Clicks answered with a click ID during the whole run (minting and warm-up included).
    var minted: UInt64
    var reconnects: UInt64
    var malformedResponses: UInt64
    var server: ServerReport?
    var generatorCPUMicrosPerRequest: Double

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder = JSONDecoder()

    /// One line of JSON.
    var json: String { String(decoding: (try? Self.encoder.encode(self)) ?? Data(), as: UTF8.self) }

    /// A short table for people.
    var text: String {
        var lines = [header]
        lines.append(pad("kind", 18) + pad("req/s", 11, right: true) + latencyColumns(nil) + "  statuses")
        for kind in kinds { lines.append(row(kind)) }
        if kinds.count > 1 {
            lines.append(pad("all", 18) + pad(fixed(perSecond, 1), 11, right: true) + latencyColumns(latency))
        }
        if let sendLag { lines.append("send lag µs (generator): p50 \(fixed(sendLag.p50, 1)) p99 \(fixed(sendLag.p99, 1)) max \(fixed(sendLag.max, 1))") }
        if let server { lines.append(serverLine(server)) }
        lines.append("generator: \(fixed(generatorCPUMicrosPerRequest, 2)) CPU µs/request; minted \(minted); unexpected \(unexpected), "
            + "errors \(errors), unfinished \(unfinished), reconnects \(reconnects), malformed \(malformedResponses)")
        return lines.joined(separator: "\n")
    }

    /// CPU per request, RSS and its growth over the run, per click stored when clicks were minted.
    func serverLine(_ server: ServerReport) -> String {
        let growthKB = Int64(server.rssKBEnd) - Int64(server.rssKBBeforeRun)
        let perClick = minted > 0 ? ", \(fixed(Double(growthKB) * 1024 / Double(minted), 0)) B per click stored" : ""
        return "server: \(fixed(server.cpuMicrosPerRequest, 2)) CPU µs/request, RSS \(server.rssKBEnd) KiB (+\(growthKB) KiB "
            + "in the run\(perClick)); pids \(server.pids.map(String.init).joined(separator: ","))"
    }

    var header: String {
        let how = mode == "open" ? "open loop at \(fixed(rate ?? 0, 0)) req/s" : "closed loop"
        return "tsload \(label.map { "[\($0)] " } ?? "")\(scenario), \(how), \(connections) connections on \(threads) thread(s), "
            + "pipeline \(pipeline), \(fixed(windowSeconds, 1)) s against \(target): \(requests) requests, \(fixed(perSecond, 1))/s"
    }

    func row(_ kind: KindReport) -> String {
        let statuses = kind.statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
        var extra = ""
        if kind.unexpected > 0 { extra += " unexpected \(kind.unexpected)" }
        if kind.errors > 0 { extra += " errors \(kind.errors)" }
        if kind.unfinished > 0 { extra += " unfinished \(kind.unfinished)" }
        return pad(kind.kind, 18) + pad(fixed(kind.perSecond, 1), 11, right: true) + latencyColumns(kind.latency) + "  " + statuses + extra
    }

    /// p50 … max columns, or their headings.
    func latencyColumns(_ latency: LatencySummary?) -> String {
        guard let latency else { return ["p50 µs", "p90", "p99", "p99.9", "max"].map { pad($0, 10, right: true) }.joined() }
        return [latency.p50, latency.p90, latency.p99, latency.p999, latency.max].map { pad(fixed($0, 1), 10, right: true) }.joined()
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale), fraction = Int(scaled) - whole * Int(scale)
    var text = (value < 0 && scaled > 0 ? "-" : "") + String(whole)
    if digits > 0 {
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
    }
    return text
}

/// `text` padded with spaces to `width` (on the left when `right`).
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}
