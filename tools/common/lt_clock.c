/* lt_clock.c — monotonic and wall clocks (see lt_clock.h). */
#include "lt_clock.h"

#include <errno.h>
#include <time.h>

static uint64_t lt_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t lt_now_ns(void)
{
    return lt_clock_ns(CLOCK_MONOTONIC);
}

uint64_t lt_wall_ns(void)
{
    return lt_clock_ns(CLOCK_REALTIME);
}

void lt_sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
