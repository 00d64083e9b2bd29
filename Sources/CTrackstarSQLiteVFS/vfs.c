// The exporter's SQLite VFS (issue 19 item 3). A COMMIT writes the batch's pages to the WAL and a
// checkpoint copies them into the database, each as thousands of page writes and then one fsync,
// with no virtual-machine step in between (so the progress handler never runs). On a core shared with
// a click loop that the scheduler tick preempted for the idle-class exporter, that is milliseconds
// in which the loop waits for the next tick. This VFS forwards everything to the default one and:
//  - after each read, write and sync, gives the core away when due (`CTrackstar_yieldIfDue`);
//  - starts the write-back of a file's dirty pages every `writeBackStep` bytes written
//    (`CTrackstar_startWriteBack` on a descriptor of its own for the same file), so the
//    fsync at the end finds little left to submit: the submission, which runs on the caller's
//    time in the kernel, comes in bounded steps between yields instead of all at once.
//  - gathers the main database file's runs of consecutive page writes (a COMMIT writes its pages in
//    page order, and a batch's new pages are mostly one run at the end of the file) into one write of
//    up to `gatherBytes`: ext4 then caches them in large folios, and the kernel's buffered-write and
//    write-back path, paid once a folio, costs about a third of what it does a 4 KiB page (docs/performance.md).
//  - reserves the main database's space ahead of its end, `reserveBytes` at a time, with
//    `fallocate(FALLOC_FL_KEEP_SIZE)`: the blocks are allocated in one call instead of page by page
//    as delayed allocation at write-back, and the file's size and bytes are unchanged (a reservation
//    reads as nothing; at most `reserveBytes` + 1 MiB of disk is held past the end). Where the file
//    system cannot (or the disk is full), the file goes on without: space is then allocated as before.
// Durability is the default VFS's: the same bytes, the same syncs, in the same order. A gathered run
// is written out before anything else is done with its file (a read, a sync, its size, a truncate, a
// lock change, a file control, a close, a write that does not extend the run) and before anything is
// done with any other file on the same thread (so the journal is never finalized, nor another file
// touched, while a database write it must follow is still in memory): as far as any other file
// operation can tell, each write happened when SQLite made it. Only in rollback-journal mode: a file
// that maps WAL shared memory stops gathering. A connection's statements run on one
// thread (the exporter's), which is what makes the thread's last gathering file the one to write out.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "CTrackstarShims.h"
#include "CTrackstarSQLiteVFS.h"

enum { writeBackStep = 1 << 20, gatherBytes = 256 << 10, reserveBytes = 8 << 20 };

typedef struct YieldFile {
    sqlite3_file base;
    sqlite3_file *real;     // the default VFS's file, right after this struct
    int fd;                 // a descriptor of our own for the same file (-1: none), for write-back
    sqlite3_int64 written;  // bytes written since the last write-back started
    char *run;              // the gathered run (main database only; NULL: writes go straight through)
    int runBytes;           // bytes in `run`, 0 when nothing is gathered
    sqlite3_int64 runStart; // the run's offset in the file
    struct YieldFile **gatheredBy;  // the `gathering` of the thread that started the run
    sqlite3_int64 reserved; // the file's space is allocated up to here (-1: not reserving)
} YieldFile;

static sqlite3_vfs *defaultVfs;
static sqlite3_vfs yieldVfs;
static _Atomic unsigned long long writeBacks, reservations;
/// This thread's page writes gathered and runs written (for tests).
static __thread unsigned long long gatheredWrites, runsWritten;
/// The file on this thread with a run not yet written (at most one).
static __thread YieldFile *gathering;

#define REAL(f) (((YieldFile *)(f))->real)
#define METHODS(f) (REAL(f)->pMethods)

/// Counts `amount` bytes written to `p` and starts the file's write-back every `writeBackStep` bytes.
static void wrote(YieldFile *p, int amount) {
    if (p->fd >= 0 && (p->written += amount) >= writeBackStep) {
        p->written = 0;
        if (CTrackstar_startWriteBack(p->fd, 0, 0) == 0)  // best effort: the fsync still writes all
            atomic_fetch_add_explicit(&writeBacks, 1, memory_order_relaxed);
    }
}

/// Writes `p`'s bytes through the default VFS.
static int writeThrough(YieldFile *p, const void *buffer, int amount, sqlite3_int64 offset) {
    int rc = p->real->pMethods->xWrite(p->real, buffer, amount, offset);
    if (rc == SQLITE_OK) wrote(p, amount);
    return rc;
}

