// What one shared cap line costs when several loops take from it (issue 14): T threads each take
// N units from one `CapLineProbe` (the line every loop's clicks on one capped offer share) against
// T threads each on a line of its own, alternating the two in R rounds; prints ns per take (wall
// time until the last thread ends / N) and checks exactness (a shared cap of T*N/2 lets exactly
// T*N/2 pass however the threads race).
// Usage: swift build -c release --product CapFigures && .build/release/CapFigures [T=2] [N=2000000] [R=5]
import TrackstarServer
import FigureSupport
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let threads = arguments.count > 1 ? Int(arguments[1])! : 2
let takes = arguments.count > 2 ? Int(arguments[2])! : 2_000_000
let rounds = arguments.count > 3 ? Int(arguments[3])! : 5

/// One decimal place, without Foundation.
func tenths(_ x: Double) -> String { "\((x * 10).rounded() / 10)" }

/// Threads released together behind a barrier.
final class Team: @unchecked Sendable {  // the barrier is pthread's; body is immutable
    var barrier = pthread_barrier_t()
    let body: @Sendable (Int) -> Void
    init(threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
        self.body = body
        pthread_barrier_init(&barrier, nil, UInt32(threads + 1))
    }
}

final class Seat {
    let team: Team, index: Int
    init(_ team: Team, _ index: Int) { self.team = team; self.index = index }
}

/// Runs `body(thread)` on `threads` threads released at once; ns from the release until the last ends.
func together(_ body: @escaping @Sendable (Int) -> Void) -> UInt64 {
    let team = Team(threads: threads, body)
    var handles: [pthread_t] = []
    for t in 0..<threads {
        var handle = pthread_t()
        pthread_create(&handle, nil, { raw in
            let seat = Unmanaged<Seat>.fromOpaque(raw!).takeRetainedValue()
            pthread_barrier_wait(&seat.team.barrier)
            seat.team.body(seat.index)
            return nil
        }, Unmanaged.passRetained(Seat(team, t)).toOpaque())
        handles.append(handle)
    }
    pthread_barrier_wait(&team.barrier)
    let start = nowNanos()
    for handle in handles { pthread_join(handle, nil) }
    return nowNanos() - start
}

/// Per-thread counts, 128 bytes apart.
final class Passed: @unchecked Sendable {
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: 64 * 16)
    init() { counts.initialize(repeating: 0, count: 64 * 16) }
}

print("CapFigures: \(threads) threads x \(takes) takes, \(rounds) rounds, one shared line against one line per thread")
var sharedSum: UInt64 = 0, ownSum: UInt64 = 0
for round in 1...rounds {
    // Shared: every thread takes from one line (limit above what they take: every take succeeds).
    let shared = CapLineProbe(limit: UInt64(threads * takes) + 1)
    let sharedNanos = together { _ in for _ in 0..<takes { _ = shared.take() } }
    precondition(shared.used == UInt64(threads * takes))
    // Own: each thread its own line.
    let own = (0..<threads).map { _ in CapLineProbe(limit: UInt64(takes) + 1) }
    let ownNanos = together { t in let line = own[t]; for _ in 0..<takes { _ = line.take() } }
    let perShared = Double(sharedNanos) / Double(takes), perOwn = Double(ownNanos) / Double(takes)
    print("round \(round): shared \(tenths(perShared)) ns/take, own \(tenths(perOwn)) ns/take, ratio \(tenths(perShared / perOwn))")
    sharedSum += sharedNanos; ownSum += ownNanos
}
print("mean: shared \(tenths(Double(sharedSum) / Double(rounds * takes))) ns/take, own \(tenths(Double(ownSum) / Double(rounds * takes))) ns/take, "
      + "ratio \(tenths(Double(sharedSum) / Double(ownSum)))")

// Exactness under the same race: a shared cap of half what the threads try passes exactly that many.
let limit = UInt64(threads * takes / 2)
let capped = CapLineProbe(limit: limit)
let passed = Passed()
_ = together { t in var n = 0; for _ in 0..<takes where capped.take() { n += 1 }; passed.counts[t * 16] = n }
let total = (0..<threads).reduce(0) { $0 + passed.counts[$1 * 16] }
print("exactness: cap \(limit), \(threads * takes) tries, \(total) passed")
precondition(UInt64(total) == limit, "a shared cap let a different number pass")
