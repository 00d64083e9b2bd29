// One generator thread: its own libuv loop, its share of the connections, the open-loop pacer, the
// IDs it minted and the statistics it keeps. The main thread reads those only after joining it.
import CUV
#if canImport(Glibc)
import Glibc
#endif

enum Phase { case setup, measure, stopping }

/// A worker. Invariant: everything but `start`/`join` runs on its own thread; the main thread reads
/// `stats` only after `join`.
final class Worker: @unchecked Sendable {
    let index: Int
    let plan: LoadPlan
    let clock: RunClock
    let barrier: Barrier
    let loop: UnsafeMutablePointer<uv_loop_t> = .allocate(capacity: 1)
    let stopTimer: UnsafeMutablePointer<uv_timer_t> = .allocate(capacity: 1)
    var address = sockaddr_in()
    var connections: [ClientConnection] = []
    var pacer: Pacer?
    var factory: RequestFactory
    var random: FastRandom
    var ids = IDStore()
    var stats = WorkerStats()
    var phase = Phase.setup
    /// Requests a connection may have in flight: deeper while minting IDs, `--pipeline` when measuring.
    var depth: Int
    let intervalNanos: UInt64
    let mintTarget: Int
    var opened = 0
    var inFlight = 0
    var mintAnswers = 0
    var postbackCursor = 0
    var windowStart: UInt64 = .max
    var windowEnd: UInt64 = .max
    var thread = pthread_t()

