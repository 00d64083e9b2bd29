// Small C shims for calls Swift's Glibc module does not expose (GNU extensions). Every symbol is
// prefixed `CTrackstar_`.
#ifndef CTRACKSTAR_SHIMS_H
#define CTRACKSTAR_SHIMS_H
#include <sys/types.h>

/// Frees the blocks of [0, length) of `fd` while keeping its size (fallocate PUNCH_HOLE|KEEP_SIZE).
int CTrackstar_punchHole(int fd, off_t length);

/// Puts the calling thread in SCHED_IDLE (`idle` nonzero: it runs only when nothing else wants the
/// CPU, and a waking thread of any other policy preempts it at once) or back in SCHED_OTHER.
/// 0 on success, else -1 and errno.
int CTrackstar_setIdlePolicy(int idle);

/// The calling thread's scheduling policy is SCHED_IDLE (1), another (0), or unknown (-1).
int CTrackstar_isIdlePolicy(void);

/// Whether a thread at nice `nice` that enters SCHED_IDLE can leave it again (Linux requires
/// CAP_SYS_NICE or an RLIMIT_NICE allowing that nice value): tried on a throwaway thread. 1 or 0.
int CTrackstar_idleIsReversible(int nice);

/// Starts write-back of the dirty pages of [offset, offset + length) of `fd` without waiting for it
/// (sync_file_range SYNC_FILE_RANGE_WRITE). 0 on success, else -1 and errno.
int CTrackstar_startWriteBack(int fd, off_t offset, off_t length);

#endif
