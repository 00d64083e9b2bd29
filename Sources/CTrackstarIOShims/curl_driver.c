// The libuv side of curl's multi-socket API: one uv_poll_t per socket curl asks to watch, one
// uv_timer_t for curl's timeout, and curl_multi_info_read after every action (multi-uv.c's shape).
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
};

typedef struct {
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

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp) {
    (void)easy;
    ts_curl_driver *driver = userp;
    socket_context *socket = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (socket) {
            uv_poll_stop(&socket->poll);
            uv_close((uv_handle_t *)&socket->poll, free_socket);
            curl_multi_assign(driver->multi, fd, NULL);
        }
        return 0;
    }
    if (!socket) {
        socket = calloc(1, sizeof *socket);
        if (!socket) return -1;
        socket->fd = fd;
        socket->driver = driver;
        if (uv_poll_init_socket(driver->loop, &socket->poll, fd) != 0) { free(socket); return -1; }
        socket->poll.data = socket;
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
    return (int)curl_multi_add_handle(driver->multi, easy);
}

void ts_curl_driver_remove(ts_curl_driver *driver, void *easy) {
    curl_multi_remove_handle(driver->multi, easy);
}

int ts_curl_driver_running(const ts_curl_driver *driver) { return driver->running; }

static void free_driver(uv_handle_t *handle) { free(handle->data); }

void ts_curl_driver_close(ts_curl_driver *driver) {
    driver->closing = 1;
    // Cleaning up the multi handle closes its connections, which calls on_socket(REMOVE) for each.
    curl_multi_cleanup(driver->multi);
    uv_timer_stop(&driver->timer);
    uv_close((uv_handle_t *)&driver->timer, free_driver);
}

int ts_io_set_thread_nice(int value) { return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), value); }
