// Whether this node should receive traffic (/readyz): recovery done, every loop running, storage
// accepting writes, not shutting down. Written by the main thread and the loops, read by the admin loop.
import Atomics
import TrackstarCore

/// The node's life cycle as /readyz reports it. Every field is an atomic; relaxed ordering is enough
/// because each is a self-contained fact that no other memory depends on.
final class Readiness: Sendable {
    enum Phase: Int {
        /// Opening the data dir and verifying every record.
        case recovering
        /// Recovered; the loops are being started.
        case starting
        /// `start` returned: serving once every loop has checked in.
        case serving
        /// SIGTERM: draining connections, final snapshot.
        case stopping
    }

    /// How long after a failed append the node stays unready (the 503's `Retry-After`).
    static let storageFailureWindowMillis: Int64 = 5000

    let loops: Int
    private let phase = ManagedAtomic<Int>(Phase.recovering.rawValue)
    private let loopsRunning = ManagedAtomic<Int>(0)

    init(loops: Int) { self.loops = loops }

    func enter(_ next: Phase) { phase.store(next.rawValue, ordering: .relaxed) }

    /// Called on each loop's own thread once it runs (posted through its mailbox at start).
    func loopIsRunning() { loopsRunning.wrappingIncrement(ordering: .relaxed) }

    /// Nil when ready; otherwise a short reason. `lastStorageFailureMillis` is the engine's (0: none).
    func notReadyReason(lastStorageFailureMillis: Int64?, nowMillis: Int64, writesStopped: Bool = false) -> String? {
        switch Phase(rawValue: phase.load(ordering: .relaxed)) ?? .recovering {
        case .recovering: return "recovering"
        case .starting: return "starting"
        case .stopping: return "stopping"
        case .serving: break
        }
        let running = loopsRunning.load(ordering: .relaxed)
        if running < loops { return "starting: \(running) of \(loops) loops running" }
        if writesStopped {
            return "storage_sync_failed: writes are stopped after a failed fsync; check the disk and restart"
        }
        if let failed = lastStorageFailureMillis, failed > 0, nowMillis - failed < Readiness.storageFailureWindowMillis {
            return "storage_unavailable: a record could not be stored in the last \(Readiness.storageFailureWindowMillis / 1000) s"
        }
        return nil
    }
}
