// See CTrackstarURing.h. The shape follows liburing's examples/proxy.c and io_uring(7): a provided
// buffer ring the kernel picks receive buffers from, multishot receives, and DEFER_TASKRUN so the
// kernel runs completion work only when this thread waits, in one batch.
#define _GNU_SOURCE
#include "CTrackstarURing.h"
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif

struct ts_uring {
    struct io_uring ring;
    struct io_uring_buf_ring *buffer_ring;
    size_t buffer_ring_bytes;
    char *buffers;
    unsigned buffer_count;
    unsigned buffer_size;
    unsigned recycled;  // buffers added since the last commit
};

_Static_assert(IORING_CQE_F_BUFFER == TS_URING_F_BUFFER, "flag bit");
_Static_assert(IORING_CQE_F_MORE == TS_URING_F_MORE, "flag bit");
_Static_assert(IORING_CQE_F_SOCK_NONEMPTY == TS_URING_F_SOCK_NONEMPTY, "flag bit");

ts_uring *ts_uring_new(unsigned entries, unsigned buffers, unsigned buffer_size, int *error) {
    *error = 0;
    if (buffers == 0 || (buffers & (buffers - 1)) != 0 || buffers > 32768) { *error = -EINVAL; return NULL; }
    ts_uring *u = calloc(1, sizeof *u);
    if (!u) { *error = -ENOMEM; return NULL; }
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int r = io_uring_queue_init_params(entries, &u->ring, &params);
    if (r < 0) { free(u); *error = r; return NULL; }
    // Every wait enters the kernel by the registered index, without looking the ring's descriptor up
    // in the file table (5.18 and later; harmless to go without).
    (void)io_uring_register_ring_fd(&u->ring);
    u->buffer_ring_bytes = buffers * sizeof(struct io_uring_buf);
    void *mapped = mmap(NULL, u->buffer_ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mapped == MAP_FAILED) { *error = -errno; io_uring_queue_exit(&u->ring); free(u); return NULL; }
    u->buffer_ring = mapped;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)mapped;
    reg.ring_entries = buffers;
    reg.bgid = 0;
    r = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (r < 0) { *error = r; munmap(mapped, u->buffer_ring_bytes); io_uring_queue_exit(&u->ring); free(u); return NULL; }
    u->buffers = aligned_alloc(4096, (size_t)buffers * buffer_size);
    if (!u->buffers) { *error = -ENOMEM; ts_uring_free(u); return NULL; }
    u->buffer_count = buffers;
    u->buffer_size = buffer_size;
    io_uring_buf_ring_init(u->buffer_ring);
    for (unsigned i = 0; i < buffers; i++) {
        io_uring_buf_ring_add(u->buffer_ring, u->buffers + (size_t)i * buffer_size, buffer_size, (unsigned short)i,
                              io_uring_buf_ring_mask(buffers), (int)i);
    }
    io_uring_buf_ring_advance(u->buffer_ring, (int)buffers);
    return u;
}

void ts_uring_free(ts_uring *u) {
    if (!u) return;
    io_uring_queue_exit(&u->ring);  // cancels what is still pending
    if (u->buffer_ring) munmap(u->buffer_ring, u->buffer_ring_bytes);
    free(u->buffers);
    free(u);
}

// An SQE, submitting what is queued first when the submission queue is full.
static struct io_uring_sqe *next_sqe(ts_uring *u) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

int ts_uring_recv(ts_uring *u, int fd, uint64_t tag) {
    struct io_uring_sqe *sqe = next_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int ts_uring_recv_once(ts_uring *u, int fd, uint64_t tag) {
    struct io_uring_sqe *sqe = next_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_recv(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int ts_uring_close(ts_uring *u, int fd, uint64_t tag) {
    struct io_uring_sqe *sqe = next_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_close(sqe, fd);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int ts_uring_submit(ts_uring *u) {
    int r = io_uring_submit(&u->ring);
    return r < 0 ? r : 0;
}

int ts_uring_poll(ts_uring *u, int fd, uint64_t tag) {
    struct io_uring_sqe *sqe = next_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, POLLIN);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int ts_uring_poll_out(ts_uring *u, int fd, uint64_t tag) {
    struct io_uring_sqe *sqe = next_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, POLLOUT);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int ts_uring_accept(ts_uring *u, int fd, void *address, uint32_t *length, uint64_t tag) {
    struct io_uring_sqe *sqe = next_sqe(u);
    if (!sqe) return -EBUSY;
    _Static_assert(sizeof(socklen_t) == sizeof(uint32_t), "socklen_t");
    io_uring_prep_accept(sqe, fd, (struct sockaddr *)address, (socklen_t *)length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int ts_uring_cancel(ts_uring *u, uint64_t tag, uint64_t cancel_tag) {
    struct io_uring_sqe *sqe = next_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_cancel64(sqe, tag, 0);
    io_uring_sqe_set_data64(sqe, cancel_tag);
    return 0;
}

int ts_uring_wait(ts_uring *u, int timeout_ms) {
    struct io_uring_cqe *cqe = NULL;
    if (timeout_ms < 0) {
        int r = io_uring_submit_and_wait(&u->ring, 1);
        return r < 0 ? r : 0;
    }
    if (timeout_ms == 0) {
        // Submits and runs pending completion work without sleeping.
        int r = io_uring_submit_and_get_events(&u->ring);
        return r < 0 ? r : 0;
    }
    struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
    int r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
    return r < 0 ? r : 0;
}

unsigned ts_uring_reap(ts_uring *u, ts_uring_event *events, unsigned max) {
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        if (n == max) break;
        events[n].tag = cqe->user_data;
        events[n].result = cqe->res;
        events[n].flags = cqe->flags;
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
    return n;
}

void *ts_uring_buffer(ts_uring *u, uint32_t flags) {
    unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    return u->buffers + (size_t)id * u->buffer_size;
}

void ts_uring_recycle(ts_uring *u, uint32_t flags) {
    unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    io_uring_buf_ring_add(u->buffer_ring, u->buffers + (size_t)id * u->buffer_size, u->buffer_size,
                          (unsigned short)id, io_uring_buf_ring_mask(u->buffer_count), (int)u->recycled);
    u->recycled++;
}

void ts_uring_recycle_commit(ts_uring *u) {
    if (u->recycled == 0) return;
    io_uring_buf_ring_advance(u->buffer_ring, (int)u->recycled);
    u->recycled = 0;
}
