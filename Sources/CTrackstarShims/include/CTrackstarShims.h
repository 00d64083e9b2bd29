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

/// Sets glibc's malloc trim threshold (mallopt M_TRIM_THRESHOLD: free memory at the top of a heap is
/// returned to the kernel only past `trimThreshold` bytes) and its mmap threshold (M_MMAP_THRESHOLD:
/// blocks of `mmapThreshold` bytes or more get their own mapping, unmapped when freed; setting either
/// turns off glibc's dynamic raising of it, so both are set). 1 on success, 0 if refused.
int CTrackstar_keepMallocMemory(int trimThreshold, int mmapThreshold);

/// Bytes malloc holds in blocks with their own mapping (mallinfo2's hblkhd).
size_t CTrackstar_mallocMappedBytes(void);

/// Gives the core away (sched_yield) when `CTrackstar_yieldAfterNanos` have passed since the calling
/// thread last did (a per-thread clock; one vDSO clock read when not due). Background
/// work calls it often, anywhere it can stop for a moment: a loop that the scheduler tick preempted
/// for such a thread waits at most about that long instead of until the next tick. 1 if it yielded.
int CTrackstar_yieldIfDue(void);

/// The interval of `CTrackstar_yieldIfDue`: 200 µs.
#define CTrackstar_yieldAfterNanos 200000

/// Yields counted by `CTrackstar_yieldIfDue` in this process (for tests and figures).
unsigned long long CTrackstar_yieldCount(void);

#endif
