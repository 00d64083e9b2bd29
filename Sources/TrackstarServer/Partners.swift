// Makes the partner-postback feed: the dispatcher reads the engine's conversion logs (through the
// same ExportSource the reporting feed uses) and follows configuration reloads. The server adds it
// to the engine's feeds (retention, /metrics).
import TrackstarCore
import TrackstarDelivery
import TrackstarIO
import TrackstarStore

/// The server's partner-postback dispatcher.
final class PartnerFeed: @unchecked Sendable {  // set once in init
    let dispatcher: Dispatcher

    init(engine: Engine) throws(StartupError) {
        let codec = engine.codec, node = engine.node
        let source = ExportSource(
            clicks: engine.clicks, conversions: engine.conversions, refusals: engine.refusals,
            clickIDText: { shard, sequence, mintMillis in
                ReportFeed.clickIDText(codec, ClickID(node: node, shard: UInt8(shard), sequence: sequence,
                                                      mintMinute: ClickID.minute(unixMillis: mintMillis), keyID: 0))
            },
            eventName: { [weak engine] offerID, index in engine.map { ReportFeed.eventName($0.catalog, offerID, index) } ?? "conversion" },
            offerCurrency: { [weak engine] offerID in engine?.catalog.offer(offerID)?.currencyCode ?? 0 })
        do {
            dispatcher = try Dispatcher(config: engine.config, source: source, message: { Log.info($0) }, warn: { Log.warning($0) })
        } catch {
            throw StartupError("deliveries: \(error.description)")
        }
    }

    func start() throws(StartupError) {
        do { try dispatcher.start() } catch { throw StartupError("deliveries: \(error.description)") }
    }
    func stop() { dispatcher.stop() }
}
