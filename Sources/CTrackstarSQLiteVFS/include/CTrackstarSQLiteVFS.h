// The exporter's SQLite VFS: the platform's default VFS ("unix") with the core given back while SQLite
// does long stretches of I/O of its own (issue 19 item 3). Every symbol is prefixed `CTrackstar_`.
#ifndef CTRACKSTAR_SQLITE_VFS_H
#define CTRACKSTAR_SQLITE_VFS_H

/// The VFS's name, for sqlite3_open_v2.
#define CTrackstar_yieldVFSName "trackstar-yield"

/// Registers the VFS (once; not as the default). SQLITE_OK, or SQLite's error code.
int CTrackstar_registerYieldVFS(void);

/// Write-backs started in steps by the VFS so far in this process (for tests and figures).
unsigned long long CTrackstar_yieldVFSWriteBacks(void);

/// Space reservations past a main database's end the VFS has made so far in this process.
unsigned long long CTrackstar_yieldVFSReservations(void);

/// Main-database page writes gathered into runs, and runs written, so far on the calling thread.
unsigned long long CTrackstar_yieldVFSGatheredWrites(void);
unsigned long long CTrackstar_yieldVFSRunsWritten(void);

#endif