    init(index: Int, plan: LoadPlan, clock: RunClock, barrier: Barrier) {
        self.index = index
        self.plan = plan
        self.clock = clock
        self.barrier = barrier
        random = FastRandom(seed: plan.seed &+ UInt64(index) &* 0x1000_0000_01B3)
        factory = RequestFactory(worker: index, runID: plan.runID, host: plan.hostHeader, campaign: plan.campaign,
                                 closeEach: plan.closeEach, random: &random)
        intervalNanos = UInt64(plan.intervalNanos)
        let share = plan.connections(forWorker: index)
        mintTarget = plan.scenario == .postbacks ? plan.pool * share / plan.connections : 0
        depth = plan.scenario == .postbacks ? max(plan.pipeline, 16) : plan.pipeline
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Runs the worker on its own thread.
    func start() {
        pthread_create(&thread, nil, { argument in
            Unmanaged<Worker>.fromOpaque(argument!).takeUnretainedValue().main()
            return nil
        }, opaque)
    }

    func join() { pthread_join(thread, nil) }

    /// Setup (connect, mint), meet the main thread twice, then measure until the window closes.
    func main() {
        _ = cuv_set_timer_slack(1_000)
        setUp()
        uv_run(loop, UV_RUN_DEFAULT)
        barrier.wait()
        barrier.wait()
        windowStart = clock.windowStart
        windowEnd = clock.windowEnd
        beginMeasuring()
        uv_run(loop, UV_RUN_DEFAULT)
        uv_loop_close(loop)
    }

    /// Creates the loop and this worker's connections and starts connecting them.
    func setUp() {
        uv_loop_init(loop)
        uv_timer_init(loop, stopTimer)
        stopTimer.pointee.data = opaque
        guard uv_ip4_addr(plan.host, plan.port, &address) == 0 else { fail("not a numeric IPv4 address: \(plan.host)") }
        let capacity = max(depth, plan.pipeline)
        connections = (0..<plan.connections(forWorker: index)).map { _ in ClientConnection(worker: self, depth: capacity) }
        for connection in connections { reconnect(connection, counted: false) }
    }

    /// Connects (or reconnects) `connection` to the target.
    func reconnect(_ connection: ClientConnection, counted: Bool = true) {
        if counted { stats.reconnects += 1 }
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connection.connect(to: $0) }
        }
    }

    func connectionOpened(_ connection: ClientConnection) {
        opened += 1
        connection.fill(now: uv_hrtime())
        if phase == .setup { checkSetupDone() }
    }

    func connectFailed(_ status: Int32) {
        fail("cannot connect to \(plan.hostHeader): \(String(cString: uv_strerror(status)))")
    }

    /// Setup ends once every connection is open and, for `postbacks`, the ID pool is minted.
    func checkSetupDone() {
        if plan.scenario == .postbacks && mintAnswers > 2 * mintTarget + 10_000 && ids.count < mintTarget {
            fail("minting: the server answered \(mintAnswers) clicks but returned only \(ids.count) click IDs")
        }
        guard opened == connections.count else { return }
        guard plan.scenario != .postbacks || (ids.count >= mintTarget && inFlight == 0) else { return }
        uv_stop(loop)
    }

    /// Starts the measured run: the schedule, the pacer (open loop), the stop timer, the first requests.
    func beginMeasuring() {
        phase = .measure
        depth = plan.pipeline
        if plan.openLoop { startSchedule() }
        armStopTimer()
        let now = uv_hrtime()
        for connection in connections { connection.fill(now: now) }
    }

    /// Open loop: connection j of the whole run starts j/connections of an interval after the start, so
    /// intended send times are spread evenly.
    func startSchedule() {
        for (j, connection) in connections.enumerated() {
            let global = j * plan.threads + index
            connection.nextIntended = clock.start + UInt64(Double(global) / Double(plan.connections) * plan.intervalNanos)
        }
        let pacer = Pacer(worker: self)
        pacer.start(at: clock.start, period: plan.tickNanos)
        self.pacer = pacer
    }

    /// Fires a little after the window closes (libuv timers count whole milliseconds).
    func armStopTimer() {
        uv_update_time(loop)
        let now = uv_hrtime()
        let millis = windowEnd > now ? (windowEnd - now) / 1_000_000 + 2 : 1
        uv_timer_start(stopTimer, { timer in
            Unmanaged<Worker>.fromOpaque(timer!.pointee.data).takeUnretainedValue().stop()
        }, millis, 0)
    }

    /// Open loop: send what is due on every connection.
    func pace(now: UInt64) {
        for connection in connections where connection.nextIntended <= now { connection.fill(now: now) }
    }

    /// The next request for `connection`, written into its output; nil when there is none to send now.
    func writeNext(for connection: ClientConnection) -> (RequestKind, Int32)? {
        switch phase {
        case .stopping:
            return nil
        case .setup:
            guard plan.scenario == .postbacks, ids.count + inFlight < mintTarget else { return nil }
            return (.click, factory.writeClick(to: &connection.out))
        case .measure:
            switch plan.scenario {
            case .clicks: return (.click, factory.writeClick(to: &connection.out))
            case .forged: factory.writeForgedFromPool(to: &connection.out); return (.forged, 0)
            case .postbacks: return writePoolPostback(connection)
            case .flood:
                guard let pending = connection.pending.pop() else { return (.click, factory.writeClick(to: &connection.out)) }
                writePending(pending, connection)
                return (pending.kind, pending.slot)
            }
        }
    }

    /// `postbacks`: one valid postback per minted ID, then repeats of them once the pool is used up.
    func writePoolPostback(_ connection: ClientConnection) -> (RequestKind, Int32)? {
        guard ids.count > 0 else { return nil }
        let slot = postbackCursor % ids.count
        let kind: RequestKind = postbackCursor < ids.count ? .postbackValid : .postbackRepeat
        postbackCursor += 1
        factory.writePostback(ids, slot: slot, conflict: false, to: &connection.out)
        return (kind, Int32(slot))
    }

    func writePending(_ pending: PendingPostback, _ connection: ClientConnection) {
        let slot = Int(pending.slot)
        switch pending.kind {
        case .postbackValid, .postbackRepeat: factory.writePostback(ids, slot: slot, conflict: false, to: &connection.out)
        case .postbackConflict: factory.writePostback(ids, slot: slot, conflict: true, to: &connection.out)
        case .forged: factory.writeForged(ids, slot: slot, random: &random, to: &connection.out)
        case .mangled: factory.writeMangled(ids, slot: slot, random: &random, to: &connection.out)
        case .macro: factory.writeMacro(to: &connection.out)
        case .click: break
        }
    }

    /// A request left: count it in flight; open loop, record how late it left against its schedule.
    @inline(__always)
    func sent(intended: UInt64, now: UInt64) {
        inFlight += 1
        if plan.openLoop && intended >= windowStart && intended < windowEnd {
            _ = stats.sendLag.record(min(max(now &- intended, 1_000), 60_000_000_000))
        }
    }

    /// A response arrived for `request`: keep the minted ID if needed, record it if inside the window.
    @inline(__always)
    func answered(_ connection: ClientConnection, _ request: InFlight, status: Int, id: UnsafeRawPointer?, now: UInt64) {
        inFlight -= 1
        if request.kind == .click && status == 302, let id {
            stats.mintedTotal += 1
            minted(connection, id: id, offer: request.info)
        }
        if now >= windowStart {
            if now < windowEnd {
                stats.record(request.kind, status: status, latency: now - request.intended)
            } else if plan.openLoop && request.intended < windowEnd {
                stats.recordUnfinished(request.kind, age: windowEnd - request.intended)
            }
        }
        if phase == .setup { mintAnswers += 1; checkSetupDone() }
    }

    /// A click minted `id`: keep it for the postback pool, or plan its flood follow-ups.
    func minted(_ connection: ClientConnection, id: UnsafeRawPointer, offer: Int32) {
        if phase == .setup && plan.scenario == .postbacks {
            _ = ids.add(id, offer: offer)
        } else if phase == .measure && plan.scenario == .flood {
            planFollowUps(connection, id: id, offer: offer)
        }
    }

    /// Flood: for `--postback-share` of minted IDs a valid postback, some repeated and some followed by
    /// a conflicting second conversion; and, in proportion, forged, mangled and macro postbacks. They
    /// go on the connection that minted the ID, so a repeat never overtakes its first postback.
    func planFollowUps(_ connection: ClientConnection, id: UnsafeRawPointer, offer: Int32) {
        let share = plan.postbackShare
        var slot: Int32 = -1
        func stored() -> Int32 {
            if slot < 0 { slot = Int32(ids.add(id, offer: offer)) }
            return slot
        }
        if random.chance(share) {
            connection.pending.push(PendingPostback(kind: .postbackValid, slot: stored()))
            if random.chance(FloodMix.repeatShare) { connection.pending.push(PendingPostback(kind: .postbackRepeat, slot: stored())) }
            if random.chance(FloodMix.conflictShare) { connection.pending.push(PendingPostback(kind: .postbackConflict, slot: stored())) }
        }
        if random.chance(share * FloodMix.forgedShare) { connection.pending.push(PendingPostback(kind: .forged, slot: stored())) }
        if random.chance(share * FloodMix.mangledShare) { connection.pending.push(PendingPostback(kind: .mangled, slot: stored())) }
        if random.chance(share * FloodMix.macroShare) { connection.pending.push(PendingPostback(kind: .macro, slot: 0)) }
    }

    /// `connection` failed: what it had in flight is lost (counted as errors inside the window).
    func lost(_ connection: ClientConnection) {
        if connection.open { opened -= 1 }
        let now = uv_hrtime()
        while connection.ring.count > 0 {
            let request = connection.ring.pop()
            inFlight -= 1
            if now >= windowStart && now < windowEnd { stats.kinds[request.kind.rawValue].errors += 1 }
        }
    }

    /// The window closed: record what is still owed (open loop), then close every handle so `uv_run` returns.
    func stop() {
        let now = uv_hrtime()
        if now < windowEnd {  // a millisecond timer fired early
            uv_timer_start(stopTimer, { timer in
                Unmanaged<Worker>.fromOpaque(timer!.pointee.data).takeUnretainedValue().stop()
            }, 1, 0)
            return
        }
        if plan.openLoop { recordOwed() }
        phase = .stopping
        for connection in connections { connection.close() }
        pacer?.close()
        uv_close(UnsafeMutableRawPointer(stopTimer).assumingMemoryBound(to: uv_handle_t.self), nil)
    }

    /// Open loop: every request due before the window closed and not answered by then is recorded at
    /// its age when the window closed, whether it was on the wire or still waiting for a free slot.
    func recordOwed() {
        let scheduledKind: RequestKind = switch plan.scenario {
        case .clicks, .flood: .click
        case .forged: .forged
        case .postbacks: .postbackValid
        }
        for connection in connections {
            var ring = connection.ring
            while ring.count > 0 {
                let request = ring.pop()
                if request.intended < windowEnd { stats.recordUnfinished(request.kind, age: windowEnd - request.intended) }
            }
            var due = connection.nextIntended
            while due < windowEnd {
                stats.recordUnfinished(scheduledKind, age: windowEnd - due)
                due += max(intervalNanos, 1)
            }
        }
    }

    /// Ends the process with a message: a load run that cannot reach its target has nothing to report.
    func fail(_ message: String) -> Never {
        let line = Array("tsload: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(2)
    }
}
