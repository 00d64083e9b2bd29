// When each pending postback is next due: swift-collections' `Heap` of (due time, conversion id),
// read by the dispatcher's tick. An entry whose job has since been rescheduled or has ended is
// stale and skipped when it comes up, so rescheduling never has to find and remove the old entry.
import HeapModule

/// A job's place in the due-time order: earlier due time first; for the same time, the lower
/// conversion id (within a shard, the one planned first).
struct DueEntry: Comparable {
    let dueMillis: Int64
    let conversionID: UInt64

    static func < (a: DueEntry, b: DueEntry) -> Bool {
        (a.dueMillis, a.conversionID) < (b.dueMillis, b.conversionID)
    }
}

/// The pending postbacks by due time (loop thread only).
struct DueSchedule {
    private var heap = Heap<DueEntry>()

    /// Entries held, stale ones included.
    var count: Int { heap.count }

    /// Adds an entry; an older entry of the same job stays until it comes up and is found stale.
    mutating func schedule(_ conversionID: UInt64, at dueMillis: Int64) {
        heap.insert(DueEntry(dueMillis: dueMillis, conversionID: conversionID))
    }

    /// Removes the next entry due at or before `now` whose time is still its job's (`currentDue`
    /// gives a pending job's due time, nil for a job no longer pending) and returns its conversion
    /// id; stale entries on the way are dropped. Nil once nothing more is due.
    mutating func popDue(now: Int64, currentDue: (UInt64) -> Int64?) -> UInt64? {
        while let next = heap.min, next.dueMillis <= now {
            heap.removeMin()
            if currentDue(next.conversionID) == next.dueMillis { return next.conversionID }
        }
        return nil
    }
}