/// Writes `amount` bytes at `offset` on `fd` (all of them, or an error: SQLITE_FULL when the disk is).
static int writeAll(int fd, const char *bytes, int amount, sqlite3_int64 offset) {
    while (amount > 0) {
        ssize_t n = pwrite(fd, bytes, (size_t)amount, (off_t)offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 && errno != ENOSPC ? SQLITE_IOERR_WRITE : SQLITE_FULL;
        bytes += n;
        amount -= (int)n;
        offset += n;
    }
    return SQLITE_OK;
}

/// Before a run up to `end` is written: allocates the file's space past what is reserved, through
/// `end` and `reserveBytes` more (to a MiB boundary), keeping its size. A failure (no support, a full
/// disk) ends the reserving for this file; the write then allocates as it would have.
static void reserve(YieldFile *p, sqlite3_int64 end) {
    if (p->reserved < 0 || end <= p->reserved) return;
    sqlite3_int64 to = (end + reserveBytes + (1 << 20) - 1) & ~(sqlite3_int64)((1 << 20) - 1);
    if (fallocate(p->fd, FALLOC_FL_KEEP_SIZE, p->reserved, to - p->reserved) != 0) {
        p->reserved = -1;
        return;
    }
    p->reserved = to;
    atomic_fetch_add_explicit(&reservations, 1, memory_order_relaxed);
}

/// Writes out `p`'s gathered run, if any, on the VFS's own descriptor (the default VFS's write takes
/// under 128 KiB at once). SQLITE_OK or the write's error (the run is dropped either way: SQLite ends
/// the transaction on a failed write and rolls it back).
static int writeRun(YieldFile *p) {
    if (p->gatheredBy && *p->gatheredBy == p) *p->gatheredBy = 0;
    p->gatheredBy = 0;
    if (p->runBytes == 0) return SQLITE_OK;
    int amount = p->runBytes;
    p->runBytes = 0;
    runsWritten += 1;
    reserve(p, p->runStart + amount);
    int rc = writeAll(p->fd, p->run, amount, p->runStart);
    if (rc == SQLITE_OK) wrote(p, amount);
    return rc;
}

/// Before any operation on `f` other than a write that extends its run: writes out the thread's
/// gathered run (this file's or another's) and `f`'s own (gathered on another thread, should a
/// connection ever move). The error is the operation's.
static int settle(sqlite3_file *f) {
    YieldFile *p = (YieldFile *)f, *g = gathering;
    int rc = g ? writeRun(g) : SQLITE_OK;
    if (p->runBytes > 0) {
        int own = writeRun(p);
        if (rc == SQLITE_OK) rc = own;
    }
    return rc;
}

#define SETTLE_OR_RETURN(f) do { int settled = settle(f); if (settled != SQLITE_OK) return settled; } while (0)

static int yClose(sqlite3_file *f) {
    YieldFile *p = (YieldFile *)f;
    int settled = settle(f);
    int rc = METHODS(f)->xClose(p->real);
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    free(p->run);
    p->run = 0;
    return rc == SQLITE_OK ? settled : rc;
}

static int yRead(sqlite3_file *f, void *buffer, int amount, sqlite3_int64 offset) {
    SETTLE_OR_RETURN(f);
    int rc = METHODS(f)->xRead(REAL(f), buffer, amount, offset);
    CTrackstar_yieldIfDue();
    return rc;
}

static int yWrite(sqlite3_file *f, const void *buffer, int amount, sqlite3_int64 offset) {
    YieldFile *p = (YieldFile *)f;
    int rc;
    if (p->run && amount <= gatherBytes / 4) {
        // Extends the run, or ends it (whatever the thread gathered) and starts another.
        if (!(gathering == p && p->runStart + p->runBytes == offset && p->runBytes + amount <= gatherBytes)) {
            SETTLE_OR_RETURN(f);
            p->runStart = offset;
            p->gatheredBy = &gathering;
            gathering = p;
        }
        memcpy(p->run + p->runBytes, buffer, (size_t)amount);
        p->runBytes += amount;
        gatheredWrites += 1;
        rc = SQLITE_OK;
    } else {
        SETTLE_OR_RETURN(f);
        rc = writeThrough(p, buffer, amount, offset);
    }
    CTrackstar_yieldIfDue();
    return rc;
}

static int yTruncate(sqlite3_file *f, sqlite3_int64 size) {
    SETTLE_OR_RETURN(f);
    YieldFile *p = (YieldFile *)f;
    // A truncate frees the blocks past the new end, reserved ones too (a rolled-back COMMIT that grew
    // the file cuts it back): reserve again from there.
    if (p->reserved > size) p->reserved = size;
    return METHODS(f)->xTruncate(REAL(f), size);
}

static int ySync(sqlite3_file *f, int flags) {
    SETTLE_OR_RETURN(f);
    ((YieldFile *)f)->written = 0;
    int rc = METHODS(f)->xSync(REAL(f), flags);
    CTrackstar_yieldIfDue();
    return rc;
}

static int yFileSize(sqlite3_file *f, sqlite3_int64 *size) {
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xFileSize(REAL(f), size);
}
static int yLock(sqlite3_file *f, int lock) {
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xLock(REAL(f), lock);
}
static int yUnlock(sqlite3_file *f, int lock) {
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xUnlock(REAL(f), lock);
}
static int yCheckReservedLock(sqlite3_file *f, int *out) {
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xCheckReservedLock(REAL(f), out);
}
static int yFileControl(sqlite3_file *f, int op, void *arg) {
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xFileControl(REAL(f), op, arg);
}
static int ySectorSize(sqlite3_file *f) { return METHODS(f)->xSectorSize(REAL(f)); }
static int yDeviceCharacteristics(sqlite3_file *f) { return METHODS(f)->xDeviceCharacteristics(REAL(f)); }

static int yShmMap(sqlite3_file *f, int page, int pageSize, int extend, void volatile **out) {
    if (METHODS(f)->iVersion < 2) return SQLITE_IOERR;
    SETTLE_OR_RETURN(f);
    // WAL mode: no more gathering on this file. A checkpoint publishes what it copied through shared
    // memory (`nBackfill`), not through a file operation, so a run it left gathered could be missed
    // by a reader of the database file (a store in WAL mode is switched to a rollback journal when it
    // can be: SQLiteJournal.swift).
    YieldFile *p = (YieldFile *)f;
    free(p->run);
    p->run = 0;
    return METHODS(f)->xShmMap(REAL(f), page, pageSize, extend, out);
}
static int yShmLock(sqlite3_file *f, int offset, int n, int flags) {
    if (METHODS(f)->iVersion < 2) return SQLITE_IOERR;
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xShmLock(REAL(f), offset, n, flags);
}
static void yShmBarrier(sqlite3_file *f) {
    (void)settle(f);  // no way to report an error here; a failed run fails the transaction's next step
    if (METHODS(f)->iVersion >= 2) METHODS(f)->xShmBarrier(REAL(f));
}
static int yShmUnmap(sqlite3_file *f, int deleteFlag) {
    if (METHODS(f)->iVersion < 2) return SQLITE_OK;
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xShmUnmap(REAL(f), deleteFlag);
}
static int yFetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out) {
    if (METHODS(f)->iVersion < 3) { *out = 0; return SQLITE_OK; }
    SETTLE_OR_RETURN(f);
    return METHODS(f)->xFetch(REAL(f), offset, amount, out);
}
static int yUnfetch(sqlite3_file *f, sqlite3_int64 offset, void *page) {
    if (METHODS(f)->iVersion < 3) return SQLITE_OK;
    return METHODS(f)->xUnfetch(REAL(f), offset, page);
}

