/* lt_clock.h — the two clocks: monotonic for durations and deadlines, real time for
 * timestamps that leave the process. */
#ifndef LT_CLOCK_H
#define LT_CLOCK_H

#include <stdint.h>

/* lt_now_ns: CLOCK_MONOTONIC in nanoseconds. */
uint64_t lt_now_ns(void);

/* lt_wall_ns: CLOCK_REALTIME in nanoseconds since the Unix epoch. */
uint64_t lt_wall_ns(void);

/* lt_sleep_ms sleeps at least `ms` milliseconds (restarting on signals). */
void lt_sleep_ms(uint64_t ms);

#endif
