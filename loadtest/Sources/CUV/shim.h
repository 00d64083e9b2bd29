// libuv for the load generator and the floor responder, plus the few Linux calls Swift cannot
// import directly (variadic prctl) or that Glibc's module may leave out (timerfd).
#include <uv.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>

/// Sets this thread's timer slack (nanoseconds) so timerfd wake-ups are not coalesced late.
static inline int cuv_set_timer_slack(unsigned long nanoseconds) {
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0);
}
