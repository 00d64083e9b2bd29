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

#endif
