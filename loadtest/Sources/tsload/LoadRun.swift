// One load run from the main thread's side: start the workers, open the window after the warm-up,
// sample the server's /proc figures at both ends of it, join the workers and merge what they measured.
import CUV
#if canImport(Glibc)
import Glibc
#endif

/// Runs `plan` and turns the workers' statistics into a report.
struct LoadRun {
    let plan: LoadPlan
    let serverPIDs: [Int32]
    let label: String?

    func execute() -> RunReport {
        let clock = RunClock()
        let barrier = Barrier(parties: plan.threads + 1)
        let workers = (0..<plan.threads).map { Worker(index: $0, plan: plan, clock: clock, barrier: barrier) }
        for worker in workers { worker.start() }
        barrier.wait()  // every connection open, every ID pool minted
        let pids = ProcReader.withChildren(serverPIDs)
        let before = ProcReader.sample(pids)
        clock.start = uv_hrtime()
        clock.windowStart = clock.start + UInt64(plan.warmupSeconds * 1e9)
        clock.windowEnd = clock.windowStart + UInt64(plan.durationSeconds * 1e9)
        barrier.wait()
        sleep(until: clock.windowStart)
        let server0 = ProcReader.sample(pids), self0 = ProcReader.sample([getpid()])
        sleep(until: clock.windowEnd)
        let server1 = ProcReader.sample(pids), self1 = ProcReader.sample([getpid()])
        var stats = WorkerStats()
        for worker in workers {
            worker.join()
            stats.merge(worker.stats)
        }
        let settled = ProcReader.settle(pids)
        var result = report(stats, seconds: plan.durationSeconds, pids: pids, server: (before, server0, server1), generator: (self0, self1))
        if !pids.isEmpty {
            result.server?.cpuMicrosPerRequestSettled = microsPerRequest(settled.sample.cpuTicks &- server0.cpuTicks, result.requests)
            result.server?.settleSeconds = settled.seconds
        }
        return result
    }

    /// Builds the report from the merged statistics and the /proc samples.
    func report(_ stats: WorkerStats, seconds: Double, pids: [Int32], server: (ProcessSample, ProcessSample, ProcessSample),
                generator: (ProcessSample, ProcessSample)) -> RunReport {
        var all = makeHistogram()
        var kinds: [KindReport] = []
        for kind in RequestKind.allCases {
            let s = stats.kinds[kind.rawValue]
            guard s.completed + s.errors + s.unfinished > 0 else { continue }
            all.add(s.latency)
            kinds.append(KindReport(kind: kind.name, requests: s.completed, perSecond: Double(s.completed) / seconds,
                                    unexpected: s.unexpected, errors: s.errors, unfinished: s.unfinished,
                                    statuses: statusCounts(s), latency: LatencySummary(s.latency)))
        }
        let requests = kinds.reduce(0) { $0 + $1.requests }
        return RunReport(
            label: label, target: plan.hostHeader, scenario: plan.scenario.rawValue, mode: plan.openLoop ? "open" : "closed",
            rate: plan.rate, threads: plan.threads, connections: plan.connections, pipeline: plan.pipeline,
            windowSeconds: seconds, requests: requests, perSecond: Double(requests) / seconds,
            unexpected: kinds.reduce(0) { $0 + $1.unexpected }, errors: kinds.reduce(0) { $0 + $1.errors },
            unfinished: kinds.reduce(0) { $0 + $1.unfinished }, latency: LatencySummary(all),
            sendLag: plan.openLoop ? LatencySummary(stats.sendLag) : nil, kinds: kinds, minted: stats.mintedTotal,
            reconnects: stats.reconnects, malformedResponses: stats.malformedResponses,
            server: serverReport(pids: pids, before: server.0, server.1, server.2, requests: requests),
            generatorCPUMicrosPerRequest: microsPerRequest(generator.1.cpuTicks - generator.0.cpuTicks, requests))
    }

    func statusCounts(_ stats: KindStats) -> [String: UInt64] {
        var counts: [String: UInt64] = [:]
        for (status, count) in stats.statuses.enumerated() where count > 0 { counts[String(status)] = count }
        return counts
    }

    /// CPU over the window; RSS before the run (warm-up and minting included), at the window's start and end.
    func serverReport(pids: [Int32], before: ProcessSample, _ start: ProcessSample, _ end: ProcessSample,
                      requests: UInt64) -> ServerReport? {
        guard !pids.isEmpty else { return nil }
        let ticks = end.cpuTicks &- start.cpuTicks
        return ServerReport(pids: pids, cpuSeconds: Double(ticks) / ProcReader.ticksPerSecond,
                            cpuMicrosPerRequest: microsPerRequest(ticks, requests), rssKBBeforeRun: before.rssKB,
                            rssKBStart: start.rssKB, rssKBEnd: end.rssKB)
    }

    func microsPerRequest(_ ticks: UInt64, _ requests: UInt64) -> Double {
        requests == 0 ? 0 : Double(ticks) / ProcReader.ticksPerSecond * 1e6 / Double(requests)
    }
}
