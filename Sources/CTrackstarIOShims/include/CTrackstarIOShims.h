// C glue that TrackstarIO owns: libcurl's multi-socket interface driven by a libuv loop (the shape of
// curl's docs/examples/multi-uv.c) and a thread's nice value. No curl or libuv type appears here, so
// importing this module brings in neither header: easy handles are `void *`, results plain ints.
#ifndef CTRACKSTAR_IO_SHIMS_H
#define CTRACKSTAR_IO_SHIMS_H

typedef struct ts_curl_driver ts_curl_driver;

/// Called on the loop thread when a transfer ends; `result` is the CURLcode (0 for any HTTP answer).
/// The easy handle has already been removed from the multi handle; the callee owns it again.
typedef void (*ts_curl_done)(void *context, void *easy, int result);

/// Creates a driver on `uv_loop` (a uv_loop_t *), not yet running transfers. NULL when curl cannot
/// make a multi handle or the loop cannot make a timer.
ts_curl_driver *ts_curl_driver_new(void *uv_loop, ts_curl_done done, void *context,
                                   long max_host_connections, long max_total_connections);
/// Starts a transfer on the easy handle `easy`; returns a CURLMcode (0 on success).
int ts_curl_driver_add(ts_curl_driver *driver, void *easy);
/// Aborts `easy` if it is running (its done callback is not called).
void ts_curl_driver_remove(ts_curl_driver *driver, void *easy);
/// Transfers running now.
int ts_curl_driver_running(const ts_curl_driver *driver);
/// Closes every handle the driver owns (the loop must run afterwards so libuv can finish the closes),
/// then frees the multi handle. Running transfers are dropped without callbacks.
void ts_curl_driver_close(ts_curl_driver *driver);

/// Sets the calling thread's nice value (Linux threads have their own); 0 on success, else -1 and errno.
int ts_io_set_thread_nice(int value);

#endif
