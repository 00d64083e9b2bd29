// The partner-postback dispatcher: a thread of its own (TrackstarIO's `LoopThread`) that reads the
// conversions the request loops publish, never blocking them, and sends partners their postbacks over
// libcurl. This file holds its state, start and stop; the work is split by concern:
// planning (Dispatcher+Planning), scheduling (+Scheduling), transfers (+Transfers), the group commit
// (+Commit) and operator actions (+Operations).
import CTrackstarCurl
import DequeModule
import TrackstarCore
import TrackstarIO
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

/// Runs partner postbacks. Public methods may be called from any thread.
public final class Dispatcher: @unchecked Sendable {  // loop state is touched on the loop thread only
    public let config: DeliveryConfig
    let source: ExportSource
    /// The live generation of the delivery log (replaced by compaction, on the loop thread, while
    /// no group commit runs).
    var log: DeliveryLog
    let positions: DeliveryPositions
    let message: @Sendable (String) -> Void
    /// Messages an operator must act on (a paused endpoint).
    let warn: @Sendable (String) -> Void
    /// How often new conversions are looked for and due jobs started.
    let tickMillis: UInt64
    /// Finished records the live log may gather before compaction moves them to the archive (`compact_after`).
    let compactAfter: UInt64
    /// No compaction before this time (after one failed).
    var compactionBlockedUntil: Int64 = 0
    /// The compaction under way (Dispatcher+Compaction), when it started, its slices so far.
    var compaction: Compaction?
    var compactionStartedMillis: Int64 = 0
    var compactionSlices = 0
    /// The next slice is in the mailbox; the copy has caught up and waits for the running group commit.
    var slicePosted = false
    /// The next slice of conversion planning is in the mailbox.
    var scanPosted = false
    /// When the last group commit started (monotonic µs): commits are at least `commitGapMicros` apart.
    var lastCommitMicros: Int64 = 0
    var compactionWaitsForCommit = false
    /// A background fdatasync of the archive is running; the copy had archived this many at the last one.
    var archiveSyncing = false
    var archiveSyncedThrough: UInt64 = 0

    // Loop-thread state.
    var plan: DeliveryPlan
    var ledger: DeliveryLedger
    var due = DueSchedule()
    /// Jobs due (or blocked) per endpoint number, oldest first.
    var ready: [UInt32: Deque<UInt64>] = [:]
    var inFlightByEndpoint: [UInt32: Int] = [:]
    var transfers: [UInt: Transfer] = [:]
    /// Conversions with an attempt running: never two at once for one postback.
    var attemptsRunning: Set<UInt64> = []
    var idleHandles: [UnsafeMutableRawPointer] = []
    var scanned: [UInt64]
    var logDirty = false
    var positionsDirty = false
    /// A group commit is running on libuv's thread pool (at most one at a time).
    var syncing = false
    var shuttingDown = false
    var syncTarget = SyncTarget(count: 0, byteEnd: 0, scanned: [])
    var syncError: StoreError?
    var storageFailing = false
    /// curl could not report an attempt's total time (logged once).
    var latencyInfoFailed = false
    /// The idle-class watchdog (Dispatcher+Priority.swift); dispatcher thread only.
    var priority = DispatcherPriority()
    /// Pacing while the core is busy (Dispatcher+Pacing.swift); dispatcher thread only.
    var pacing: DispatchPacing
    var schedStat = ThreadSchedStat()
    var pacingUnavailableLogged = false
    var pacingLogged = false
    var pacingLoggedMillis: Int64 = 0
    /// The endpoint served first at the last tick.
    var pacingTurn: UInt32 = 0
    /// `TRACKSTAR_TEST_BUSY_CORE` is set: every tick finds the core busy (live tests of pacing).
    let busyCoreForTests: Bool
    var random = SystemRandomNumberGenerator()

    /// The dispatcher's loop (TrackstarIO's: the only module that touches libuv) and the curl
    /// transfers it drives; made at start.
    var loop: LoopThread?
    var curl: CurlMulti?
    var running = false

    // Cross-thread: a snapshot for readers.
    var stopping = false
    var mutex = pthread_mutex_t()
    var published = DeliverySnapshot()
    var publishedCompaction: (running: Bool, handled: UInt64) = (false, 0)
    /// Per conversion shard, the records whose planning is durable (see `noteCommitted`).
    var committedScan: [UInt64] = []
    /// What the positions file holds (group commits only: one runs at a time).
    var storedPositions: [UInt64] = []

