// Replaying refused postbacks (issue 17): once a profile is fixed (a status word added, a name
// mapped), the refusals it caused are sent again, as they arrived, through the server's own
// /postback, so every rule applies and the index keeps it exactly-once: a replay run twice records once.
import TrackstarCore
import TrackstarExport
import TrackstarStore
import TrackstarConfiguration

/// Selects refusals from a data directory (read-only) and resends them.
public enum RefusalReplay {
    /// One refused postback to send again.
    public struct Item: Sendable {
        public let ref: UInt64
        public let timeMillis: Int64
        public let offerID: UInt32
        /// The query string (and form body) as refused.
        public let params: String
    }

    /// The postback refusals of `reason` in [from, to) (milliseconds; nil: unbounded), oldest first.
    public static func select(dataDir: String, reason: RefusalReason, fromMillis: Int64?, toMillis: Int64?) -> Result<[Item], InspectionError> {
        let opened: ReadOnlyDataDir
        switch ReadOnlyDataDir.open(dataDir) {
        case .success(let dir): opened = dir
        case .failure(let error): return .failure(InspectionError("\(error)"))
        }
        let shards = opened.shards, refusals = opened.refusals
        let source = opened.source()
        var items: [Item] = []
        for shard in 0..<shards {
            for sequence in 0..<refusals[shard].reservedCount {
                guard let row = source.refusal(shard: shard, sequence: sequence), row.reason == reason,
                      fromMillis.map({ row.timeMillis >= $0 }) ?? true, toMillis.map({ row.timeMillis < $0 }) ?? true else { continue }
                items.append(Item(ref: row.ref, timeMillis: row.timeMillis, offerID: row.offerID,
                                  params: String(decoding: row.params, as: UTF8.self)))
            }
        }
        return .success(items.sorted { ($0.timeMillis, $0.ref) < ($1.timeMillis, $1.ref) })
    }

    /// The query to send for `item`. An offer with `multiple_conversions` records every postback
    /// without an order id, so one gets `replay-SHARD-SEQUENCE` (the refusal's own, stable) under its
    /// profile's txid name: the second replay of it is then a duplicate, not a second conversion.
    public static func query(_ item: Item, config: TrackstarConfig) -> String {
        guard let offer = config.offers.first(where: { $0.id == item.offerID }), offer.multipleConversions else { return item.params }
        let profileName = offer.postbackProfile ?? config.server.postbackProfile
        guard let profile = PostbackProfiles.all(config.postbackProfiles).first(where: { $0.name == profileName }),
              let txidName = profile.names(.txid).first else { return item.params }
        let present = Set(item.params.split(separator: "&").map { String($0.split(separator: "=", maxSplits: 1).first ?? "") })
        if !Set(profile.names(.txid)).isDisjoint(with: present) { return item.params }
        return item.params + "&\(txidName)=replay-\(item.ref >> 40)-\(item.ref & ClickID.maxSequence)"
    }
}
