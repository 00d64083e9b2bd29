// Page-aligned memory from mmap, the home of every shard and index: zero-filled, touched lazily,
// never moved, so readers on other threads may keep pointers into it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Anonymous private mappings; the one place this module calls mmap and munmap.
enum MappedMemory {
    /// Maps `bytes` of zeroed memory, or nil if the kernel refuses (the caller reports it).
    static func allocate(bytes: Int, hugePages: Bool = false) -> UnsafeMutableRawPointer? {
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { return nil }
        // Transparent huge pages where the kernel allows them (THP "madvise" or "always"): one TLB
        // entry covers 2 MiB instead of 4 KiB, and a fault fills 2 MiB at a time. Advice only.
        if hugePages { _ = madvise(p, bytes, 14 /* MADV_HUGEPAGE */) }
        return p
    }

    static func release(_ base: UnsafeMutableRawPointer, bytes: Int) {
        munmap(base, bytes)
    }
}
