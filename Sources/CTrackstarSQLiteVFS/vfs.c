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
// Durability is the default VFS's: the same writes and the same syncs, in the same order.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <unistd.h>
#include "CTrackstarShims.h"
#include "CTrackstarSQLiteVFS.h"

enum { writeBackStep = 1 << 20 };

typedef struct YieldFile {
    sqlite3_file base;
    sqlite3_file *real;     // the default VFS's file, right after this struct
    int fd;                 // a descriptor of our own for the same file (-1: none), for write-back
    sqlite3_int64 written;  // bytes written since the last write-back started
} YieldFile;

static sqlite3_vfs *defaultVfs;
static sqlite3_vfs yieldVfs;
static _Atomic unsigned long long writeBacks;

#define REAL(f) (((YieldFile *)(f))->real)
#define METHODS(f) (REAL(f)->pMethods)

static int yClose(sqlite3_file *f) {
    YieldFile *p = (YieldFile *)f;
    int rc = METHODS(f)->xClose(p->real);
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    return rc;
}

static int yRead(sqlite3_file *f, void *buffer, int amount, sqlite3_int64 offset) {
    int rc = METHODS(f)->xRead(REAL(f), buffer, amount, offset);
    CTrackstar_yieldIfDue();
    return rc;
}

static int yWrite(sqlite3_file *f, const void *buffer, int amount, sqlite3_int64 offset) {
    YieldFile *p = (YieldFile *)f;
    int rc = METHODS(f)->xWrite(p->real, buffer, amount, offset);
    if (rc == SQLITE_OK && p->fd >= 0 && (p->written += amount) >= writeBackStep) {
        p->written = 0;
        if (CTrackstar_startWriteBack(p->fd, 0, 0) == 0)  // best effort: the fsync still writes all
            atomic_fetch_add_explicit(&writeBacks, 1, memory_order_relaxed);
    }
    CTrackstar_yieldIfDue();
    return rc;
}

static int yTruncate(sqlite3_file *f, sqlite3_int64 size) { return METHODS(f)->xTruncate(REAL(f), size); }

static int ySync(sqlite3_file *f, int flags) {
    ((YieldFile *)f)->written = 0;
    int rc = METHODS(f)->xSync(REAL(f), flags);
    CTrackstar_yieldIfDue();
    return rc;
}

static int yFileSize(sqlite3_file *f, sqlite3_int64 *size) { return METHODS(f)->xFileSize(REAL(f), size); }
static int yLock(sqlite3_file *f, int lock) { return METHODS(f)->xLock(REAL(f), lock); }
static int yUnlock(sqlite3_file *f, int lock) { return METHODS(f)->xUnlock(REAL(f), lock); }
static int yCheckReservedLock(sqlite3_file *f, int *out) { return METHODS(f)->xCheckReservedLock(REAL(f), out); }
static int yFileControl(sqlite3_file *f, int op, void *arg) { return METHODS(f)->xFileControl(REAL(f), op, arg); }
static int ySectorSize(sqlite3_file *f) { return METHODS(f)->xSectorSize(REAL(f)); }
static int yDeviceCharacteristics(sqlite3_file *f) { return METHODS(f)->xDeviceCharacteristics(REAL(f)); }

static int yShmMap(sqlite3_file *f, int page, int pageSize, int extend, void volatile **out) {
    if (METHODS(f)->iVersion < 2) return SQLITE_IOERR;
    return METHODS(f)->xShmMap(REAL(f), page, pageSize, extend, out);
}
static int yShmLock(sqlite3_file *f, int offset, int n, int flags) {
    if (METHODS(f)->iVersion < 2) return SQLITE_IOERR;
    return METHODS(f)->xShmLock(REAL(f), offset, n, flags);
}
static void yShmBarrier(sqlite3_file *f) {
    if (METHODS(f)->iVersion >= 2) METHODS(f)->xShmBarrier(REAL(f));
}
static int yShmUnmap(sqlite3_file *f, int deleteFlag) {
    if (METHODS(f)->iVersion < 2) return SQLITE_OK;
    return METHODS(f)->xShmUnmap(REAL(f), deleteFlag);
}
static int yFetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out) {
    if (METHODS(f)->iVersion < 3) { *out = 0; return SQLITE_OK; }
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
    int rc = defaultVfs->xOpen(defaultVfs, name, p->real, flags, outFlags);
    if (p->real->pMethods == 0) {  // the default VFS left nothing to close
        p->base.pMethods = 0;
        return rc;
    }
    p->base.pMethods = &yieldMethods;
    if (rc == SQLITE_OK && name && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)))
        p->fd = open(name, O_RDONLY | O_CLOEXEC);  // -1 (no stepped write-back) is harmless
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
