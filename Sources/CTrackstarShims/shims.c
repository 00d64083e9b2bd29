// GNU-only calls wrapped for Swift.
#define _GNU_SOURCE
#include <fcntl.h>
#include "CTrackstarShims.h"

int CTrackstar_punchHole(int fd, off_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, length);
}
