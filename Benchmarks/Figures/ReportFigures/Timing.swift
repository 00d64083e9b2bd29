// Report figures' printing and timing: the mix's shares, each report's wall and CPU time (best and
// worst of 3) and the load average, so figures taken on a loaded machine say how loaded it was.
import TrackstarExport
#if canImport(Glibc)
import Glibc
#endif

func printCounts(_ counts: MixCounts, clicks: Int, days: Int) {
    func percent(_ n: Int) -> String { String(Double(n * 1000 / max(clicks, 1)) / 10) + " %" }
    print("mix: \(percent(counts.diverted)) diverted, \(percent(counts.linked)) through smart links; hourly groups \(counts.hourlyGroups) "
          + "(\(counts.hourlyGroups / max(days * 24, 1)) an hour), without reason and smart link in the key \(counts.hourlyPairs)")
}

/// CPU time of the process (the report runs on this thread; SQLite starts none).
func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func timeReport(_ name: String, _ request: ReportRequest, _ backend: ReportBackend) throws {
    var best = Double.infinity, worst = 0.0, bestCPU = Double.infinity, worstCPU = 0.0
    var result: ReportResult?
    for _ in 0..<3 {
        let t = nowSeconds(), c = cpuSeconds()
        result = try Reporter.run(request, on: backend)
        let elapsed = nowSeconds() - t, cpu = cpuSeconds() - c
        best = min(best, elapsed); worst = max(worst, elapsed)
        bestCPU = min(bestCPU, cpu); worstCPU = max(worstCPU, cpu)
    }
    let r = result!
    print("\(name.padding(42))  rows \(String(r.rows.count).padding(6))  clicks \(r.totals.clicks)  conversions \(r.totals.conversions)  "
          + "best \(Int(best * 1000)) ms  worst \(Int(worst * 1000)) ms  cpu \(Int(bestCPU * 1000))–\(Int(worstCPU * 1000)) ms"
          + (r.note.map { "  [\($0.prefix(60))]" } ?? ""))
}

func loadAverage() -> String {
    var loads = [Double](repeating: 0, count: 3)
    return getloadavg(&loads, 3) == 3 ? loads.map { String(Double(Int($0 * 100)) / 100) }.joined(separator: " ") : "?"
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
