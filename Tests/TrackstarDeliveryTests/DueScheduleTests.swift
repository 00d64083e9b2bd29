// The dispatcher's due-time order (`DueSchedule`, over swift-collections' `Heap`): what comes up
// when, what a tie gives, and that stale entries are passed over. These rules were implicit in the
// hand-written heap the dispatcher had before.
import Testing
@testable import TrackstarDelivery

@Suite("due schedule")
struct DueScheduleTests {
    /// Pops everything due by `now`, with `pending` as the jobs' current due times.
    static func drain(_ schedule: inout DueSchedule, now: Int64, pending: [UInt64: Int64]) -> [UInt64] {
        var taken: [UInt64] = []
        while let id = schedule.popDue(now: now, currentDue: { pending[$0] }) { taken.append(id) }
        return taken
    }

    @Test func entriesComeUpByDueTimeAndOnlyOnceDue() {
        var schedule = DueSchedule()
        let pending: [UInt64: Int64] = [1: 300, 2: 100, 3: 200, 4: 500]
        for (id, time) in pending { schedule.schedule(id, at: time) }
        // An entry due exactly now is due; one a millisecond later is not.
        #expect(Self.drain(&schedule, now: 299, pending: pending) == [2, 3])
        #expect(Self.drain(&schedule, now: 300, pending: pending) == [1])
        #expect(Self.drain(&schedule, now: 499, pending: pending) == [])
        #expect(schedule.count == 1)
        #expect(Self.drain(&schedule, now: .max, pending: pending) == [4])
    }

    @Test func aTieGoesToTheLowerConversionID() {
        // The hand-written heap left ties in whatever order its swaps made (for three entries pushed
        // at one time: first, third, second); the order is now the conversion id, i.e. planning order.
        var schedule = DueSchedule()
        let ids: [UInt64] = [7, 3, 9, 1, 5, 8, 2]
        var pending: [UInt64: Int64] = [:]
        for id in ids { pending[id] = 1000; schedule.schedule(id, at: 1000) }
        #expect(Self.drain(&schedule, now: 1000, pending: pending) == ids.sorted())
    }

    @Test func staleEntriesArePassedOver() {
        var schedule = DueSchedule()
        schedule.schedule(1, at: 100)
        schedule.schedule(2, at: 100)
        schedule.schedule(3, at: 150)
        // Job 1 was rescheduled to 400 (a retry's backoff): its entry at 100 is stale. Job 2 ended
        // (delivered), so it is no longer pending. Job 3 was moved earlier, to 50.
        schedule.schedule(1, at: 400)
        schedule.schedule(3, at: 50)
        let pending: [UInt64: Int64] = [1: 400, 3: 50]
        #expect(Self.drain(&schedule, now: 200, pending: pending) == [3])
        #expect(schedule.count == 1)  // the stale entries are gone, job 1's current one remains
        #expect(Self.drain(&schedule, now: 400, pending: pending) == [1])
        #expect(schedule.count == 0)
    }

    @Test func aJobScheduledTwiceForOneTimeComesUpTwice() {
        // As before: both entries match the job's due time. The dispatcher's ready queue may then hold
        // the id twice; the second start finds the attempt running (or the job ended) and does nothing.
        var schedule = DueSchedule()
        schedule.schedule(4, at: 10)
        schedule.schedule(4, at: 10)
        #expect(Self.drain(&schedule, now: 10, pending: [4: 10]) == [4, 4])
    }
}
