// The state all loops share: the catalog, the click ID codec, one click table and one conversion
// table per loop (each written only by its loop), and the conversion index that makes every
// conversion happen exactly once.
import Atomics
import TrackstarCore
import TrackstarStore
import TrackstarDelivery
import TrackstarIO
import TrackstarConfiguration

/// Shared engine state. Invariant: `clicks[i]` and `conversions[i]` are written only by loop `i`;
/// every other field is immutable or synchronises itself (`index`).
final class Engine: @unchecked Sendable {
    let config: TrackstarConfig
    /// The offers and affiliates as last loaded; loops keep their own reference, swapped on reload.
    var catalog: Catalog {
        pthread_mutex_lock(&catalogLock)
        defer { pthread_mutex_unlock(&catalogLock) }
        return currentCatalog
    }
    private var currentCatalog: Catalog
    /// The location database, user-agent classifier and bot rules as last loaded (EnrichClick.swift);
    /// loops keep their own reference, swapped on reload.
    var enrichment: Enrichment {
        pthread_mutex_lock(&catalogLock)
        defer { pthread_mutex_unlock(&catalogLock) }
        return currentEnrichment
    }
    private var currentEnrichment: Enrichment
    private var catalogLock = pthread_mutex_t()
    let codec: ClickIDCodec
    let node: UInt8
    let clicks: [RecordTable]
    let conversions: [RecordTable]
    /// Refused postbacks with their reason and raw parameters, one log per shard.
    let refusals: [RecordTable]
    let index: ConcurrentIndex
    /// The cap counters' durable tally (CapTally.swift); set by recovery, then the snapshot thread's.
    private(set) var capTally = CapTally(shards: 0)
    /// Unique clicks: the (offer, address, agent) fingerprints of each offer's window.
    let unique: UniqueClicks
    /// Measurement hook (performance.md, "all on vs off"): with `TRACKSTAR_MEASURE_ENRICHMENT_OFF` set,
    /// clicks are neither enriched nor checked for uniqueness (recorded as before enrichment existed).
    let enrichmentOff = getenv("TRACKSTAR_MEASURE_ENRICHMENT_OFF") != nil
    /// `[privacy] anonymize_ip = "truncate"`: addresses are cut before they are written.
    let anonymizeAddresses: Bool
    /// Key for txid fingerprints (derived from the click key, so it is secret and stable).
    let fingerprintKey: SipHashKey

    /// What recovery found and did, one line per fact, for the start-up log.
    private(set) var recoveryNotes: [String] = []
    /// Loops that append; shards beyond them (from an earlier run with more loops) are read-only.
    let loops: Int
    /// The longest attribution window of any offer: older clicks can be refused from the ID alone.
    var maxLifetimeMillis: Int64 { catalog.maxLifetimeMillis }
    /// Counters of each loop, read by /metrics.
    let metrics: [LoopMetrics]
    /// Open connections (from the I/O layer), set before start.
    var connectionGauge: (@Sendable () -> Int)?
    /// The log feeds (reporting exporter, partner dispatcher), composed by the server before start:
    /// retention keeps every record any of them has not passed, and /metrics shows each one's figures.
    private(set) var feeds: [any LogFeed] = []
    /// Sets the feeds (once, before the server starts).
    func compose(feeds: [any LogFeed]) { self.feeds = feeds }
    /// The partner dispatcher among the feeds, for the admin listener's operations.
    var deliveries: Dispatcher? { feeds.lazy.compactMap { $0 as? Dispatcher }.first }
    /// Wall-clock time of the last manifest written (0: none yet).
    let lastSnapshotMillis = ManagedAtomic<Int64>(0)
    /// Whether the snapshot thread runs in SCHED_IDLE now (Snapshotter.keepTime); for /metrics.
    let snapshotThreadIdle = ManagedAtomic<Bool>(false)
    /// Wall-clock time a loop last failed to append a record (0: never); /readyz reads it.
    let lastStorageFailureMillis = ManagedAtomic<Int64>(0)
    /// How log files are synced (`fdatasync`, or the test hook's failure); set before start.
    var fileSync = FileSync.system
    /// Wall-clock time writes were stopped after a failed sync (0: never); see SyncFailure.swift.
    let writesStoppedMillis = ManagedAtomic<Int64>(0)
    /// Failed syncs of log files, indexed by `SyncSite`, for /metrics.
    let syncFailures = (0..<SyncSite.allCases.count).map { _ in ManagedAtomic<UInt64>(0) }

