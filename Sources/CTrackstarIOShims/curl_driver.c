// The libuv side of curl's multi-socket API: one uv_poll_t per socket curl asks to watch, one
// uv_timer_t for curl's timeout, and curl_multi_info_read after every action (multi-uv.c's shape).
// A socket's poll lives as long as the socket (closed from curl's close-socket callback), not as one
// transfer: a kept-alive connection's next transfer restarts it, with no epoll add/delete churn.
// It lives with TrackstarIO, the one module that touches libuv; its header shows no curl or uv types.
#include "CTrackstarIOShims.h"
#include <curl/curl.h>
#include <stdlib.h>
#include <uv.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ts_curl_driver {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    ts_curl_done done;
    void *context;
    int running;
    int closing;
    /// The poll of each socket curl has open, by descriptor (grown on demand).
    struct socket_context **sockets;
    int capacity;
};

typedef struct socket_context {
    uv_poll_t poll;
    curl_socket_t fd;
    ts_curl_driver *driver;
} socket_context;

static void check_info(ts_curl_driver *driver) {
    CURLMsg *message;
    int pending;
    while ((message = curl_multi_info_read(driver->multi, &pending))) {
        if (message->msg != CURLMSG_DONE) continue;
        CURL *easy = message->easy_handle;
        CURLcode result = message->data.result;
        curl_multi_remove_handle(driver->multi, easy);
        driver->done(driver->context, easy, (int)result);
    }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
    socket_context *socket = handle->data;
    ts_curl_driver *driver = socket->driver;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(driver->multi, socket->fd, flags, &driver->running);
    check_info(driver);
}

static void on_timer(uv_timer_t *timer) {
    ts_curl_driver *driver = timer->data;
    curl_multi_socket_action(driver->multi, CURL_SOCKET_TIMEOUT, 0, &driver->running);
    check_info(driver);
}

static void free_socket(uv_handle_t *handle) { free(handle->data); }

// The socket's poll, made at the first watch: NULL when out of memory or libuv refuses the socket.
static socket_context *socket_for(ts_curl_driver *driver, curl_socket_t fd) {
    if (fd < 0) return NULL;
    if (fd >= driver->capacity) {
        int capacity = driver->capacity ? driver->capacity : 256;
        while (capacity <= fd) capacity *= 2;
        socket_context **grown = realloc(driver->sockets, (size_t)capacity * sizeof *grown);
        if (!grown) return NULL;
        for (int i = driver->capacity; i < capacity; i++) grown[i] = NULL;
        driver->sockets = grown;
        driver->capacity = capacity;
    }
    socket_context *socket = driver->sockets[fd];
    if (socket) return socket;
    socket = calloc(1, sizeof *socket);
    if (!socket) return NULL;
    socket->fd = fd;
    socket->driver = driver;
    if (uv_poll_init_socket(driver->loop, &socket->poll, fd) != 0) { free(socket); return NULL; }
    socket->poll.data = socket;
    driver->sockets[fd] = socket;
    return socket;
}

// Closes a socket's poll (libuv drops it from epoll at once; the memory goes in the close callback).
static void forget_socket(ts_curl_driver *driver, curl_socket_t fd) {
    if (fd < 0 || fd >= driver->capacity || !driver->sockets[fd]) return;
    socket_context *socket = driver->sockets[fd];
    driver->sockets[fd] = NULL;
    uv_close((uv_handle_t *)&socket->poll, free_socket);
}

// curl closes a socket: its poll goes first, while the descriptor is still the socket's.
static int on_close_socket(void *clientp, curl_socket_t fd) {
    forget_socket(clientp, fd);
    return close(fd);
}

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp) {
    (void)easy;
    ts_curl_driver *driver = userp;
    socket_context *socket = socketp;
    if (action == CURL_POLL_REMOVE) {
        // The transfer is done with the socket; a kept-alive connection keeps it for the next one.
        if (socket) uv_poll_stop(&socket->poll);
        return 0;
    }
    if (!socket) {
        socket = socket_for(driver, fd);
        if (!socket) return -1;
        curl_multi_assign(driver->multi, fd, socket);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT) events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT) events |= UV_WRITABLE;
    uv_poll_start(&socket->poll, events, on_poll);
    return 0;
}

static int on_timeout(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    ts_curl_driver *driver = userp;
    if (driver->closing) return 0;
    if (timeout_ms < 0) {
        uv_timer_stop(&driver->timer);
    } else {
        // 0 means "act now": do it from the loop, not from inside curl's own call.
        uv_timer_start(&driver->timer, on_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    }
    return 0;
}

ts_curl_driver *ts_curl_driver_new(void *uv_loop, ts_curl_done done, void *context,
                                   long max_host_connections, long max_total_connections) {
    ts_curl_driver *driver = calloc(1, sizeof *driver);
    if (!driver) return NULL;
    driver->multi = curl_multi_init();
    if (!driver->multi) { free(driver); return NULL; }
    driver->loop = uv_loop;
    driver->done = done;
    driver->context = context;
    if (uv_timer_init(driver->loop, &driver->timer) != 0) { curl_multi_cleanup(driver->multi); free(driver); return NULL; }
    driver->timer.data = driver;
    curl_multi_setopt(driver->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(driver->multi, CURLMOPT_SOCKETDATA, driver);
    curl_multi_setopt(driver->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(driver->multi, CURLMOPT_TIMERDATA, driver);
    if (max_host_connections > 0) curl_multi_setopt(driver->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
    if (max_total_connections > 0) {
        curl_multi_setopt(driver->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total_connections);
        curl_multi_setopt(driver->multi, CURLMOPT_MAXCONNECTS, max_total_connections);
    }
    return driver;
}

int ts_curl_driver_add(ts_curl_driver *driver, void *easy) {
    // Every connection made for this handle tells the driver when it closes (curl copies the
    // callback into the connection, which may outlive the transfer in the multi handle's cache).
    if (curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket) != CURLE_OK) return -1;
    if (curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, driver) != CURLE_OK) return -1;
    return (int)curl_multi_add_handle(driver->multi, easy);
}

void ts_curl_driver_remove(ts_curl_driver *driver, void *easy) {
    curl_multi_remove_handle(driver->multi, easy);
}

int ts_curl_driver_running(const ts_curl_driver *driver) { return driver->running; }

static void free_driver(uv_handle_t *handle) { free(handle->data); }

void ts_curl_driver_close(ts_curl_driver *driver) {
    driver->closing = 1;
    // Cleaning up the multi handle closes its connections, which calls on_close_socket for each.
    curl_multi_cleanup(driver->multi);
    for (int fd = 0; fd < driver->capacity; fd++) forget_socket(driver, fd);
    free(driver->sockets);
    driver->sockets = NULL;
    driver->capacity = 0;
    uv_timer_stop(&driver->timer);
    uv_close((uv_handle_t *)&driver->timer, free_driver);
}

int ts_io_set_thread_nice(int value) { return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), value); }
