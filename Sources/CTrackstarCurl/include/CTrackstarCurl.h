// libcurl's multi-socket interface driven by a libuv loop (the pattern of curl's docs/examples/
// multi-uv.c), plus typed wrappers for curl's variadic setopt/getinfo calls, which Swift cannot call.
#ifndef CTRACKSTAR_CURL_H
#define CTRACKSTAR_CURL_H

#include <curl/curl.h>

/// The libuv loop (uv_loop_t), declared here so this module does not re-export uv.h.
struct uv_loop_s;

typedef struct ts_curl_driver ts_curl_driver;

/// Called on the loop thread when a transfer ends (`result` is CURLE_OK for any HTTP answer).
/// The easy handle has already been removed from the multi handle; the callee owns it again.
typedef void (*ts_curl_done)(void *context, CURL *easy, CURLcode result);

/// Creates a driver on `loop` (not yet running transfers). NULL when curl cannot make a multi handle.
ts_curl_driver *ts_curl_driver_new(struct uv_loop_s *loop, ts_curl_done done, void *context,
                                   long max_host_connections, long max_total_connections);
/// Starts a transfer; returns a CURLMcode (0 on success).
int ts_curl_driver_add(ts_curl_driver *driver, CURL *easy);
/// Aborts `easy` if it is running (its done callback is not called).
void ts_curl_driver_remove(ts_curl_driver *driver, CURL *easy);
/// Transfers running now.
int ts_curl_driver_running(const ts_curl_driver *driver);
/// Closes every handle the driver owns (run the loop afterwards so libuv can finish the closes),
/// then frees the multi handle. Running transfers are dropped without callbacks.
void ts_curl_driver_close(ts_curl_driver *driver);

int ts_curl_setopt_long(CURL *easy, CURLoption option, long value);
int ts_curl_setopt_str(CURL *easy, CURLoption option, const char *value);
int ts_curl_setopt_ptr(CURL *easy, CURLoption option, void *value);
int ts_curl_setopt_write(CURL *easy, size_t (*callback)(char *, size_t, size_t, void *), void *userdata);
long ts_curl_response_code(CURL *easy);
/// Total time of the transfer in microseconds.
long long ts_curl_total_micros(CURL *easy);
void *ts_curl_private(CURL *easy);

/// Sets the calling thread's nice value (Linux threads have their own); 0 on success.
int ts_set_thread_nice(int value);

#endif
