// Typed wrappers for curl's variadic setopt/getinfo calls, which Swift cannot call. The multi-socket
// driver on a libuv loop is TrackstarIO's (CTrackstarIOShims): only TrackstarIO touches libuv.
#ifndef CTRACKSTAR_CURL_H
#define CTRACKSTAR_CURL_H

#include <curl/curl.h>

int ts_curl_setopt_long(CURL *easy, CURLoption option, long value);
int ts_curl_setopt_str(CURL *easy, CURLoption option, const char *value);
int ts_curl_setopt_ptr(CURL *easy, CURLoption option, void *value);
int ts_curl_setopt_write(CURL *easy, size_t (*callback)(char *, size_t, size_t, void *), void *userdata);
long ts_curl_response_code(CURL *easy);
/// Total time of the transfer in microseconds.
long long ts_curl_total_micros(CURL *easy);
void *ts_curl_private(CURL *easy);

// For the blocking HTTPClient (TrackstarExport); each returns the CURLcode of the call it wraps, so
// the caller can name a failure with curl_easy_strerror.

/// curl_global_init(CURL_GLOBAL_DEFAULT), run once per process however many threads ask; its CURLcode.
int ts_curl_global_init_once(void);
/// A curl_off_t option (CURLOPT_POSTFIELDSIZE_LARGE and friends).
int ts_curl_setopt_off(CURL *easy, CURLoption option, long long value);
/// CURLOPT_WRITEFUNCTION alone (CURLOPT_WRITEDATA is set with ts_curl_setopt_ptr).
int ts_curl_setopt_write_function(CURL *easy, size_t (*callback)(char *, size_t, size_t, void *));
/// HTTP basic authentication: CURLOPT_HTTPAUTH = CURLAUTH_BASIC, CURLOPT_USERNAME, CURLOPT_PASSWORD;
/// the CURLcode of the first call that fails.
int ts_curl_setopt_basic_auth(CURL *easy, const char *user, const char *password);
/// curl_easy_getinfo for a long-valued item (CURLINFO_RESPONSE_CODE, CURLINFO_NUM_CONNECTS).
int ts_curl_getinfo_long(CURL *easy, CURLINFO info, long *value);
/// curl_easy_getinfo for a curl_off_t-valued item (CURLINFO_TOTAL_TIME_T: microseconds).
int ts_curl_getinfo_off(CURL *easy, CURLINFO info, long long *value);

#endif
