// The two queues a connection keeps: requests in flight (answered in order, HTTP/1.1 pipelining) and
// postbacks waiting to be sent for IDs it minted (flood).

/// One request on the wire.
struct InFlight {
    var kind: RequestKind
    /// Intended send time (open loop) or actual send time (closed loop), `uv_hrtime` nanoseconds.
    var intended: UInt64
    /// Click: its offer. Postback: the ID's slot.
    var info: Int32
}

/// A fixed-capacity ring of requests in flight, oldest first.
struct InFlightRing {
    var items: [InFlight]
    var head = 0
    var count = 0

    init(capacity: Int) {
        items = [InFlight](repeating: InFlight(kind: .click, intended: 0, info: 0), count: capacity)
    }

    var capacity: Int { items.count }
    var front: InFlight { items[head] }

    @inline(__always)
    mutating func push(_ item: InFlight) {
        var tail = head + count
        if tail >= items.count { tail -= items.count }
        items[tail] = item
        count += 1
    }

    @inline(__always)
    mutating func pop() -> InFlight {
        let item = items[head]
        head = head + 1 == items.count ? 0 : head + 1
        count -= 1
        return item
    }

    mutating func removeAll() { head = 0; count = 0 }
}

/// A postback waiting to be sent: its kind and the slot of the ID it is about.
struct PendingPostback {
    var kind: RequestKind
    var slot: Int32
}

/// FIFO of pending postbacks; the consumed prefix is dropped now and then.
struct PendingQueue {
    var items: [PendingPostback] = []
    var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func push(_ item: PendingPostback) { items.append(item) }

    mutating func pop() -> PendingPostback? {
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        else if head >= 4096 && head * 2 >= items.count { items.removeFirst(head); head = 0 }
        return item
    }
}
