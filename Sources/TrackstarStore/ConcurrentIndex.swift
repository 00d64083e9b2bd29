// A lock-free open-addressing map from 64-bit keys to 64-bit values, shared by all loops. It makes
// "exactly one conversion" true: the first loop to claim a key with compare-and-swap owns it, and
// every later claimant reads the owner's published value instead of recording again.

import Atomics
#if canImport(Glibc)
import Glibc
#endif

/// Entries are 16 bytes: `key` (0 = empty) and `value` (0 = being written, `aborted` = released).
/// Invariants: a key, once set, never changes; only the claimant of a key writes its value until
/// it publishes or aborts; keys are never removed, so probing stops at the first empty entry.
public final class ConcurrentIndex: @unchecked Sendable {
    /// Value of an entry whose claimant gave up; the next claimant takes it over.
    public static let aborted = UInt64.max
    public let capacity: Int
    let mask: Int
    let entries: UnsafeMutableRawPointer
    /// Claimed entries, to refuse new keys before probe chains grow long.
    let used = ManagedAtomic<Int>(0)
    let limit: Int

    /// What `claim` found.
    public enum Claim: Equatable {
        /// The caller owns the key and must `publish` or `abort` the entry.
        case claimed(entry: Int)
        /// Another caller owns it and published `value`.
        case existing(entry: Int, value: UInt64)
        /// The index is at its configured fill limit.
        case full
    }

    /// - Parameter capacity: rounded up to a power of two; at most 7/8 of it is ever filled.
    public init?(capacity: Int) {
        var size = 1024
        while size < capacity { size <<= 1 }
        guard let memory = MappedMemory.allocate(bytes: size * 16, hugePages: true) else { return nil }
        self.capacity = size
        self.mask = size - 1
        self.entries = memory
        self.limit = size - size / 8
    }

    deinit { MappedMemory.release(entries, bytes: capacity * 16) }

    /// Entries claimed so far.
    public var count: Int { used.load(ordering: .relaxed) }

    @inline(__always)
    func keyWord(_ entry: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (entries + entry * 16).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    @inline(__always)
    func valueWord(_ entry: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (entries + entry * 16 + 8).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    /// Claims `key` (non-zero) or returns its owner's published value, waiting for a value that is
    /// being written; the wait is bounded by the owner's few instructions between claim and publish.
    public func claim(_ key: UInt64) -> Claim {
        precondition(key != 0)
        var entry = Int(truncatingIfNeeded: mix(key)) & mask
        while true {
            // Acquiring: if we see another claimant's key we will read its value after it.
            let seen = keyWord(entry).load(ordering: .acquiring)
            if seen == key { return settle(entry) }
            if seen == 0 {
                guard used.load(ordering: .relaxed) < limit else { return .full }
                // Acquiring-and-releasing: the winner's key store is ordered before its value store;
                // a loser learns the winner's key and falls into `settle`.
                let (exchanged, original) = keyWord(entry).compareExchange(
                    expected: 0, desired: key, ordering: .acquiringAndReleasing)
                if exchanged {
                    used.wrappingIncrement(ordering: .relaxed)
                    return .claimed(entry: entry)
                }
                if original == key { return settle(entry) }
            }
            entry = (entry + 1) & mask
        }
    }

    /// Looks `key` up without claiming it: its published value, or nil if absent or unsettled.
    public func lookup(_ key: UInt64) -> UInt64? {
        var entry = Int(truncatingIfNeeded: mix(key)) & mask
        for _ in 0..<capacity {
            let seen = keyWord(entry).load(ordering: .acquiring)
            if seen == 0 { return nil }
            if seen == key {
                let value = valueWord(entry).load(ordering: .acquiring)
                return value == 0 || value == ConcurrentIndex.aborted ? nil : value
            }
            entry = (entry + 1) & mask
        }
        return nil
    }

    /// Owner of a claimed entry: makes `value` (non-zero, not `aborted`) visible to every claimant.
    public func publish(entry: Int, value: UInt64) {
        precondition(value != 0 && value != ConcurrentIndex.aborted)
        // Releasing: whatever the value points at (a conversion record) was written before it.
        valueWord(entry).store(value, ordering: .releasing)
    }

    /// Owner of a claimed entry: gives it up; the next claimant of the key takes it over.
    public func abort(entry: Int) {
        valueWord(entry).store(ConcurrentIndex.aborted, ordering: .releasing)
    }

    /// Waits for the entry's value; takes over an aborted entry.
    func settle(_ entry: Int) -> Claim {
        var spins = 0
        while true {
            // Acquiring pairs with `publish`: the value's target is fully written.
            let value = valueWord(entry).load(ordering: .acquiring)
            if value == ConcurrentIndex.aborted {
                let (exchanged, _) = valueWord(entry).compareExchange(
                    expected: ConcurrentIndex.aborted, desired: 0, ordering: .acquiringAndReleasing)
                if exchanged { return .claimed(entry: entry) }
                continue
            }
            if value != 0 { return .existing(entry: entry, value: value) }
            spins += 1
            if spins > 64 { sched_yield() }  // the owner may be descheduled on a busy machine
        }
    }

    /// A bijective mixer (splitmix64's finaliser) so sequential keys spread over the table.
    @inline(__always)
    func mix(_ key: UInt64) -> UInt64 {
        var z = key
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
