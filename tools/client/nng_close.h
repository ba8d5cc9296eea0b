/* nng_close.h — closing an NNG socket without risking a hang.
 *
 * NNG 1.5 (Debian 12's libnng1) can deadlock in nng_close(): its reaper thread waits for a
 * task that was prepared but never started (nanomsg/nng#1543). Seen here on a sub0 socket
 * closed while a busy event stream still arrived: `lithair-admin watch` printed its events
 * and then never exited (about 1 run in 30 under the sanitizers and a write load). A
 * program that meets it has nothing left to do with the socket, so it closes it on a
 * helper thread and goes on after a bounded wait. */
#ifndef LT_NNG_CLOSE_H
#define LT_NNG_CLOSE_H

#include <nng/nng.h>
#include <stdbool.h>

/* nng_close_within closes `s` and waits at most `ms` for the close to finish. true: closed;
 * false: the close is stuck inside NNG (it goes on on a detached thread). NNG's one reaper
 * thread is then stuck too, so any later nng_close() or nng_fini() would hang as well: the
 * caller should leave the process without them. */
bool nng_close_within(nng_socket s, unsigned ms);

/* nng_close_stuck tells whether any nng_close_within() of this process timed out. */
bool nng_close_stuck(void);

#endif
