// Makes the reporting feed: the exporter over the engine's tables, with click IDs re-encoded by the
// engine's codec and event names from the current catalog. The server adds it to the engine's feeds
// (retention then keeps what it has not exported, and /metrics shows its lag).
import TrackstarCore
import TrackstarExport
import TrackstarStore

/// The server's exporter, if `[export] sink` is not "none".
final class ReportFeed: @unchecked Sendable {  // set once in init
    let exporter: Exporter?

    /// Creates the exporter (not started).
    init(engine: Engine) throws(StartupError) {
        let codec = engine.codec, node = engine.node
        do {
            exporter = try Exporter(
                config: engine.config.export, dataDir: engine.config.storage.dataDir,
                clicks: engine.clicks, conversions: engine.conversions, refusals: engine.refusals,
                clickIDText: { shard, sequence, mintMillis in
                    ReportFeed.clickIDText(codec, ClickID(node: node, shard: UInt8(shard), sequence: sequence,
                                                          mintMinute: ClickID.minute(unixMillis: mintMillis), keyID: 0))
                },
                eventName: { [weak engine] offerID, index in engine.map { ReportFeed.eventName($0.catalog, offerID, index) } ?? "conversion" },  // as reloaded
                offerCurrency: { [weak engine] offerID in engine?.catalog.offer(offerID)?.currencyCode ?? 0 },
                clickIDWriter: { shard, sequence, mintMillis, out in
                    codec.encode(ClickID(node: node, shard: UInt8(shard), sequence: sequence,
                                         mintMinute: ClickID.minute(unixMillis: mintMillis), keyID: 0), into: out)
                },
                log: { Log.info("export: \($0)") })
        } catch {
            throw StartupError(error.description)
        }
    }

    func start() { exporter?.start() }

    /// Writes what is left; call after the loops stopped.
    func stop() { exporter?.stop() }

    static func clickIDText(_ codec: ClickIDCodec, _ id: ClickID) -> String {
        String(unsafeUninitializedCapacity: 26) { buffer in
            codec.encode(id, into: buffer.baseAddress!)
            return 26
        }
    }

    /// The name of an offer's event id, also for events and offers since removed (`EventRegistry`).
    static func eventName(_ catalog: Catalog, _ offerID: UInt32, _ id: Int) -> String {
        let name = catalog.eventNames(offerID)?.name(id) ?? []
        if name.isEmpty { return id == 0 ? "conversion" : "event-\(id)" }
        return String(decoding: name, as: UTF8.self)
    }
}

extension TrackstarServer {
    /// Records published but not yet in the reporting store, per shard (empty when export is off).
    public var exportLag: [ExportLag] { feed.exporter?.lag() ?? [] }

    /// The exporter's state (nil when export is off).
    public var exportStatus: ExporterStatus? { feed.exporter?.status }
}
