// The public entry point: build the engine from a configuration and serve it on N loops.
import Atomics
import TrackstarCore
import TrackstarEnrich
import TrackstarIO
import TrackstarStore
import TrackstarConfiguration

/// A running Trackstar node.
public final class TrackstarServer: @unchecked Sendable {
    let engine: Engine
    let group: ServerGroup
    let snapshotter: Snapshotter
    let indexKeeper: IndexKeeper
    let handlers: [RequestHandler]
    let feed: ReportFeed
    let partners: PartnerFeed
    let summary: LogSummary
    let readiness: Readiness
    /// The `[admin] listen` listener, if configured.
    let admin: AdminListener?
    /// The live catalog behind the management API (nil when started without the config file's text).
    let catalogService: CatalogService?
    /// How long catalog changes took to reach every loop.
    let applyTimes = ApplyTimes()
    /// Serialises reloads (SIGHUP on the main thread, API writes on the admin loop).
    var reloadLock = pthread_mutex_t()
    /// The bound port (useful with port 0).
    public var port: UInt16 { group.port }
    public var loops: Int { group.loopCount }
    /// The loops' receive path ("io_uring" or "epoll"), and why `auto` chose epoll if it did.
    public var ioBackend: String { group.backend.rawValue }
    public var ioBackendNote: String? { group.backendNote }
    /// The admin listener's `HOST:PORT` (IPv6 in brackets), nil without `[admin] listen`.
    public var adminAddress: String? { admin?.address }

    /// Loads keys from the data dir, compiles the catalog and binds the listener on every loop.
    /// - Parameter source: the config file's text; with it, the catalog log in the data dir is applied
    ///   over the file's catalog and the management API can change it (CatalogService.swift).
    public init(config fileConfig: TrackstarConfig, source: String? = nil, recovery: RecoveryOptions = RecoveryOptions()) throws(StartupError) {
        pthread_mutex_init(&reloadLock, nil)
        var config = fileConfig
        if let source {
            try CatalogService.makeDataDir(config.storage.dataDir)
            let service = try CatalogService(source: source, base: config, store: CatalogFileLog(dataDir: config.storage.dataDir, fileSync: FileSync.fromEnvironment()))
            config = try service.startingConfig()
            catalogService = service
        } else {
            catalogService = nil
        }
        let loops = min(max(config.server.loops ?? System.coreCount(), 1), ClickID.maxShards)
        let readiness = Readiness(loops: loops)
        self.readiness = readiness
        // The admin listener answers from the start, so /readyz can say "recovering".
        let admin = try AdminListener.start(config: config, readiness: readiness)
        self.admin = admin
        do {
            (engine, snapshotter, feed, partners, summary, handlers, group) = try TrackstarServer.open(config, loops: loops, recovery: recovery)
        } catch {
            admin?.stop()
            throw error
        }
        indexKeeper = IndexKeeper(index: engine.index)
        readiness.enter(.starting)
    }

    /// Recovers the engine and binds the public listener on every loop.
    private static func open(_ config: TrackstarConfig, loops: Int, recovery: RecoveryOptions) throws(StartupError)
        -> (Engine, Snapshotter, ReportFeed, PartnerFeed, LogSummary, [RequestHandler], ServerGroup) {
        let engine = try Engine.open(config: config, loops: loops, recovery: recovery)
        engine.fileSync = FileSync.fromEnvironment()  // fdatasync, unless the documented test hook is set
        let snapshotter = Snapshotter(engine: engine)
        let feed = try ReportFeed(engine: engine)
        let summary = LogSummary(metrics: engine.metrics, intervalMillis: config.log.summaryIntervalMillis)
        let partners = try PartnerFeed(engine: engine)
        engine.compose(feeds: [partners.dispatcher] + (feed.exporter.map { [$0] } ?? []))
        var limits = ConnectionLimits()
        limits.maxConnections = config.server.maxConnections
        limits.idleTimeoutMillis = UInt64(config.server.idleTimeoutMillis)
        limits.headerTimeoutMillis = UInt64(config.server.headerTimeoutMillis)
        limits.maxRequestBytes = config.server.maxRequestLineBytes + config.server.maxHeaderBytes + config.server.maxBodyBytes
        let handlers = (0..<loops).map { RequestHandler(engine: engine, shard: $0) }
        // Room for four maximal answers, plus one /metrics page.
        limits.outputBufferBytes = max(64 * 1024, 4 * (handlers.first?.maxResponseBytes ?? 0)) + RequestHandler.metricsCapacity
        let group: ServerGroup
        do {
            group = try ServerGroup(host: config.server.host, port: config.server.port, handlers: handlers, limits: limits,
                                    backend: config.server.io, fileSync: engine.fileSync)
        } catch {
            throw StartupError("cannot listen on \(config.server.host):\(config.server.port): \(error)")
        }
        return (engine, snapshotter, feed, partners, summary, handlers, group)
    }

