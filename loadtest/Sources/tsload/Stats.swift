// What one worker measured inside the window, split by request kind; workers' stats are merged at the end.
import Histogram

/// Latencies in nanoseconds up to one minute, three significant digits.
func makeHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

/// Counters and a latency histogram for one kind.
struct KindStats {
    var completed: UInt64 = 0
    /// Answers whose status is not the one the kind expects from Trackstar.
    var unexpected: UInt64 = 0
    /// Requests lost with their connection.
    var errors: UInt64 = 0
    /// Open loop: requests due in the window and not answered by its end (recorded at their age then).
    var unfinished: UInt64 = 0
    var statuses = [UInt64](repeating: 0, count: 600)
    var latency = makeHistogram()

    mutating func merge(_ other: KindStats) {
        completed += other.completed
        unexpected += other.unexpected
        errors += other.errors
        unfinished += other.unfinished
        for i in statuses.indices { statuses[i] += other.statuses[i] }
        latency.add(other.latency)
    }
}

/// Everything one worker measured.
struct WorkerStats {
    var kinds = [KindStats](repeating: KindStats(), count: RequestKind.count)
    /// Open loop: how late each request left against its intended send time (the generator's own lag).
    var sendLag = makeHistogram()
    /// Clicks answered with a click ID over the whole run (warm-up and minting included): stored clicks.
    var mintedTotal: UInt64 = 0
    var reconnects: UInt64 = 0
    var malformedResponses: UInt64 = 0

    /// Records one answer inside the window.
    @inline(__always)
    mutating func record(_ kind: RequestKind, status: Int, latency: UInt64) {
        let k = kind.rawValue
        kinds[k].completed &+= 1
        kinds[k].statuses[status < 600 ? status : 0] &+= 1
        if !kind.expects(status) { kinds[k].unexpected &+= 1 }
        _ = kinds[k].latency.record(min(max(latency, 1_000), 60_000_000_000))
    }

    /// Records a request still unanswered when the window closed, at its age then.
    mutating func recordUnfinished(_ kind: RequestKind, age: UInt64) {
        kinds[kind.rawValue].unfinished &+= 1
        _ = kinds[kind.rawValue].latency.record(min(max(age, 1_000), 60_000_000_000))
    }

    mutating func merge(_ other: WorkerStats) {
        for i in kinds.indices { kinds[i].merge(other.kinds[i]) }
        sendLag.add(other.sendLag)
        mintedTotal += other.mintedTotal
        reconnects += other.reconnects
        malformedResponses += other.malformedResponses
    }
}
