// `tsfloor-uring`: the do-nothing 302 responder again, receiving the way Trackstar's loops do when the
// kernel offers io_uring (multishot receives into a provided-buffer ring, DEFER_TASKRUN) and writing
// each answer with write(2) as they do. `make loadtest` runs it next to the libuv `tsfloor`, so the
// table shows how much of a request's cost is the receive mechanism and how much is Trackstar's work.
// A read that asks for `Connection: close` gets the closing answer and the floor ends its side at once
// (shutdown: its FIN goes first, as Trackstar's and nginx's do); the descriptor is closed at end of stream.
//
//   tsfloor-uring [--threads N]   (SO_REUSEPORT listener per thread on an ephemeral loopback port)
#define _GNU_SOURCE
#include <liburing.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static const char answer[] = "HTTP/1.1 302 Found\r\nLocation: https://shop.example/landing?cid=000000000000YNFNCE97BZ6711&a=7\r\n"
                             "Cache-Control: no-store\r\nContent-Length: 0\r\n\r\n";
static const char closing[] = "HTTP/1.1 302 Found\r\nConnection: close\r\nLocation: https://shop.example/landing?cid=000000000000YNFNCE97BZ6711&a=7\r\n"
                              "Cache-Control: no-store\r\nContent-Length: 0\r\n\r\n";
static const char close_header[] = "\r\nConnection: close\r\n";
enum { ACCEPT = 1, RECEIVE = 2, BUFFERS = 1024, BUFFER_SIZE = 4096, MAX_FD = 65536, OUTPUT = 64 * 1024 };

static int port;

// Per-descriptor state of one thread's connections (a descriptor belongs to one thread).
static unsigned char match[MAX_FD];  // progress through "\r\n\r\n" across reads
static char *output[MAX_FD];

static void arm(struct io_uring *ring, int fd) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) { io_uring_submit(ring); sqe = io_uring_get_sqe(ring); }
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, ((unsigned long long)fd << 2) | RECEIVE);
}

static int listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) || listen(fd, 1024)) { perror("tsfloor-uring: bind"); exit(1); }
    if (port == 0) {
        socklen_t length = sizeof address;
        getsockname(fd, (struct sockaddr *)&address, &length);
        port = ntohs(address.sin_port);
    }
    return fd;
}

static void *serve(void *context) {
    int listen_fd = (int)(long)context, one = 1;
    struct io_uring ring;
    struct io_uring_params params = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
    int r = io_uring_queue_init_params(4096, &ring, &params);
    if (r < 0) { fprintf(stderr, "tsfloor-uring: io_uring: %s\n", strerror(-r)); exit(1); }
    struct io_uring_buf_ring *buffers_ring = mmap(NULL, BUFFERS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                                                  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    struct io_uring_buf_reg registration = { .ring_addr = (unsigned long)buffers_ring, .ring_entries = BUFFERS, .bgid = 0 };
    if ((r = io_uring_register_buf_ring(&ring, &registration, 0)) < 0) {
        fprintf(stderr, "tsfloor-uring: buffer ring: %s\n", strerror(-r)); exit(1);
    }
    io_uring_buf_ring_init(buffers_ring);
    char *buffers = malloc((size_t)BUFFERS * BUFFER_SIZE);
    for (int i = 0; i < BUFFERS; i++) {
        io_uring_buf_ring_add(buffers_ring, buffers + (size_t)i * BUFFER_SIZE, BUFFER_SIZE, i, io_uring_buf_ring_mask(BUFFERS), i);
    }
    io_uring_buf_ring_advance(buffers_ring, BUFFERS);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, ACCEPT);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0, recycled = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            unsigned long long tag = cqe->user_data;
            int fd = (int)(tag >> 2);
            if ((tag & 3) == ACCEPT) {
                if (cqe->res >= 0 && cqe->res < MAX_FD) {
                    setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (!output[cqe->res]) output[cqe->res] = malloc(OUTPUT);
                    match[cqe->res] = 0;
                    arm(&ring, cqe->res);
                } else if (cqe->res >= 0) {
                    close(cqe->res);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) {
                    struct io_uring_sqe *again = io_uring_get_sqe(&ring);
                    io_uring_prep_multishot_accept(again, listen_fd, NULL, NULL, 0);
                    io_uring_sqe_set_data64(again, ACCEPT);
                }
                continue;
            }
            int requests = 0, closes = 0;
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                int id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                const char *data = buffers + (size_t)id * BUFFER_SIZE;
                unsigned char state = match[fd];
                for (int i = 0; i < cqe->res; i++) {  // counts "\r\n\r\n" request ends
                    char c = data[i];
                    if (c == '\r') state = state == 2 ? 3 : 1;
                    else if (c == '\n') { if (state == 3) { requests++; state = 0; } else state = state == 1 ? 2 : 0; }
                    else state = 0;
                }
                match[fd] = state;
                closes = requests > 0 && memmem(data, cqe->res, close_header, sizeof close_header - 1) != NULL;
                io_uring_buf_ring_add(buffers_ring, (void *)data, BUFFER_SIZE, id, io_uring_buf_ring_mask(BUFFERS), recycled++);
            }
            if (closes) {
                if (write(fd, closing, sizeof closing - 1) != (ssize_t)(sizeof closing - 1)) { shutdown(fd, SHUT_RDWR); }
                shutdown(fd, SHUT_WR);
            } else if (requests > 0) {
                int length = 0;
                for (int i = 0; i < requests && length + (int)sizeof answer <= OUTPUT; i++) {
                    memcpy(output[fd] + length, answer, sizeof answer - 1);
                    length += sizeof answer - 1;
                }
                if (write(fd, output[fd], length) != length) { shutdown(fd, SHUT_RDWR); }
            }
            if (cqe->res <= 0 && cqe->res != -ENOBUFS) {
                if (!(cqe->flags & IORING_CQE_F_MORE)) close(fd);
            } else if (!(cqe->flags & IORING_CQE_F_MORE)) {
                arm(&ring, fd);
            }
        }
        if (recycled) io_uring_buf_ring_advance(buffers_ring, recycled);
        io_uring_cq_advance(&ring, seen);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = 2;
    for (int i = 1; i + 1 < argc; i++) if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
    if (threads < 1 || threads > 64) { fprintf(stderr, "tsfloor-uring: --threads 1...64\n"); return 2; }
    pthread_t thread;
    for (int i = 0; i < threads; i++) {
        int fd = listener();  // the first binds an ephemeral port, the others join it (SO_REUSEPORT)
        pthread_create(&thread, NULL, serve, (void *)(long)fd);
    }
    printf("tsfloor-uring: listening on 127.0.0.1:%d with %d threads\n", port, threads);
    fflush(stdout);
    pthread_join(thread, NULL);
    return 0;
}