    /// Replaces offers and affiliates without dropping a connection: the new catalog is compiled here
    /// and handed to each loop on its own thread. Returns notes (settings that need a restart);
    /// throws, changing nothing, when the new configuration cannot be used.
    public func reload(_ config: TrackstarConfig) throws(StartupError) -> [String] {
        pthread_mutex_lock(&reloadLock)
        defer { pthread_mutex_unlock(&reloadLock) }
        // New event names get their ids on disk before any loop can record one.
        let events = try EventRegistry.update(dataDir: engine.config.storage.dataDir, with: config)
        let catalog: Catalog
        // The same cap lines: counters are kept across reloads, and a lowered cap applies at once.
        do { catalog = try Catalog(config, events: events, caps: engine.catalog.capBook) } catch { throw StartupError(error.description) }
        let budget = handlers.first?.templateBudget ?? 0
        guard catalog.longestTemplate <= budget else {
            throw StartupError("a url template is \(catalog.longestTemplate) bytes, longer than the \(budget) this process sized its buffers for; restart to use it")
        }
        // The location database is read again (SIGHUP after `location update`); the classifier is
        // kept unless its rules file changed, and then each loop gets a new cache for the new one.
        let previous = engine.enrichment
        let enrichment = try Enrichment.open(config, previous: previous)
        let caches: [UserAgentCache]? = enrichment.keepsCaches(of: previous) ? nil : handlers.map { _ in enrichment.makeCache() }
        engine.seedNewCaps(catalog, fresh: catalog.capBook.takeFresh())
        engine.replaceCatalog(catalog)
        engine.replaceEnrichment(enrichment)
        partners.dispatcher.replacePlan(config)
        post(catalog, enrichment: enrichment, caches: caches)
        var notes: [String] = []
        if config.server != engine.config.server { notes.append("[server] changes take effect at the next restart") }
        if config.storage != engine.config.storage { notes.append("[storage] changes take effect at the next restart") }
        if config.export != engine.config.export { notes.append("[export] changes take effect at the next restart") }
        if config.delivery != engine.config.delivery { notes.append("[delivery] changes take effect at the next restart") }
        if config.admin != engine.config.admin { notes.append("[admin] changes take effect at the next restart") }
        if config.privacy != engine.config.privacy { notes.append("[privacy] changes take effect at the next restart") }
        if catalog.longestUniqueWindowMillis > engine.unique.table.windowMillis {
            notes.append("unique_window: windows longer than \(engine.unique.table.windowMillis / 1000) s are held to it until the next restart (the unique-click table is sized at start)")
        }
        if config.log.summaryIntervalMillis != engine.config.log.summaryIntervalMillis {
            notes.append("[log] summary_interval changes take effect at the next restart")
        }
        Log.configure(config.log)  // level and format apply at once
        return notes
    }

    /// SIGHUP with the config file's text: the file's catalog under the API's stored changes (when the
    /// server was started with its text), else as `reload(_:)`.
    public func reload(_ config: TrackstarConfig, source: String) throws(StartupError) -> [String] {
        guard let catalogService else { return try reload(config) }
        let notes = try catalogService.reseed(source: source, base: config)
        let tokens = config.admin.tokens
        admin?.replaceTokens(tokens)  // the config's; those made through the API are kept
        return notes.filter { !$0.hasPrefix("[admin]") || config.admin.withoutTokens != engine.config.admin.withoutTokens }
    }

    /// The live catalog as a TOML file (the config file with the API's changes).
    public var catalogTOML: String? { catalogService?.exportTOML() }

    /// What recovery found and did at start-up, one line each.
    public var recoveryNotes: [String] { engine.recoveryNotes }

    /// Starts the loop threads; the partner dispatcher's loop first, so a failure to make it stops
    /// the start before anything serves.
    public func start() throws(StartupError) {
        try partners.start()
        let connections = group.connectionCount
        engine.connectionGauge = { connections.load(ordering: .relaxed) }
        group.start()
        snapshotter.start()
        indexKeeper.start()
        feed.start()
        summary.start()
        let readiness = self.readiness
        group.onEveryLoop { _ in readiness.loopIsRunning() }
        catalogService?.reloadAll = { [unowned self] config throws(StartupError) in try self.reload(config) }
        catalogService?.applyChange = { [unowned self] update throws(CatalogApplyFailure) in try self.applyCatalogChange(update) }
        // The admin listener, not the engine, holds the loops for operator changes: the loops' handlers
        // hold the engine, so an engine holding them back was a cycle that outlived `stop` (LeakSanitizer).
        let api = ApiContext(service: catalogService, tokens: engine.config.admin.tokens, applyTimes: applyTimes,
                             dataDir: engine.config.storage.dataDir, export: engine.config.export)
        admin?.attach(engine, operatorUpdates: OperatorUpdates(group: group, handlers: handlers), api: api)
        readiness.enter(.serving)
    }

    /// Stops every loop, waits for them, then takes a final snapshot; the admin listener goes last,
    /// answering /readyz with 503 "stopping" meanwhile.
    public func stop() {
        readiness.enter(.stopping)
        group.stop()
        partners.stop()
        summary.stop()
        feed.stop()
        snapshotter.stop()
        indexKeeper.stop()
        admin?.stop()
    }
}

#if canImport(Glibc)
import Glibc
#endif

enum System {
    static func coreCount() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

/// Per-loop caches handed to the loops through their mailboxes: each cache is touched only by the
/// loop it is given to, from then on.
struct UncheckedCaches: @unchecked Sendable {
    let caches: [UserAgentCache]?
    init(_ caches: [UserAgentCache]?) { self.caches = caches }
}
