// GNU-only calls wrapped for Swift.
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CTrackstarShims.h"

int CTrackstar_punchHole(int fd, off_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, length);
}

int CTrackstar_setIdlePolicy(int idle) {
    struct sched_param param = { .sched_priority = 0 };
    return sched_setscheduler(0, idle ? SCHED_IDLE : SCHED_OTHER, &param);
}

int CTrackstar_isIdlePolicy(void) {
    int policy = sched_getscheduler(0);
    return policy < 0 ? -1 : policy == SCHED_IDLE;
}

static void *probeIdle(void *argument) {
    int *nice = argument;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), *nice);
    *nice = CTrackstar_setIdlePolicy(1) == 0 && CTrackstar_setIdlePolicy(0) == 0;
    return NULL;
}

int CTrackstar_idleIsReversible(int nice) {
    pthread_t thread;
    int value = nice;
    if (pthread_create(&thread, NULL, probeIdle, &value) != 0) return 0;
    pthread_join(thread, NULL);
    return value == 1;
}

int CTrackstar_startWriteBack(int fd, off_t offset, off_t length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

static __thread unsigned long long lastYield;
static _Atomic unsigned long long yields;

static unsigned long long monotonicNanos(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec;
}

int CTrackstar_yieldIfDue(void) {
    if (monotonicNanos() - lastYield < CTrackstar_yieldAfterNanos) return 0;
    sched_yield();
    atomic_fetch_add_explicit(&yields, 1, memory_order_relaxed);
    lastYield = monotonicNanos();
    return 1;
}

unsigned long long CTrackstar_yieldCount(void) { return atomic_load_explicit(&yields, memory_order_relaxed); }

int CTrackstar_keepMallocMemory(int trimThreshold, int mmapThreshold) {
    return mallopt(M_TRIM_THRESHOLD, trimThreshold) && mallopt(M_MMAP_THRESHOLD, mmapThreshold);
}

size_t CTrackstar_mallocMappedBytes(void) { return mallinfo2().hblkhd; }