    /// Opens (or creates) the shards under `data_dir`, recovers them, and rebuilds the index.
    init(config: TrackstarConfig, catalog: Catalog, keys: ClickIDCodec, loops: Int,
         recovery: RecoveryOptions = RecoveryOptions()) throws(StartupError) {
        let enrichment = try Enrichment.open(config)
        guard let index = ConcurrentIndex(policy: Engine.indexPolicy(config.storage), participants: loops + 1,
                                          nowMillis: WallClock.nowMillis()) else {
            throw StartupError("storage.index_initial_capacity: cannot map \(config.storage.indexInitialCapacity) entries")
        }
        let dataDir = config.storage.dataDir
        let shards = max(loops, ShardLayout.existingShards(dataDir: dataDir))
        for shard in 0..<shards {
            do { try SegmentDirectory.create(ShardLayout.directory(dataDir: dataDir, shard: shard)) } catch {
                throw StartupError(error.description)
            }
        }
        self.config = config
        self.currentCatalog = catalog
        self.currentEnrichment = enrichment
        pthread_mutex_init(&catalogLock, nil)
        self.codec = keys
        self.loops = loops
        self.metrics = (0..<loops).map { _ in LoopMetrics() }
        self.node = UInt8(config.server.nodeID)
        self.clicks = (0..<shards).map { ShardLayout.clickTable(dataDir: dataDir, shard: $0) }
        self.conversions = (0..<shards).map { ShardLayout.conversionTable(dataDir: dataDir, shard: $0) }
        self.refusals = (0..<shards).map { ShardLayout.refusalTable(dataDir: dataDir, shard: $0) }
        self.index = index
        self.fingerprintKey = SipHashKey(k0: keys.currentKey.k0 ^ 0x7478_6964_6b65_7931, k1: keys.currentKey.k1)
        guard let unique = UniqueClicks(longestWindowMillis: catalog.longestUniqueWindowMillis, clicksPerWindow: config.storage.uniqueClicksPerWindow,
                                        key: SipHashKey(k0: keys.currentKey.k0 ^ 0x756e_6971_7565_6b31, k1: keys.currentKey.k1 ^ 0x7563)) else {
            throw StartupError("cannot map the unique-click table (storage.unique_clicks_per_window = \(config.storage.uniqueClicksPerWindow)); lower it")
        }
        self.unique = unique
        self.anonymizeAddresses = config.privacy.anonymizeIP == .truncate
        var run = Recovery(dataDir: dataDir, clicks: clicks, conversions: conversions, refusals: refusals, options: recovery)
        do { recoveryNotes = try run.run() } catch { throw StartupError(error.description) }
        try replayConversions()
        recoveryNotes += replayUniqueClicks()
        let (tally, capNotes) = replayCaps(catalog)
        capTally = tally
        recoveryNotes += capNotes
    }

    /// The conversion index's growth and forgetting, from `[storage]`: `max_conversions` guards its
    /// memory (twice as many entries, 32 bytes a key), and the newest generation is replaced every
    /// quarter of `txid_window`, so keys are forgotten about that long after their expiry.
    static func indexPolicy(_ storage: StorageConfig) -> IndexPolicy {
        IndexPolicy(initialCapacity: min(storage.indexInitialCapacity, 2 * storage.maxConversions),
                    maxEntries: 2 * storage.maxConversions, rotationMillis: max(250, storage.txidWindowMillis / 4))
    }

