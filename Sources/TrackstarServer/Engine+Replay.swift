// After the logs are recovered (TrackstarStore's `Recovery`): rebuild the conversion index and the
// conversions' state words by replaying the conversion logs, within the offers' windows.
import TrackstarCore
import TrackstarStore

extension Engine {
    /// Rebuilds the conversion index (order ids and click+event pairs) from every conversion log,
    /// skipping keys whose expiry has passed (see `OfferRuntime.keyExpiry`). Starts at each log's
    /// first segment still on disk: retired conversions hold no live key (`conversionCutoff`), so
    /// the work follows the live window, not the history.
    func replayConversions(nowMillis: Int64 = WallClock.nowMillis()) throws(StartupError) {
        let catalog = self.catalog
        resetConversionStates()
        index.enter(indexRecoveryParticipant)
        defer { index.leave(indexRecoveryParticipant) }
        for (shard, table) in conversions.enumerated() {
            var sequence = table.retiredCount
            while sequence < table.reservedCount {
                defer { sequence += 1 }
                guard let record = table.record(sequence) else { continue }  // quarantined
                if ConversionRecord.kind(record) == .transition { replayTransition(record); continue }
                let id = Engine.conversionID(shard: shard, sequence: sequence)
                let clickRef = ConversionRecord.clickRef(record)
                let clickShard = UInt8(clickRef >> 40), clickSequence = clickRef & ClickID.maxSequence
                let expires = keyExpiry(record, clickShard: clickShard, clickSequence: clickSequence, catalog: catalog)
                guard expires >= nowMillis else { continue }
                try restoreKey(Engine.eventKey(shard: clickShard, sequence: clickSequence, event: ConversionRecord.event(record)),
                               id: id, expires: expires, nowMillis: nowMillis)
                let txid = ConversionRecord.txidHash(record)
                if txid != 0 {
                    try restoreKey(txidKey(offer: ConversionRecord.offerID(record), txidHash: txid), id: id, expires: expires, nowMillis: nowMillis)
                }
            }
        }
    }

    /// Sets every conversion's state word back to "as recorded": a word the crash left changed (or
    /// `busy`) without its transition record in the log is undone; `replayTransition` redoes the rest.
    func resetConversionStates() {
        for table in conversions {
            var sequence = table.retiredCount
            while sequence < table.reservedCount {
                defer { sequence += 1 }
                guard let record = table.record(sequence), ConversionRecord.kind(record) == .conversion else { continue }
                // Relaxed: recovery runs before any loop starts; the loops' start orders it before them.
                ConversionRecord.state(record).store(0, ordering: .relaxed)
            }
        }
    }

    /// Applies a logged transition to its conversion's state word: the highest version wins, so the
    /// order in which shards' logs are read does not matter (each version was won by one update).
    func replayTransition(_ transition: UnsafeRawPointer) {
        guard let conversion = conversionRecord(TransitionRecord.conversionID(transition)),
              ConversionRecord.kind(conversion) == .conversion else { return }
        let word = ConversionRecord.state(conversion)
        // Relaxed: single-threaded here, as above.
        let current = ConversionState(word: word.load(ordering: .relaxed), recorded: ConversionRecord.status(conversion))
        let next = TransitionRecord.state(transition)
        if next.version > current.version { word.store(next.word, ordering: .relaxed) }
    }

    /// The keys' expiry as the loop computed it; the click's mint time is read from its slot while
    /// the slot exists (a retired click is past every lifetime, so only the order-id window counts).
    func keyExpiry(_ record: UnsafeRawPointer, clickShard: UInt8, clickSequence: UInt64, catalog: Catalog) -> Int64 {
        let time = ConversionRecord.timeMillis(record)
        let mint = Int(clickShard) < clicks.count ? clicks[Int(clickShard)].record(clickSequence).map { ClickSlot.mintMillis($0) } ?? 0 : 0
        guard let offer = catalog.offer(ConversionRecord.offerID(record)) else {
            return max(time + config.storage.txidWindowMillis, mint + catalog.maxLifetimeMillis)
        }
        return offer.keyExpiry(nowMillis: time, mintMillis: mint)
    }

    /// Points `key` at conversion `id` unless an earlier conversion holds it (multiple_conversions);
    /// grows the index in place when its newest generation is full.
    func restoreKey(_ key: UInt64, id: UInt64, expires: Int64, nowMillis: Int64) throws(StartupError) {
        for _ in 0..<3 {
            switch index.claim(key, expiresMillis: expires) {
            case .claimed(let entry): index.publish(entry: entry, value: id); return
            case .existing: return
            case .full:
                if let refusal = index.maintain(nowMillis: nowMillis).refusal { throw StartupError("during recovery: \(refusal)") }
            }
        }
        throw StartupError("the conversion index could not grow during recovery; raise storage.max_conversions")
    }
}
