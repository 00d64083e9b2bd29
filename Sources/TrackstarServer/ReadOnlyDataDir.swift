// A data dir opened for reading without a server: every shard's tables mapped and verified by an
// inspect-only recovery (nothing cut or written). `inspect`, `trackstar conversion` and `replay` read
// through it.
import TrackstarStore

/// A data dir's tables after an inspect-only recovery.
struct ReadOnlyDataDir {
    let shards: Int
    let clicks: [RecordTable]
    let conversions: [RecordTable]
    let refusals: [RecordTable]
    /// The recovery that verified them (its manifest and notes).
    let recovery: Recovery

    /// Maps and verifies every shard of `dataDir`; the error says what recovery found.
    static func open(_ dataDir: String) -> Result<ReadOnlyDataDir, StartupError> {
        let shards = ShardLayout.existingShards(dataDir: dataDir)
        let clicks = (0..<shards).map { ShardLayout.clickTable(dataDir: dataDir, shard: $0) }
        let conversions = (0..<shards).map { ShardLayout.conversionTable(dataDir: dataDir, shard: $0) }
        let refusals = (0..<shards).map { ShardLayout.refusalTable(dataDir: dataDir, shard: $0) }
        var recovery = Recovery(dataDir: dataDir, clicks: clicks, conversions: conversions, refusals: refusals,
                                options: RecoveryOptions(inspectOnly: true))
        do { _ = try recovery.run() } catch { return .failure(StartupError(error.description)) }
        return .success(ReadOnlyDataDir(shards: shards, clicks: clicks, conversions: conversions, refusals: refusals, recovery: recovery))
    }

    /// The read views over the tables (click ids and event names as the caller spells them).
    func source(clickIDText: @escaping @Sendable (Int, UInt64, Int64) -> String = { _, _, _ in "" },
                eventName: @escaping @Sendable (UInt32, Int) -> String = { _, _ in "" }) -> ExportSource {
        ExportSource(clicks: clicks, conversions: conversions, refusals: refusals, clickIDText: clickIDText, eventName: eventName)
    }
}