    /// Participant id for index critical sections off the loops (recovery, before the loops run).
    var indexRecoveryParticipant: Int { loops }

    /// Replaces the catalog readers off the loops see (retention, the exporter's event names).
    func replaceCatalog(_ catalog: Catalog) {
        pthread_mutex_lock(&catalogLock)
        currentCatalog = catalog
        pthread_mutex_unlock(&catalogLock)
    }

    /// Replaces the enrichment sources new loops state and readers off the loops see.
    func replaceEnrichment(_ enrichment: Enrichment) {
        pthread_mutex_lock(&catalogLock)
        currentEnrichment = enrichment
        pthread_mutex_unlock(&catalogLock)
    }

    /// Loads the keys from the data dir, compiles the catalog and opens the engine.
    static func open(config: TrackstarConfig, loops: Int, recovery: RecoveryOptions) throws(StartupError) -> Engine {
        let codec = try NodeIdentity.verify(dataDir: config.storage.dataDir, nodeID: config.server.nodeID)
        let events = try EventRegistry.update(dataDir: config.storage.dataDir, with: config)
        let catalog: Catalog
        do { catalog = try Catalog(config, events: events) } catch { throw StartupError(error.description) }
        return try Engine(config: config, catalog: catalog, keys: codec, loops: loops, recovery: recovery)
    }



    /// The click slot for a decoded ID, if it was minted here and is published.
    @inline(__always)
    func clickSlot(_ id: ClickID) -> UnsafeMutableRawPointer? {
        guard id.node == node, Int(id.shard) < clicks.count else { return nil }
        return clicks[Int(id.shard)].record(id.sequence)
    }

    /// A conversion's public id and index value: (shard << 40 | sequence) + 1, never 0.
    @inline(__always)
    static func conversionID(shard: Int, sequence: UInt64) -> UInt64 { (UInt64(shard) << 40 | sequence) + 1 }

    /// The record a conversion id points at.
    @inline(__always)
    func conversionRecord(_ id: UInt64) -> UnsafeMutableRawPointer? {
        guard id != 0 else { return nil }
        let shard = Int((id - 1) >> 40)
        guard shard < conversions.count else { return nil }
        return conversions[shard].record((id - 1) & ClickID.maxSequence)
    }

    /// Index key for "this click's conversion of this event": exact, in its own key space (bit 62).
    /// `event` is the event's stable id (`EventRegistry`), never its position in the configuration.
    @inline(__always)
    static func eventKey(shard: UInt8, sequence: UInt64, event: Int) -> UInt64 {
        1 << 62 | UInt64(shard) << 48 | (sequence & ClickID.maxSequence) << 8 | UInt64(event & 0xff)
    }

    /// Index key for "this offer's order id": a keyed fingerprint with bit 63 set.
    @inline(__always)
    func txidKey(offer: UInt32, txidHash: UInt64) -> UInt64 {
        sipHash24(key: fingerprintKey, UInt64(offer), txidHash) | 1 << 63
    }

    /// A keyed 64-bit fingerprint of an order id (never 0, which means "no txid").
    func txidHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var k0: UInt64 = 0, k1: UInt64 = UInt64(bytes.count)
        // Folds the bytes 16 at a time through SipHash; values are capped at a few hundred bytes.
        var i = 0
        while i < bytes.count {
            var w0: UInt64 = 0, w1: UInt64 = 0
            for j in 0..<16 where i + j < bytes.count {
                if j < 8 { w0 |= UInt64(bytes[i + j]) << (8 * UInt64(j)) } else { w1 |= UInt64(bytes[i + j]) << (8 * UInt64(j - 8)) }
            }
            k0 = sipHash24(key: SipHashKey(k0: fingerprintKey.k0 ^ k0, k1: fingerprintKey.k1 ^ k1), w0, w1)
            k1 &+= 0x9e37_79b9_7f4a_7c15
            i += 16
        }
        return k0 | 1
    }
}

#if canImport(Glibc)
import Glibc
#endif
