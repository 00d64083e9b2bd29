// The archive's index of failed postbacks, so that a retry request never reads the archive: each
// compaction writes, into the generation it makes, every postback that had failed for good and was
// not queued again by then, sorted by conversion id, with the URL to send again. A retry by
// conversion id is a binary search (O(log n) records read); other selections read the index once,
// which holds the failures only. It is written before the generation switch, so the crash argument
// of DeliveryCompaction covers it (an unnamed generation's index goes with its directory).
import TrackstarCore
import TrackstarStore

/// A generation's index of failed postbacks: `gen-N/failed-NNNNNN.rec/.bytes` (one record per
/// postback, ascending conversion ids) and `gen-N/failed.count` (how many). Each record: kind
/// `attempt`, carried, the final outcome, time = when it failed, the affiliate, the endpoint, and as
/// detail the URL its failed attempts used.
public struct FailedIndex {
    let table: DeliveryLog?
    /// Failed postbacks in the index.
    public let count: UInt64
    /// Records read so far (what a test counts to see a lookup stay logarithmic).
    public private(set) var reads = 0

    static let name = "failed"

    init(table: DeliveryLog?, count: UInt64) { self.table = table; self.count = count }

    static func countPath(_ generationDirectory: String) -> String { generationDirectory + "/failed.count" }

    /// The index of `generation` (in `directory`, `data_dir/deliveries`): empty for generation 0 (no
    /// archive yet), nil when a release before the index compacted the log (the caller replays the
    /// history instead, until the next compaction writes one).
    public static func open(directory: String, generation: DeliveryGeneration) throws(StoreError) -> FailedIndex? {
        guard generation.number > 0 else { return FailedIndex(table: nil, count: 0) }
        let generationDirectory = DeliveryGeneration.tableDirectory(directory, number: generation.number)
        let path = countPath(generationDirectory)
        guard let text = try DeliveryGeneration.readLine(path) else { return nil }
        guard let count = UInt64(text) else { throw StoreError("\(path): expected a count, got \"\(text)\"; the file is damaged") }
        let table = try DeliveryLog(directory: directory, tableDirectory: generationDirectory, generation: generation, lock: nil, name: name)
        table.restore(count: count, byteEnd: 0)  // read only: written whole and synced before the switch
        return FailedIndex(table: table, count: count)
    }

    /// The index of the generation `live` is.
    public static func open(of live: DeliveryLog) throws(StoreError) -> FailedIndex? {
        try open(directory: live.directory, generation: live.archiveExtent)
    }

    mutating func read(_ sequence: UInt64) -> FailedJob? {
        reads += 1
        guard let entry = table?.entry(at: sequence), let outcome = entry.record.outcome else { return nil }
        return FailedJob(conversionID: entry.record.conversionID, affID: entry.record.affID, endpoint: entry.endpoint,
                         url: entry.detail, failedAtMillis: entry.record.timeMillis, outcome: outcome)
    }

    /// The failed postback of conversion `id`, found by binary search.
    public mutating func job(_ id: UInt64) -> FailedJob? {
        var low: UInt64 = 0, high = count
        while low < high {
            let middle = low + (high - low) / 2
            guard let job = read(middle) else { return nil }
            if job.conversionID == id { return job }
            if job.conversionID < id { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// Calls `body` with every failed postback, in ascending conversion id; stops when it returns false.
    public mutating func forEach(_ body: (FailedJob) -> Bool) {
        var sequence: UInt64 = 0
        while sequence < count {
            if let job = read(sequence), !body(job) { return }
            sequence += 1
        }
    }

    /// Writes generation `generation`'s index (in `directory`, with the writer's `lock`) from
    /// `jobs`, which calls its argument with each failed postback in ascending conversion id (and
    /// returns false if that refused). Synced, count file last. Returns the count.
    static func write(directory: String, generation: DeliveryGeneration, lock: DeliveryLock,
                      _ jobs: ((FailedJob) -> Bool) -> Bool) throws(StoreError) -> UInt64 {
        let generationDirectory = DeliveryGeneration.tableDirectory(directory, number: generation.number)
        let table = try DeliveryLog(directory: directory, tableDirectory: generationDirectory, generation: generation, lock: lock, name: name)
        var last: UInt64 = 0
        let written = jobs { job in
            precondition(job.conversionID > last, "the failed index is written in ascending conversion id")
            last = job.conversionID
            var record = DeliveryRecord(kind: .attempt, conversionID: job.conversionID, timeMillis: job.failedAtMillis)
            record.carried = true
            record.affID = job.affID
            record.outcome = job.outcome
            return table.append(record, endpoint: job.endpoint, detail: job.url)
        }
        guard written else { throw StoreError("delivery log: cannot write the failed index of generation \(generation.number) (disk full?)") }
        if let error = table.sync() { throw error }
        if let error = DeliveryGeneration.writeLine(String(table.count), to: countPath(generationDirectory), directory: generationDirectory) {
            throw error
        }
        return table.count
    }

    /// The failed postbacks of the next index, in ascending conversion id: this index's (`old`; nil
    /// for none) less those queued again in the live generation, merged with those that failed in it
    /// (`ledger.failedJobs`), and without those that failed before `cutoffMillis` (archive retention).
    /// `legacy` (instead of `old`): every failed postback of the history, when the archive has no index.
    static func merged(old: FailedIndex?, legacy: [FailedJob]?, ledger: DeliveryLedger, cutoffMillis: Int64,
                       _ emit: (FailedJob) -> Bool) -> Bool {
        var fresh = legacy ?? Array(ledger.failedJobs.values)
        fresh.sort { $0.conversionID < $1.conversionID }
        fresh.removeAll { $0.failedAtMillis < cutoffMillis }
        var next = 0
        var ok = true
        if var old {
            old.forEach { job in
                while next < fresh.count && fresh[next].conversionID < job.conversionID {
                    ok = emit(fresh[next]); next += 1
                    if !ok { return false }
                }
                if next < fresh.count && fresh[next].conversionID == job.conversionID { return true }  // failed again: the new one
                guard job.failedAtMillis >= cutoffMillis, !ledger.requeuedSinceCompaction.contains(job.conversionID),
                      ledger.pending[job.conversionID] == nil else { return true }
                ok = emit(job)
                return ok
            }
        }
        while ok && next < fresh.count { ok = emit(fresh[next]); next += 1 }
        return ok
    }
}
