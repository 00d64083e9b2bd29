// Typed wrappers for libcurl's variadic setopt/getinfo calls, which Swift cannot call. The libuv
// side of curl's multi interface is TrackstarIO's (CTrackstarIOShims), the one module that touches uv.
#include "CTrackstarCurl.h"
#include <pthread.h>

int ts_curl_setopt_long(CURL *easy, CURLoption option, long value) { return (int)curl_easy_setopt(easy, option, value); }
int ts_curl_setopt_str(CURL *easy, CURLoption option, const char *value) { return (int)curl_easy_setopt(easy, option, value); }
int ts_curl_setopt_ptr(CURL *easy, CURLoption option, void *value) { return (int)curl_easy_setopt(easy, option, value); }
int ts_curl_setopt_write(CURL *easy, size_t (*callback)(char *, size_t, size_t, void *), void *userdata) {
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, callback);
    return (int)curl_easy_setopt(easy, CURLOPT_WRITEDATA, userdata);
}

long ts_curl_response_code(CURL *easy) {
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

long long ts_curl_total_micros(CURL *easy) {
    curl_off_t micros = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &micros);
    return (long long)micros;
}

void *ts_curl_private(CURL *easy) {
    char *pointer = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &pointer);
    return pointer;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result = CURLE_FAILED_INIT;

static void global_init(void) { global_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

int ts_curl_global_init_once(void) {
    pthread_once(&global_once, global_init);
    return (int)global_result;
}

int ts_curl_setopt_off(CURL *easy, CURLoption option, long long value) {
    return (int)curl_easy_setopt(easy, option, (curl_off_t)value);
}

int ts_curl_setopt_write_function(CURL *easy, size_t (*callback)(char *, size_t, size_t, void *)) {
    return (int)curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, callback);
}

int ts_curl_setopt_basic_auth(CURL *easy, const char *user, const char *password) {
    CURLcode code = curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    if (code == CURLE_OK) code = curl_easy_setopt(easy, CURLOPT_USERNAME, user);
    if (code == CURLE_OK) code = curl_easy_setopt(easy, CURLOPT_PASSWORD, password);
    return (int)code;
}

int ts_curl_getinfo_long(CURL *easy, CURLINFO info, long *value) {
    return (int)curl_easy_getinfo(easy, info, value);
}

int ts_curl_getinfo_off(CURL *easy, CURLINFO info, long long *value) {
    curl_off_t got = 0;
    CURLcode result = curl_easy_getinfo(easy, info, &got);
    *value = (long long)got;
    return (int)result;
}