static const sqlite3_io_methods yieldMethods = {
    3, yClose, yRead, yWrite, yTruncate, ySync, yFileSize, yLock, yUnlock, yCheckReservedLock, yFileControl,
    ySectorSize, yDeviceCharacteristics, yShmMap, yShmLock, yShmBarrier, yShmUnmap, yFetch, yUnfetch,
};

static int yOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *outFlags) {
    (void)vfs;
    YieldFile *p = (YieldFile *)f;
    p->real = (sqlite3_file *)&p[1];
    p->fd = -1;
    p->written = 0;
    p->run = 0;
    p->runBytes = 0;
    p->runStart = 0;
    p->gatheredBy = 0;
    p->reserved = -1;
    int rc = defaultVfs->xOpen(defaultVfs, name, p->real, flags, outFlags);
    if (p->real->pMethods == 0) {  // the default VFS left nothing to close
        p->base.pMethods = 0;
        return rc;
    }
    p->base.pMethods = &yieldMethods;
    int writable = !(flags & SQLITE_OPEN_READONLY) && !(outFlags && (*outFlags & SQLITE_OPEN_READONLY));
    if (rc == SQLITE_OK && name && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)))
        // Closed only after the default VFS's descriptor (closing a descriptor drops the process's
        // POSIX locks on the file). -1 (no stepped write-back, no gathering) is harmless.
        p->fd = open(name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (p->fd >= 0 && writable && (flags & SQLITE_OPEN_MAIN_DB)) {
        p->run = malloc(gatherBytes);  // NULL (no gathering) is harmless
        struct stat st;
        if (p->run && fstat(p->fd, &st) == 0) p->reserved = st.st_size;  // reserving from the end on
    }
    return rc;
}

static int registration = SQLITE_ERROR;

static void registerOnce(void) {
    defaultVfs = sqlite3_vfs_find(0);
    if (defaultVfs == 0) return;
    yieldVfs = *defaultVfs;
    yieldVfs.pNext = 0;
    yieldVfs.zName = CTrackstar_yieldVFSName;
    yieldVfs.szOsFile = (int)((sizeof(YieldFile) + 7) / 8 * 8) + defaultVfs->szOsFile;
    yieldVfs.xOpen = yOpen;
    registration = sqlite3_vfs_register(&yieldVfs, 0);
}

int CTrackstar_registerYieldVFS(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, registerOnce);
    return registration;
}

unsigned long long CTrackstar_yieldVFSWriteBacks(void) { return atomic_load_explicit(&writeBacks, memory_order_relaxed); }
unsigned long long CTrackstar_yieldVFSReservations(void) { return atomic_load_explicit(&reservations, memory_order_relaxed); }
unsigned long long CTrackstar_yieldVFSGatheredWrites(void) { return gatheredWrites; }
unsigned long long CTrackstar_yieldVFSRunsWritten(void) { return runsWritten; }
