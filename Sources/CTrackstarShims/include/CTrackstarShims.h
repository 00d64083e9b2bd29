// Small C shims for calls Swift's Glibc module does not expose (GNU extensions). Every symbol is
// prefixed `CTrackstar_`.
#ifndef CTRACKSTAR_SHIMS_H
#define CTRACKSTAR_SHIMS_H
#include <sys/types.h>

/// Frees the blocks of [0, length) of `fd` while keeping its size (fallocate PUNCH_HOLE|KEEP_SIZE).
int CTrackstar_punchHole(int fd, off_t length);

#endif
