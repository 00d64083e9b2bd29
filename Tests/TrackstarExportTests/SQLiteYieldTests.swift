// The exporter gives its core back while it works (issue 19 item 3): the yield clock every part of it
// looks at, and the SQLite VFS that yields and starts write-back in steps during a COMMIT's I/O.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport

@Suite struct SQLiteYieldTests {
    /// Once an exporter has started, a block of a few MB (SQLite's record of a click block) comes from
    /// the heap, not from a mapping of its own whose pages are faulted in and zeroed each time. Other
    /// tests' threads may map a block of their own at the same moment, so any one of three tries will do.
    @Test func anExportersLargeBlocksComeFromTheHeap() {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let exporter = Exporter(sink: SQLiteSink(path: SQLiteSink.path(dataDir: dir)), source: TestLogs(shards: 1).source(),
                                batchRows: 10, batchAgeMillis: 10)
        exporter.start()
        defer { exporter.stop() }
        let size = 4 << 20
        let mappedEachTime = (0..<3).allSatisfy { _ in
            let before = Exporter.mallocMappedBytes
            let block = malloc(size)
            let after = Exporter.mallocMappedBytes
            free(block)
            return after - before >= size
        }
        #expect(!mappedEachTime, "a \(size)-byte block got a mapping of its own every time")
    }

    func monotonicNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// After a yield, the next one comes only once 200 µs have passed (never sooner, however often
    /// the clock is looked at), and it does come.
    @Test func theClockYieldsOnlyWhenDue() {
        let before = BackgroundPriority.yieldsIfDue
        var yielded: UInt64 = 0  // taken before the call that yielded: no later than its clock
        while true {
            let now = monotonicNanos()
            if BackgroundPriority.yieldIfDue() { yielded = now; break }
        }
        var looks = 0
        while !BackgroundPriority.yieldIfDue() { looks += 1 }
        #expect(monotonicNanos() - yielded >= 200_000)
        #expect(looks > 0)
        #expect(BackgroundPriority.yieldsIfDue >= before + 2)
    }

    /// A database written through the yielding VFS: a transaction of several MiB starts write-back
    /// in steps, and the same rows are read back through SQLite's default VFS after a reopen (the
    /// VFS changes when I/O happens, never what is written).
    @Test func theVFSWritesBackInStepsAndKeepsEveryByte() throws {
        let vfs = try #require(SQLiteDatabase.yieldingVFS)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/y.sqlite"
        let writeBacks = SQLiteDatabase.yieldingVFSWriteBacks, gathered = SQLiteDatabase.yieldingVFSGatheredWrites
        do {
            let db = try SQLiteDatabase(path: path, vfs: vfs)
            try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            try db.execute("BEGIN; WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 4096) "
                           + "INSERT INTO t SELECT k, randomblob(1040) FROM n; COMMIT")
        }
        #expect(SQLiteDatabase.yieldingVFSWriteBacks >= writeBacks + 3)  // > 4 MiB of WAL, a step per MiB
        // In WAL mode the database file does not gather (the closing checkpoint wrote > 1,000 pages;
        // a page or two may be gathered while the new file is made, before it is in WAL mode).
        #expect(SQLiteDatabase.yieldingVFSGatheredWrites - gathered < 16)
        let reader = try SQLiteDatabase(path: path)
        #expect(try reader.rows("SELECT count(*), sum(length(v)) FROM t").first == ["4096", String(4096 * 1040)])
        #expect(try reader.rows("PRAGMA integrity_check").first == ["ok"])
    }

