// One management API change applied to the running server at the cost of the change: the new catalog
// shares every untouched compiled offer, affiliate and table with the current one, the enrichment and
// the delivery plan are rebuilt only when the change is theirs, and the loops only swap a pointer.
import TrackstarConfiguration
import TrackstarEnrich
#if canImport(Glibc)
import Glibc
#endif

extension TrackstarServer {
    /// Applies a checked API change (CatalogService.write), on the admin loop; SIGHUP's `reload`
    /// serialises with it. Throws, changing nothing, when the changed object does not compile.
    func applyCatalogChange(_ update: CatalogUpdate) throws(CatalogApplyFailure) {
        pthread_mutex_lock(&reloadLock)
        defer { pthread_mutex_unlock(&reloadLock) }
        let config = update.config
        let scope = update.scope
        var events: EventRegistry?
        if scope.compilesOffers {  // a new event name gets its id on disk before any loop can record one
            do { events = try EventRegistry.update(dataDir: engine.config.storage.dataDir, with: config) } catch {
                throw CatalogApplyFailure.refused(error.description)
            }
        }
        let previous = engine.catalog
        let catalog: Catalog
        do { catalog = try Catalog(updating: previous, config, events: events, scope: scope) } catch { throw CatalogApplyFailure.problem(error) }
        let budget = handlers.first?.templateBudget ?? 0
        guard catalog.longestTemplate <= budget else {
            throw CatalogApplyFailure.refused("a url template is \(catalog.longestTemplate) bytes, longer than the \(budget) this process sized its buffers for; restart to use it")
        }
        var opened: Enrichment?
        var caches: [UserAgentCache]?
        if scope == .bots || scope == .everything {
            let current = engine.enrichment
            let next: Enrichment
            do { next = try Enrichment.open(config, previous: current) } catch { throw CatalogApplyFailure.refused(error.description) }
            if !next.keepsCaches(of: current) { caches = handlers.map { _ in next.makeCache() } }
            opened = next
        }
        let enrichment = opened
        engine.seedNewCaps(catalog, fresh: catalog.capBook.takeFresh())
        engine.replaceCatalog(catalog)
        if let enrichment { engine.replaceEnrichment(enrichment) }
        switch scope {
        case .smartLinks, .bots: break
        default: partners.dispatcher.replacePlan(config)  // offers, affiliates, rules: what delivery reads
        }
        post(catalog, enrichment: enrichment, caches: caches)
    }

    /// Hands a new catalog (and a new enrichment, with fresh caches when the old ones no longer fit)
    /// to every loop through its mailbox; each swaps between requests, so no connection is dropped.
    /// The admin loop holds answers until every loop has it (`ApplyTimes.everyLoopHasTheLatest`).
    func post(_ catalog: Catalog, enrichment: Enrichment?, caches: [UserAgentCache]?) {
        let handlers = self.handlers
        let fresh = UncheckedCaches(caches)
        let adminGroup = admin?.group
        // Weak: a catalog left in a stopped loop's mailbox must not keep the admin listener alive.
        let applied = AppliedEverywhere(loops: handlers.count, times: applyTimes) { [weak adminGroup] in
            adminGroup?.onEveryLoop { _ in }  // an empty post: the admin loop wakes and re-checks
        }
        group.onEveryLoop { index in
            handlers[index].catalog = catalog
            if let enrichment { handlers[index].state.pointee.enrich.sources = enrichment }
            if let caches = fresh.caches { handlers[index].state.pointee.enrich.cache = caches[index] }
            applied.loopApplied()
        }
    }
}

extension CatalogChangeScope {
    /// Whether offers are compiled (and so need their event ids).
    var compilesOffers: Bool {
        switch self {
        case .offer, .everything: true
        default: false
        }
    }
}
