// A small C face over liburing (Debian's liburing-dev) for the request loops: one ring per loop,
// accepts, one-shot and multishot receives into a provided-buffer ring, one-shot polls, cancels, closes,
// and a wait that submits.
// C because liburing is static inline functions and macros over shared ring memory.
#ifndef CTRACKSTAR_URING_H
#define CTRACKSTAR_URING_H
#include <stdint.h>

typedef struct ts_uring ts_uring;

/// One completion, copied out of the ring so the caller can process it after the ring advanced.
typedef struct ts_uring_event {
    uint64_t tag;    // the caller's tag from the request
    int32_t result;  // bytes received, a poll mask, or -errno
    uint32_t flags;  // IORING_CQE_F_* bits
} ts_uring_event;

/// Creates a ring on the calling thread (the only thread that may use it afterwards), with `buffers`
/// provided receive buffers of `buffer_size` bytes each (`buffers` a power of two). Returns NULL with
/// `*error` = -errno when the kernel lacks what is needed (io_uring off, too old, seccomp).
ts_uring *ts_uring_new(unsigned entries, unsigned buffers, unsigned buffer_size, int *error);
void ts_uring_free(ts_uring *ring);

/// Queues a multishot receive on `fd` selecting buffers from the ring (submitted by the next wait).
int ts_uring_recv(ts_uring *ring, int fd, uint64_t tag);
/// Queues a one-shot receive on `fd` selecting a buffer from the ring: it completes once, with the
/// data already there when it is submitted (nothing is left armed on the socket), or with the first
/// data to arrive.
int ts_uring_recv_once(ts_uring *ring, int fd, uint64_t tag);
/// Queues a close of the descriptor `fd` (applied by the next wait, after the requests queued before
/// it). Its completion is posted only if the close fails, carrying `tag`.
int ts_uring_close(ts_uring *ring, int fd, uint64_t tag);
/// Submits what is queued without waiting.
int ts_uring_submit(ts_uring *ring);
/// Queues a one-shot poll for readability of `fd`.
int ts_uring_poll(ts_uring *ring, int fd, uint64_t tag);
/// Queues a one-shot poll for writability of `fd` (a write the kernel could not take at once).
int ts_uring_poll_out(ts_uring *ring, int fd, uint64_t tag);
/// Queues an accept on the listening socket `fd`. The completion's result is the new socket
/// (nonblocking, close-on-exec) or -errno; the peer's address is written to `address` and its length
/// to `*length` (set by the caller to the buffer's size), which must stay valid until then.
int ts_uring_accept(ts_uring *ring, int fd, void *address, uint32_t *length, uint64_t tag);
/// Queues a cancel of the request tagged `tag` (submitted by the next wait, before that wait runs any
/// completion work, so the request delivers nothing more). A pending request holds its file open, so
/// a socket closed meanwhile stays open until then. The cancel's own completion carries `cancel_tag`.
int ts_uring_cancel(ts_uring *ring, uint64_t tag, uint64_t cancel_tag);

/// Submits what is queued and waits until a completion is ready or `timeout_ms` passed (-1: no
/// limit, 0: do not wait). Returns 0, or -errno (-ETIME and -EINTR are normal).
int ts_uring_wait(ts_uring *ring, int timeout_ms);
/// Copies up to `max` completions into `events` and releases them from the ring; returns the count.
unsigned ts_uring_reap(ts_uring *ring, ts_uring_event *events, unsigned max);

/// The buffer a receive completion with IORING_CQE_F_BUFFER filled, and handing it back.
void *ts_uring_buffer(ts_uring *ring, uint32_t flags);
void ts_uring_recycle(ts_uring *ring, uint32_t flags);
/// Makes recycled buffers visible to the kernel (once per batch).
void ts_uring_recycle_commit(ts_uring *ring);

/// Flag bits the caller tests on events.
enum {
    TS_URING_F_BUFFER = 1u << 0,  // IORING_CQE_F_BUFFER
    TS_URING_F_MORE = 1u << 1,    // IORING_CQE_F_MORE: the multishot request stays armed
    TS_URING_F_SOCK_NONEMPTY = 1u << 2,  // IORING_CQE_F_SOCK_NONEMPTY: the socket had more data after this receive
};
#endif