    /// Opens the delivery log and rebuilds the dispatcher's state from its live generation.
    public init(config: TrackstarConfig, source: ExportSource, tickMillis: UInt64 = 50,
                message: @escaping @Sendable (String) -> Void,
                warn: (@Sendable (String) -> Void)? = nil) throws(StoreError) {
        compactAfter = UInt64(config.delivery.compactAfter)
        self.config = config.delivery
        self.source = source
        self.message = message
        self.warn = warn ?? message
        self.tickMillis = tickMillis
        plan = DeliveryPlan(config)
        pacing = DispatchPacing(rate: config.delivery.rateWhileBusy)
        busyCoreForTests = getenv(DispatchPacing.testHookVariable).map { $0.pointee != 0 } ?? false
        log = try DeliveryLog(dataDir: config.storage.dataDir)
        for note in log.notes { message(note) }
        ledger = DeliveryLedger.replay(log, pauseAfter: config.delivery.pauseAfter)
        positions = DeliveryPositions(directory: log.directory)
        let stored = positions.load()
        storedPositions = stored
        let replayed = ledger
        scanned = (0..<source.shardCount).map { shard in
            max(shard < stored.count ? stored[shard] : 0, replayed.queuedThrough[shard] ?? 0)
        }
        for (id, job) in ledger.pending { due.schedule(id, at: job.dueMillis) }
        committedScan = scanned  // stored positions, or the log's own queued records: both durable
        pthread_mutex_init(&mutex, nil)
        if !ledger.pending.isEmpty || ledger.records > 0 {
            message("deliveries: \(ledger.pending.count) pending, \(ledger.endpoints.values.filter(\.paused).count) paused endpoints, "
                + "\(log.count) records in generation \(log.generation) of the log")
        }
        publishSnapshot()
    }

    /// Starts the dispatcher's loop thread, below the request loops in priority (nice 10): when the
    /// cores are busy, clicks win and deliveries drain slower.
    public func start() throws(IOError) {
        guard !running else { return }
        let loop = try LoopThread(name: "deliveries", niceness: 10)
        // These closures hold the dispatcher while it runs; stop releases them (LoopThread drops its
        // bodies once the thread ends, and shutdown drops the curl driver).
        curl = try CurlMulti(on: loop, maxPerHost: config.maxPerEndpoint, maxTotal: config.maxInFlight) { [self] easy, result in
            finished(easy, CURLcode(rawValue: UInt32(bitPattern: result)))
        }
        try loop.repeating(every: tickMillis) { [self] in onTick() }
        loop.afterEachIteration { [self] in commit() }
        self.loop = loop
        try loop.start()
        running = true
    }

    /// Stops the thread: attempts in flight are abandoned (their jobs stay pending and are retried
    /// after the next start; the partner may see that attempt twice, which the delivery log shows).
    public func stop() {
        guard running, let loop else { return }
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_mutex_unlock(&mutex)
        loop.stop { [self] in shutdown() }
        running = false
    }

    /// Runs `work` on the loop thread (dropped once stopping: false).
    @discardableResult
    func post(_ work: @escaping (Dispatcher) -> Void) -> Bool {
        loop?.post { [self] in work(self) } ?? false
    }

    /// On the loop thread, as it stops: drop transfers, make the last commit, close curl's handles.
    func shutdown() {
        for (_, transfer) in transfers {
            curl?.remove(transfer.easy)
            curl_easy_cleanup(transfer.easy)
        }
        transfers.removeAll()
        attemptsRunning.removeAll()
        for easy in idleHandles { curl_easy_cleanup(easy) }
        idleHandles.removeAll()
        shuttingDown = true
        schedStat.close()
        compaction = nil  // what it appended to the archive is past the committed extent: the next writer cuts it
        if !syncing { finalCommit() }  // else when the running commit returns
        curl?.close()
        curl = nil
    }

    /// The state as of the last tick.
    public var snapshot: DeliverySnapshot {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return published
    }

    /// Publishes the loop thread's state for `snapshot` (each tick and after an operator action).
    func publishSnapshot() {
        let snapshot = ledger.snapshot(inFlight: transfers.count, scanned: scanned)
        pthread_mutex_lock(&mutex)
        published = snapshot
        publishedCompaction = (compaction != nil, compaction?.copied ?? 0)
        pthread_mutex_unlock(&mutex)
    }
}