    /// The VFS gathers a COMMIT's runs of page writes into larger writes; what it leaves on disk is
    /// byte for byte what SQLite's default VFS leaves for the same statements, and reads in the middle
    /// of a transaction (a cache of 50 pages, so pages are spilled to the file and read back) see every
    /// write made before them. Rows are updated, deleted and indexed, so writes also land out of order.
    @Test func gatheredWritesLeaveTheSameFileAsTheDefaultVFS() throws {
        let vfs = try #require(SQLiteDatabase.yieldingVFS)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        func build(_ path: String, vfs: String?, cachePages: Int = 50) throws -> [[String?]] {
            let db = try SQLiteDatabase(path: path, vfs: vfs)
            try db.execute("PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = FULL; PRAGMA cache_size = \(cachePages); "
                           + "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX tv ON t (v)")
            var seen: [[String?]] = []
            for batch in 0..<4 {
                let first = batch * 3000 + 1, last = first + 2999
                try db.execute("BEGIN; WITH RECURSIVE n(k) AS (SELECT \(first) UNION ALL SELECT k + 1 FROM n WHERE k < \(last)) "
                               + "INSERT INTO t SELECT k, replace(hex(zeroblob(300 + k % 200)), '00', printf('%02x', k % 251)) FROM n; "
                               + "UPDATE t SET v = v || 'x' WHERE k % 7 = \(batch); DELETE FROM t WHERE k % 11 = \(batch)")
                seen += try db.rows("SELECT count(*), sum(length(v)), sum(k), (SELECT count(*) FROM t WHERE v > 'F') FROM t")
                try db.execute("COMMIT")
            }
            seen += try db.rows("PRAGMA integrity_check")
            return seen
        }
        let gatheredPath = dir + "/gathered.sqlite", plainPath = dir + "/plain.sqlite"
        let reservations = SQLiteDatabase.yieldingVFSReservations
        let throughVFS = try build(gatheredPath, vfs: vfs)
        let plain = try build(plainPath, vfs: nil)
        #expect(throughVFS == plain)
        #expect(plain.last == ["ok"])
        let a = try readWholeFile(gatheredPath), b = try readWholeFile(plainPath)
        #expect(a.count == b.count && a.count > 8 << 20)
        #expect(a == b, "the files differ")
        // The same bytes and size, but the VFS's file has its next MiBs allocated past its end
        // (`fallocate` keeping the size), reserved as it grew; the default VFS's file has none.
        #expect(SQLiteDatabase.yieldingVFSReservations > reservations)
        let (reserved, plainAllocated) = (try extent(gatheredPath).pastEnd, try extent(plainPath).pastEnd)
        #expect(reserved >= 1 << 20 && reserved <= 9 << 20, "\(reserved) bytes allocated past the end")
        #expect(plainAllocated < 1 << 20, "\(plainAllocated) bytes allocated past the end of the default VFS's file")
        // With a cache that holds a batch (no spills), a COMMIT's page writes go out in runs of many
        // pages (the counters are this thread's, which runs the statements).
        let gathered = SQLiteDatabase.yieldingVFSGatheredWrites, runs = SQLiteDatabase.yieldingVFSRunsWritten
        #expect(try build(dir + "/large-cache.sqlite", vfs: vfs, cachePages: 10_000) == plain)
        let gatheredNow = SQLiteDatabase.yieldingVFSGatheredWrites - gathered, runsNow = SQLiteDatabase.yieldingVFSRunsWritten - runs
        #expect(gatheredNow >= 2_000 && gatheredNow >= 8 * runsNow, "\(gatheredNow) page writes in \(runsNow) runs")
    }

    /// A transaction that grew the file and rolled back cuts it back to its old size, and the truncate
    /// frees the blocks reserved past the old end too: the VFS reserves again from the new end, so the
    /// file's next growth lands in reserved space again.
    @Test func aFileCutBackByARollbackIsReservedAgain() throws {
        let vfs = try #require(SQLiteDatabase.yieldingVFS)
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/cut.sqlite"
        let db = try SQLiteDatabase(path: path, vfs: vfs)
        try db.execute("PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = FULL; PRAGMA cache_size = 50; "
                       + "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        // ~20 MiB in one transaction with a 50-page cache: its pages are spilled to the file, then rolled back.
        try db.execute("BEGIN; WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 20000) "
                       + "INSERT INTO t SELECT k, randomblob(1000) FROM n")
        #expect(try extent(path).size > 16 << 20)
        try db.execute("ROLLBACK")
        #expect(try extent(path).size < 1 << 20)
        try db.execute("INSERT INTO t VALUES (1, randomblob(200000))")
        let reserved = try extent(path).pastEnd
        #expect(reserved >= 1 << 20 && reserved <= 9 << 20, "\(reserved) bytes allocated past the end after the file grew again")
        #expect(try db.rows("SELECT count(*), sum(length(v)) FROM t").first == ["1", "200000"])
    }

    /// `path`'s size, and the bytes of disk it holds past that size.
    func extent(_ path: String) throws -> (size: Int, pastEnd: Int) {
        var st = stat()
        try #require(stat(path, &st) == 0)
        return (Int(st.st_size), Int(st.st_blocks) * 512 - Int(st.st_size))
    }

    func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            try #require(n >= 0)
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }
}
